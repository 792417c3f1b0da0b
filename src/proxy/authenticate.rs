//! The `authenticate` stage at its place in every list (after `route`): the route's
//! authenticator names the request's principal, or the request ends with 401/403 and the
//! challenge that tells the client where to get a token. Routes without `auth` pass with the
//! connection's client certificate (mTLS, peer.rs) or else the anonymous principal, at the
//! cost of one `Option` test.
//!
//! The caller's access token is not exchanged at authentication (`oauth.token_exchange`): the
//! request writers call [`upstream_token`] just before writing a request upstream, after the
//! policy, the rate limit and `max_in_flight`, so a request answered by the proxy never
//! depends on the authorization server.
//!
//! Not here: checking credentials (crate::auth), the answer's bytes (respond.rs), fetching
//! tokens (`upstream::credentials`).

use crate::config::{RouteId, UpstreamId};
use crate::http::RequestHead;
use crate::mcp::JsonRpcId;
use crate::session::Principal;
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

/// Makes sure a request of `principal` (message `id`) about to go to `upstream` has its token:
/// for an upstream with `oauth.token_exchange`, the one exchanged for the access token the
/// request presented (cached per caller token and shard, or exchanged now).
///
/// # Errors
/// [`ProxyError::UpstreamToken`]: the exchange was refused or the caller has no access token
/// (403), or the authorization server cannot be reached (503).
pub(super) async fn upstream_token(
    state: &ShardState,
    upstream: UpstreamId,
    principal: &Principal,
    id: Option<&JsonRpcId>,
) -> Result<(), ProxyError> {
    state
        .exchange_for(upstream, principal)
        .await
        .map_err(|why| ProxyError::no_token(why, id.cloned()))
}
