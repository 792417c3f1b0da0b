//! shadowcat: a thread-per-core proxy for the Model Context Protocol.
//!
//! A request's path: `proxy::server` accepts and reads the head, hands the connection to the
//! shard owning its session (ring lookup), `proxy::post`/`bodyless` validate, inspect
//! (`mcp`), map the session (`session`) and forward the original bytes over a pooled
//! connection (`upstream`), and `proxy::relay` streams the answer back. `app` starts the
//! shards (crate `shards`), `admin` serves metrics, `demo` is the built-in MCP server, `forward`
//! relays a stdio client, `tape` reads recorded sessions, `replay` re-sends one to a live
//! server, `cli` turns the command line into what `main` runs.
//!
//! Layers, each importing only those below it: `http`, `mcp`, `config`, `tape`; `session`,
//! `upstream`; `pipeline`; `proxy`; `admin`, `demo`, `forward`, `replay`; `cli`, `app` (see
//! docs/architecture.md).
//!
//! Not here: the runtime itself (crate `shards`).

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod forward;
pub mod http;
pub mod mcp;
pub mod pipeline;
pub mod proxy;
pub mod record;
pub mod replay;
pub mod session;
pub mod tape;
pub mod tls;
pub mod upstream;
