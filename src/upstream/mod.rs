//! Upstream MCP servers: per-shard HTTP connection pools, stdio children and the MCP link
//! over a child's stdio.
//!
//! Not here: the request logic that uses them (the proxy module).

pub mod link;
pub mod pool;
pub mod stdio;
#[cfg(test)]
mod test_support;
