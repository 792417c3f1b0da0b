//! Tapes: what a recording of one client session holds (docs/tapes.md is the contract).
//!
//! Here: the format's types ([`format`]), shared by the recorder (the proxy's `record` stage)
//! and the readers (`shadowcat tape …`, `shadowcat replay`).
//! Not here: writing tapes (the proxy's recorder) and the commands that read them.

pub mod format;

pub use format::{Direction, Header, HttpFacts, Line, Status, TAPE_VERSION};
