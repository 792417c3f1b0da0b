//! The admin listener: `/metrics` (Prometheus text, merged across shards), `/health`,
//! `/ready`. Control plane only: it reads snapshots and never touches request state.
//!
//! Not here: recording metrics (crate::proxy::metrics) or merging (shards::metrics).

pub mod prometheus;
pub mod scrape;
pub mod server;

pub use scrape::{answer_query, collect_reply, ScrapeInbox};
pub use server::accept_loop;
