//! The request-path suite (`tests/request_path/`) again, with every proxy on glommio's sockets
//! (`--io glommio`) instead of the default io_uring path: the same files, compiled as a second
//! test crate whose name the harness reads (`harness::IO_PATH`), so no test can forget a path.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking, with the response in the message"
)]

#[path = "request_path/client.rs"]
mod client;
#[path = "request_path/harness.rs"]
mod harness;
#[path = "request_path/hostile.rs"]
mod hostile;
#[path = "request_path/issuer.rs"]
mod issuer;
#[path = "request_path/mcp.rs"]
mod mcp;
#[path = "request_path/recorder.rs"]
mod recorder;
#[path = "request_path/tls_peer.rs"]
mod tls_peer;
#[path = "request_path/transport.rs"]
mod transport;

#[path = "request_path/admin.rs"]
mod admin;
#[path = "request_path/audit.rs"]
mod audit;
#[path = "request_path/auth.rs"]
mod auth;
#[path = "request_path/errors.rs"]
mod errors;
#[path = "request_path/hostile_http.rs"]
mod hostile_http;
#[path = "request_path/hostile_json.rs"]
mod hostile_json;
#[path = "request_path/in_flight.rs"]
mod in_flight;
#[path = "request_path/intercept.rs"]
mod intercept;
#[path = "request_path/io_path.rs"]
mod io_path;
#[path = "request_path/legacy.rs"]
mod legacy;
#[path = "request_path/mtls_principal.rs"]
mod mtls_principal;
#[path = "request_path/policy.rs"]
mod policy;
#[path = "request_path/rate_limit.rs"]
mod rate_limit;
#[path = "request_path/recording.rs"]
mod recording;
#[path = "request_path/relay.rs"]
mod relay;
#[path = "request_path/shards.rs"]
mod shards;
#[path = "request_path/shutdown.rs"]
mod shutdown;
#[path = "request_path/stages.rs"]
mod stages;
#[path = "request_path/stdio.rs"]
mod stdio;
#[path = "request_path/streamable.rs"]
mod streamable;
#[path = "request_path/tls.rs"]
mod tls;
#[path = "request_path/tls_shards.rs"]
mod tls_shards;
#[path = "request_path/tls_sse.rs"]
mod tls_sse;
#[path = "request_path/tool_filter.rs"]
mod tool_filter;
#[path = "request_path/translation.rs"]
mod translation;
#[path = "request_path/upstream_headers.rs"]
mod upstream_headers;
#[path = "request_path/upstream_token.rs"]
mod upstream_token;
