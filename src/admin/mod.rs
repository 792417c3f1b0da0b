//! The admin listener: `/metrics` (Prometheus text, merged across shards), `/health`,
//! `/ready`. Control plane only: it reads snapshots and never touches request state.
//!
//! Not here: recording metrics (the proxy's `metrics.rs`), the scrape reply mailbox (the proxy's
//! `state/mod.rs`) or merging (shards::metrics).

pub mod intercept;
pub mod prometheus;
pub mod scrape;
pub mod server;

pub use scrape::{answer_query, collect_reply};
pub use server::accept_loop;
