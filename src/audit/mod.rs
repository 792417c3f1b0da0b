//! The audit log: one JSON line per request decision (who, which session, method, tool, a
//! SHA-256 of the arguments, allowed / denied by which rule / rate-limited, status, latency),
//! gathered per request while it runs and written by each shard in batches off the request
//! path, with rotation by size.
//!
//! - [`Record`]: what one request's line says, filled in by the stages as they learn it.
//! - [`scope`]: the record of the request being polled, so deep code (the policy stage, the
//!   status counter) can note a fact without every signature carrying the record.
//! - [`line`]: a record as one JSON line; [`arguments`]: the canonical arguments and hash.
//! - [`AuditLog`]: one shard's pending lines and its writes; [`file`]: the file, its lock and
//!   its rotation (blocking, run on the executor's blocking threads).
//!
//! Not here: when a request starts and ends (the proxy's connection loop), the metrics.

pub mod arguments;
pub mod file;
pub mod line;
mod log;
mod record;
pub mod scope;

pub use log::{AuditLog, Flushed};
pub use record::{session_hash, Outcome, Record, RuleRef};
