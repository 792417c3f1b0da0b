//! shadowcat: a thread-per-core proxy for the Model Context Protocol.
//!
//! Not here: the runtime itself (crate `shards`).

pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod mcp;
pub mod proxy;
pub mod session;
pub mod upstream;
