//! Upstream MCP servers: opening a connection to an HTTP upstream (`connect.rs`: TCP, then
//! TLS for `https://`), per-shard HTTP connection pools, the links a shard keeps per linked
//! upstream (`children.rs`: stdio children, legacy SSE sessions), the MCP link over a child's
//! stdio or an SSE session, and what each `era = "auto"` upstream was found to speak
//! (`era_verdicts.rs`), the OAuth tokens sent to upstreams with `oauth` (`credentials/`), and
//! the HTTP exchange with authorization servers (`fetch.rs`) and the loop of background
//! refreshes (`refresh.rs`).
//!
//! Not here: the request logic that uses them (the proxy module).

pub mod children;
pub mod connect;
pub mod credentials;
pub mod era_verdicts;
pub(crate) mod fetch;
pub mod link;
pub mod pool;
pub(crate) mod refresh;
pub mod runtime;
pub mod stdio;
#[cfg(test)]
pub(crate) mod test_support;
