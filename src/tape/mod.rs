//! Tapes: what a recording of one client session holds (docs/tapes.md is the contract).
//!
//! Here: the format's types ([`format`]), shared by the recorder (the proxy's `record` stage)
//! and the readers (`shadowcat tape …`, `shadowcat replay`); reading a tape whole ([`read`]) or
//! line by line into a summary ([`scan`]), mending a crash's last line ([`repair`]), what its
//! lines mean ([`pairs`], [`summary`], [`stats`]), showing and exporting it
//! ([`timeline`], [`export`]), tapes in folders ([`files`]) and the replay script ([`script`]).
//! Not here: writing tapes (the proxy's recorder), command-line glue (`cli`), serving a replay.

pub mod export;
pub mod files;
pub mod format;
pub mod pairs;
pub mod read;
pub mod repair;
pub mod scan;
pub mod script;
pub mod stats;
pub mod summary;
pub mod timeline;

#[cfg(test)]
pub(crate) mod fixture;

pub use format::{Direction, Header, HttpFacts, Line, Status, TAPE_VERSION};
pub use read::{Entry, Problem, Tape, TapeError};
