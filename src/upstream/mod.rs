//! Upstream MCP servers: per-shard HTTP connection pools.
//!
//! Not here: the request logic that uses them (crate::proxy).

pub mod pool;
pub mod stdio;
