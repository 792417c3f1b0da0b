//! The MCP reverse proxy on one shard: connections, routing to the owning shard, the POST /
//! GET / DELETE request paths, the legacy HTTP+SSE endpoints, upstream exchanges and response
//! relay, ending sessions, errors.
//!
//! Not here: the runtime (crate `shards`), codecs (crate::http, crate::mcp), starting and
//! stopping a shard and what else it serves (the app, admin and demo modules, which sit above
//! this one and import it, never the reverse).

pub mod accept;
mod adapter;
mod admit;
pub mod audit;
mod authenticate;
pub mod bodyless;
pub mod boot;
#[cfg(debug_assertions)]
mod debug_panic;
pub mod error;
pub mod exchange;
pub mod guard;
pub mod handoff;
pub mod headers;
mod hop_forward;
mod http_upstream;
pub mod intercept;
pub mod l2m;
pub mod legacy;
pub mod memory;
pub mod metrics;
pub mod modern_client;
mod peer;
mod periodic;
pub mod post;
pub mod rates;
pub mod record;
pub mod relay;
mod relay_plan;
mod relay_rewrite;
pub mod respond;
pub mod server;
pub mod shutdown;
mod split;
pub mod state;
pub mod stdio;
pub mod teardown;
mod tunnel;
mod well_known;
