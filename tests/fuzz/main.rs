//! Property-based fuzzing of every parser that reads bytes from the network or the operator:
//! HTTP heads (head.rs), chunked and `Content-Length` bodies (body.rs, conn.rs), SSE (sse.rs),
//! the JSON-RPC inspector (inspect.rs, with its generators in json_gen.rs), session ids and the
//! legacy `/messages?sessionId=` query (session.rs), and the TOML config loader (config.rs).
//!
//! Why a `tests/` crate: every parser is public, so the suite needs no visibility hacks and sees
//! exactly what the proxy calls. Why proptest: it runs on stable Rust, shrinks a failing input to
//! a small one, and is maintained. Each property states more than "does not panic" where the
//! parser has an invariant to keep (split invariance, re-serialisation, agreement with serde_json).
//!
//! Case counts: each property has a small default so `cargo test` stays fast; `PROPTEST_CASES`
//! overrides them all (scripts/fuzz.sh runs a million per property in release mode). Every
//! property prints one `fuzz-property` line with its case count and time (see common.rs).
//!
//! Not here: the hostile-input suite against the running proxy (raw sockets).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a property fails by panicking, with the shrunk input in the message"
)]

mod common;

mod body;
mod config;
mod head;
mod inspect;
mod json_gen;
mod session;
mod sse;
