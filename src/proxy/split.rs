//! A blocked 2025-03-26 batch that held the client's answers to server requests (sampling,
//! elicitation, roots; `Intercepted::Split`) or notifications no `block` rule selected: those go
//! on to the upstream (which waits for the answers), through the adapter the session uses, with nothing written to the client (post.rs
//! answers it with the errors of the batch's requests).
//!
//! Not here: deciding the split (crate::pipeline::intercept), the adapters' own paths for a
//! POST (http_upstream.rs, stdio/, l2m/).
//! Cold path: only a batch a `block` rule stopped comes here.

use std::rc::Rc;

use shards::slab::Lease;

use crate::http::RequestHead;
use crate::pipeline::RequestCtx;

use super::adapter::Adapter;
use super::error::ProxyError;
use super::state::ShardState;

/// Sends `body` (the client's answers and unblocked notifications alone, as a batch, inspected into `ctx.facts`) to the
/// session's upstream.
///
/// # Errors
/// The session or its upstream gone (404), an upstream failure before it accepted them.
pub(super) async fn deliver_answers(
    state: &Rc<ShardState>,
    head: &RequestHead,
    body: Lease<'_>,
    ctx: &RequestCtx,
) -> Result<(), ProxyError> {
    let gone = || ProxyError::SessionNotFound { id: None };
    match Adapter::choose(state, ctx) {
        Adapter::LegacyToModern(http) => {
            match ctx.session.and_then(|sid| state.l2m.session(&sid)) {
                Some(translated) => {
                    super::l2m::batch::deliver_answers(&translated, &body, &ctx.facts)
                }
                None => super::http_upstream::deliver(state, http, head, body, ctx).await,
            }
        }
        Adapter::Http(http) => super::http_upstream::deliver(state, http, head, body, ctx).await,
        Adapter::Link { .. } => {
            let sid = ctx.session.ok_or_else(gone)?;
            let bound = state
                .sessions
                .borrow_mut()
                .get_mut(&sid, std::time::Instant::now())
                .and_then(|entry| entry.link.clone())
                .ok_or_else(gone)?;
            if !bound.link.is_alive() {
                // As a POST on it finds it: the child is gone, so is the session.
                return Err(super::stdio::post::session_lost(state, &sid, None));
            }
            super::stdio::batch::deliver_answers(state, &body, &bound)
        }
        // A 2026-07-28 request is never a batch.
        Adapter::ModernToLegacy(_) => Ok(()),
    }?;
    state
        .metrics
        .request(ctx.facts.method, ctx.started.elapsed());
    Ok(())
}
