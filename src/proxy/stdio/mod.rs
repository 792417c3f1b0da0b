//! The proxy's side of linked upstreams (stdio children, legacy SSE sessions): which link serves a
//! session (children.rs), POSTs as calls on it (post.rs), 2025-03-26 batches split into calls
//! (batch.rs), answers as JSON or SSE (answer.rs), GET/DELETE (stream.rs).
//!
//! Not here: the child as an MCP peer (`upstream::link`), process mechanics
//! (`upstream::stdio`), HTTP upstreams (the rest of `proxy`).

pub mod answer;
pub mod batch;
pub mod post;
pub mod stream;

pub(in crate::proxy) use post::post;
pub use stream::get_or_delete;
