//! Ends a session upstream (DELETE with the upstream's session id) when it expires here or
//! the proxy shuts down. Best effort: a failure is logged, never retried.
//!
//! Not here: client-initiated DELETE (bodyless.rs relays the upstream's answer).

use std::rc::Rc;

use crate::session::SessionEntry;

use super::exchange::{exchange, finish};
use super::state::ShardState;

/// Sends `DELETE` for the entry's upstream session, if it has one.
pub async fn delete_upstream_session(state: &Rc<ShardState>, entry: &SessionEntry) {
    let Some(upstream_session) = entry.upstream_session.as_deref() else {
        return;
    };
    let upstream = usize::from(entry.upstream);
    let Some(up) = state.config.upstreams.get(upstream) else {
        return;
    };
    let mut request = state.bufs.lease(512);
    crate::http::write_request_head(
        &mut request,
        "DELETE",
        up.url.path.as_bytes(),
        [
            ("Host", up.url.authority.as_bytes()),
            ("Mcp-Session-Id", upstream_session.as_bytes()),
        ],
        crate::http::Framing::Length(0),
    );
    match exchange(state, upstream, &request, None, false).await {
        Ok(ex) => {
            tracing::info!(status = ex.head.status(), "upstream session ended");
            // Drain nothing: a DELETE answer is small; don't reuse the socket to stay simple.
            finish(state, ex, false);
        }
        Err(e) => tracing::warn!(error = %e, "upstream session DELETE failed"),
    }
}
