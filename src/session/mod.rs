//! Client sessions: ids minted per shard, the per-shard table mapping them to upstream
//! sessions, and their lifecycle (TTL reaping, upstream DELETE).
//!
//! Not here: HTTP or the request path (the proxy module drives these types).

pub mod entry;
pub mod id;

pub use entry::{SessionEntry, SessionTable};
pub use id::{mint, MintError, SessionId};
