//! The `authenticate` stage at its place in every list (after `route`): the route's
//! authenticator names the request's principal, or the request ends with 401/403 and the
//! challenge that tells the client where to get a token. Routes without `auth` pass with the
//! connection's client certificate (mTLS, peer.rs) or else the anonymous principal, at the
//! cost of one `Option` test.
//!
//! Right after it, for an upstream with `oauth.token_exchange`, the caller's access token is
//! exchanged for the upstream's ([`exchange`]; once per token and shard, then cached), so every
//! writer of the request finds it; other routes pay one `Option` test.
//!
//! Not here: checking credentials (crate::auth), the answer's bytes (respond.rs), fetching
//! tokens (`upstream::credentials`).

use crate::config::{RouteId, UpstreamId};
use crate::http::RequestHead;
use std::rc::Rc;

use crate::pipeline::Caller;

use super::error::{AuthRefusal, ProxyError};
use super::state::ShardState;

/// Who sent `head` on `route`: on a route without `auth`, `peer` (the connection's client
/// certificate; `None`: the anonymous principal).
///
/// # Errors
/// [`ProxyError::Auth`] with the refusal and its challenge.
pub(super) async fn authenticate(
    state: &ShardState,
    route: RouteId,
    head: &RequestHead,
    peer: Option<&Rc<Caller>>,
) -> Result<Option<Rc<Caller>>, ProxyError> {
    let Some(auth) = state.auth(route) else {
        return Ok(peer.cloned());
    };
    auth.authenticate(head).await.map(Some).map_err(|error| {
        ProxyError::Auth(Box::new(AuthRefusal {
            challenge: auth.challenge(&error),
            error,
        }))
    })
}

/// Makes sure `caller` has a token for `upstream` when the upstream exchanges callers' tokens
/// (RFC 8693): exchanged now, or found in the shard's cache.
///
/// # Errors
/// [`ProxyError::UpstreamToken`]: the exchange was refused (403) or the authorization server
/// cannot be reached (503).
pub(super) async fn exchange(
    state: &ShardState,
    upstream: UpstreamId,
    caller: Option<&Caller>,
) -> Result<(), ProxyError> {
    let (Some(credentials), Some(caller)) = (state.credentials(upstream), caller) else {
        return Ok(());
    };
    if !credentials.exchanges() {
        return Ok(());
    }
    let token = caller.token.as_ref().map(|t| &*t.0);
    // Boxed: the rare exchange must not size every request's future (issue 13).
    Box::pin(credentials.exchange(caller.principal.as_str(), token))
        .await
        .map_err(|why| ProxyError::no_token(why, None))
}
