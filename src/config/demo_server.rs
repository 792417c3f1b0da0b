//! The typed configurations of the standalone demo server: `demo-server` over HTTP
//! ([`DemoServerConfig`]) and `demo-server --stdio` ([`DemoStdioConfig`]).
//!
//! Not here: the flags that fill them (the cli module), the in-process demo of `shadowcat demo`
//! (`DemoConfig` in `model.rs`), or running the server (the demo module).

use std::net::SocketAddr;

use super::model::{LimitsConfig, LogConfig, RuntimeConfig, TimeoutsConfig};

/// Everything `demo-server --stdio` needs: it has no listener and runs no shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoStdioConfig {
    /// Logging (`--log-level`); logs go to stderr, stdout carries only protocol lines.
    pub log: LogConfig,
}

/// Everything `demo-server` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoServerConfig {
    /// Where to serve Streamable HTTP (`--http`).
    pub bind: SocketAddr,
    /// Answer POSTs with `text/event-stream` instead of `application/json` (`--sse`).
    pub sse: bool,
    /// MCP endpoint path (`--path`).
    pub path: String,
    /// Shards and their memory (`--shards`/`--cores`, `--io-memory`).
    pub runtime: RuntimeConfig,
    /// Request size limits (defaults; the demo server uses the proxy's HTTP stack).
    pub limits: LimitsConfig,
    /// Connection timeouts (defaults).
    pub timeouts: TimeoutsConfig,
    /// Logging (`--log-level`).
    pub log: LogConfig,
}
