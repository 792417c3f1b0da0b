//! Client sessions, every kind: ids minted per shard, who owns them (principal.rs), the
//! per-shard table mapping them to upstream sessions (entry.rs), which of them have a GET stream open (streams.rs), a legacy
//! HTTP+SSE session's queue to its stream (legacy.rs), a translated session's client state
//! (l2m.rs).
//!
//! Layering: this module sits below `upstream` and the pipeline and imports neither; where a
//! session holds an upstream handle or the route's stages, the type is generic over it and the
//! proxy names the concrete type (`proxy::state`). The pooled upstream sessions that serve
//! 2026-07-28 clients (`proxy::state::{modern, modern_pool}`) stay above: they are upstream
//! sessions shared between clients, hold upstream exchanges and links, and are keyed by
//! `Principal`.
//!
//! Not here: HTTP or the request path (the proxy module drives these types), TTL reaping and
//! upstream DELETE (the proxy's reaper and teardown).

pub mod entry;
pub mod id;
pub mod l2m;
pub mod legacy;
mod principal;
pub mod streams;

pub use entry::{SessionEntry, SessionTable};
pub use id::{mint, MintError, SessionId};
pub use principal::{Presented, Principal};
pub use streams::{OpenStream, OpenStreams};
