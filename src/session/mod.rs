//! Client sessions: ids minted per shard, the per-shard table mapping them to upstream
//! sessions, which of them have a GET stream open (streams.rs), and their lifecycle (TTL
//! reaping, upstream DELETE).
//!
//! Not here: HTTP or the request path (the proxy module drives these types).

pub mod entry;
pub mod id;
pub mod streams;

pub use entry::{SessionEntry, SessionTable};
pub use id::{mint, MintError, SessionId};
pub use streams::{OpenStream, OpenStreams};
