//! Session recording: every message of every recorded client session, both directions, as
//! tapes (docs/tapes.md; the format's types are in crate::tape).
//!
//! - [`Recorder`] (recorder.rs): one shard's open tapes and the lines they gathered; the
//!   request path only appends to a buffer.
//! - [`scope`]: the current request's tape, so the transports note messages where they see
//!   them (`scope::c2s`, `scope::s2c`, `scope::changed` for what an interception rule changed).
//! - [`line`], [`header`], [`redact`]: a message line, the header and the file name, the
//!   `redact` pointers.
//! - [`Writer`] (writer.rs): the shard's tape files through glommio's io_uring file API, in
//!   batches, with rotation; [`retention`]: `keep` and `max_age`.
//!
//! Not here: where the proxy calls in and its writer task with the metrics (the proxy's
//! record.rs), the readers (`shadowcat tape`, `replay`).

pub mod header;
pub mod line;
mod recorder;
pub mod redact;
pub mod retention;
pub mod scope;
pub mod writer;

pub use header::TapeInfo;
pub use line::{Forwarded, Http};
pub use recorder::{Counts, Recorder, TapeId, MAX_PENDING, WAKE_BYTES};
pub use writer::{Flushed, Writer};

#[cfg(test)]
mod tests;
