//! Ends a session upstream (DELETE with the upstream's session id) when it expires here or
//! the proxy shuts down. Best effort: a failure is logged, never retried.
//!
//! Not here: client-initiated DELETE (bodyless.rs relays the upstream's answer).

use std::rc::Rc;

use crate::http::Head;
use crate::session::SessionEntry;

use super::exchange::{exchange, finish};
use super::state::ShardState;
use shards::timeout::within;

/// Most bytes of a DELETE answer read before the socket is given up instead of reused.
const TEARDOWN_BODY_MAX: usize = 64 * 1024;
/// How long a DELETE answer's body may take.
const TEARDOWN_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends `DELETE` for the entry's upstream session, if it has one.
pub async fn delete_upstream_session(state: &Rc<ShardState>, entry: &SessionEntry) {
    let Some(upstream_session) = entry.upstream_session.as_deref() else {
        return;
    };
    let upstream = usize::from(entry.upstream);
    let Some(url) = state
        .config
        .upstreams
        .get(upstream)
        .and_then(|up| up.http())
    else {
        return;
    };
    let mut request = state.bufs.lease(512);
    crate::http::write_request_head(
        &mut request,
        "DELETE",
        url.path.as_bytes(),
        [
            ("Host", url.authority.as_bytes()),
            ("Mcp-Session-Id", upstream_session.as_bytes()),
        ],
        crate::http::Framing::Length(0),
    );
    match exchange(state, upstream, &request, None, false).await {
        Ok(mut ex) => {
            tracing::info!(status = ex.head.status(), "upstream session ended");
            // Read the (small, bounded) answer so the socket can serve the next request.
            let mut sink = state.bufs.lease(1024);
            let read = within(
                TEARDOWN_BODY_TIMEOUT,
                ex.conn
                    .read_response_body(ex.framing, TEARDOWN_BODY_MAX, &mut sink),
            )
            .await;
            let reusable = matches!(read, Some(Ok(())))
                && ex.framing != crate::http::Framing::UntilClose
                && ex.head.keep_alive();
            drop(sink);
            finish(state, ex, reusable);
        }
        Err(e) => tracing::warn!(error = %e, "upstream session DELETE failed"),
    }
}
