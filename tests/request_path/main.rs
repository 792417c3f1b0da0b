//! The request path in Rust: each test starts the proxy in-process (`shadowcat::app::start`,
//! the code `shadowcat run` runs) in front of the demo MCP server, over HTTP or as
//! `demo-server --stdio` children, and drives it with raw HTTP/1.1 from the test thread.
//!
//! Why a `tests/` crate and not a `#[cfg(test)]` module: it sees only the public API, so it
//! starts the proxy exactly as the binary does; it gets the built binary for stdio children
//! (`CARGO_BIN_EXE_shadowcat`); and one test target keeps the many request-path tests in one
//! binary, apart from the unit tests of each module.
//!
//! Covered: accept, head, guard checks, the stage lists per method (stages.rs), POST (JSON and SSE relay), GET streams, DELETE,
//! keep-alive, handoff between two shards, legacy HTTP+SSE clients, stdio upstreams, and the
//! translation of 2026-07-28 clients onto legacy upstreams, and hostile input on raw sockets
//! (hostile*.rs: broken framing, slow clients, bad JSON, random corruption), and what a
//! recording upstream receives (upstream_headers.rs). Not here: Python/Node SDK interop
//! (tests/interop), which stays the reference for real clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking, with the response in the message"
)]

mod client;
mod harness;
mod hostile;
mod issuer;
mod mcp;
mod recorder;
mod tls_peer;
mod transport;

mod admin;
mod audit;
mod auth;
mod errors;
mod hostile_http;
mod hostile_json;
mod in_flight;
mod intercept;
mod io_path;
mod legacy;
mod mtls_principal;
mod policy;
mod rate_limit;
mod recording;
mod relay;
mod shards;
mod shutdown;
mod stages;
mod stdio;
mod streamable;
mod tls;
mod tls_shards;
mod tls_sse;
mod tool_filter;
mod translation;
mod upstream_headers;
mod upstream_token;
