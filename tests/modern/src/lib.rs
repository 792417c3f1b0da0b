//! 2026-07-28 MCP test peers built on the official Rust SDK (rmcp): `modern_server` (an upstream
//! serving legacy sessions and 2026-07-28 requests on one endpoint) and `modern_client` (a
//! 2026-07-28 client), both on 127.0.0.1 only, driven by `tests/interop/test_modern.py`.
//!
//! A separate workspace member so the proxy's own build never compiles tokio, hyper, axum or
//! reqwest. Not published; nothing here is part of shadowcat.
