//! `GET /.well-known/oauth-protected-resource[/<route path>]`: the Protected Resource
//! Metadata (RFC 9728) of this listener's routes that take OAuth tokens, open to anyone (it is
//! how a client without a token learns where to get one). The bare path answers for the
//! listener's first such route, as clients try it after the path-suffixed form.
//!
//! Not here: the document (crate::auth::Authenticator::metadata), routing of MCP paths.

use shards::io::NetStream;

use crate::config::{ListenerId, WELL_KNOWN};
use crate::http::{Head, HttpConn, Method, RequestHead};

use super::error::ProxyError;
use super::headers::local_response;
use super::state::ShardState;
use super::stdio::answer::CLIENT_WRITE_TIMEOUT;

/// Serves the metadata when `head` asks for it on a listener that has some; `None` passes the
/// request on (to routing, which will 404 a path it does not know).
pub(super) async fn serve(
    state: &ShardState,
    listener: ListenerId,
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Option<Result<bool, ProxyError>> {
    let path = head.path().strip_prefix(WELL_KNOWN.as_bytes())?;
    let document = document(state, listener, path)?;
    if !matches!(head.method(), Method::Get | Method::Head) {
        return Some(Err(ProxyError::LegacyMethodNotAllowed {
            allow: &[("Allow", "GET, HEAD")],
        }));
    }
    let mut out = Vec::with_capacity(256 + document.len());
    let keep_alive = head.keep_alive();
    local_response(
        &mut out,
        200,
        Some("application/json"),
        &[
            ("Cache-Control", "max-age=3600"),
            // Public by design; browser-based clients read it across origins.
            ("Access-Control-Allow-Origin", "*"),
        ],
        &document,
        keep_alive,
    );
    if head.method() == Method::Head {
        // The GET's head, Content-Length included, without the body.
        out.truncate(out.len().saturating_sub(document.len()));
    }
    state.metrics.status(200);
    let written = super::relay_plan::write_within(conn, &out, CLIENT_WRITE_TIMEOUT).await;
    Some(Ok(written && keep_alive))
}

/// The document for the resource path after the well-known prefix (`""`: the listener's
/// first OAuth route).
fn document(state: &ShardState, listener: ListenerId, suffix: &[u8]) -> Option<Vec<u8>> {
    state.config.route_ids(listener).find_map(|(id, route)| {
        let matches = suffix.is_empty() || suffix == route.path.as_bytes();
        let auth = state.auth(id)?;
        matches.then(|| auth.metadata()).flatten()
    })
}
