//! Era translation for a legacy client (2024-11-05 … 2025-11-25: `initialize` and
//! `Mcp-Session-Id`) served by a 2026-07-28 stateless upstream (MCP-NOTES §9, §11.9): the proxy
//! keeps the session, answers `initialize` from `server/discover`, adds the 2026 `_meta` fields
//! and mirrored headers to each request, turns `input_required` (MRTR) into server→client
//! requests, maps the GET stream onto `subscriptions/listen`, and answers `ping`,
//! `logging/setLevel`, subscriptions, notifications and DELETE itself.
//!
//! Files: detect.rs (translate or pass through; `era = "auto"` probe), discover.rs (the
//! discover result), post.rs (a POST on a
//! translated session), local.rs (what such a session answers itself), call.rs (one request upstream with its MRTR rounds), sink.rs (where its
//! messages go), batch.rs (a 2025-03-26 batch split into single messages, one reply array),
//! mrtr.rs (the round state machine), stream.rs (GET/DELETE, the listen mapping), upstream.rs
//! (send, read messages), wire.rs (bytes and headers), params.rs (`x-mcp-header` annotations →
//! `Mcp-Param-*` headers), tools.rs (those annotations per upstream, fetched with `tools/list`
//! when missing; what is known of them in tool_cache.rs), listing.rs (one such fetch at a time per upstream).
//!
//! The per-shard state it keeps is data: each translated session's in `session::l2m`, the
//! shard's map of them, discover results and tool caches in `proxy::state::l2m`; its
//! behaviour is here.
//!
//! Both legacy client transports use it: Streamable HTTP sessions here (answers on the POST,
//! the GET stream), HTTP+SSE sessions through proxy::legacy::modern (every message on
//! the session's stream), which reuses [`post::Hello`], [`post::open`], [`post::route`],
//! [`call::serve`] and [`stream::listen`] with its own sinks (sink.rs is the seam).
//!
//! Not here: the opposite direction (a modern client, a legacy upstream), pass-through
//! sessions (the proxy's post.rs, bodyless.rs).

pub mod batch;
pub mod call;
mod call_end;
pub mod detect;
pub mod discover;
pub mod listing;
pub mod local;
pub mod mrtr;
pub mod params;
pub mod post;
pub mod sink;
pub mod stream;
pub mod tool_cache;
pub mod tools;
pub mod upstream;
pub mod wire;

pub(in crate::proxy) use post::{intercept, may_intercept};
pub use stream::get_or_delete;
