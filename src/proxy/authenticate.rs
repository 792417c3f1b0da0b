//! The `authenticate` stage at its place in every list (after `route`): the route's
//! authenticator names the request's principal, or the request ends with 401/403 and the
//! challenge that tells the client where to get a token. Routes without `auth` pass with the
//! connection's client certificate (mTLS, peer.rs) or else the anonymous principal, at the
//! cost of one `Option` test.
//!
//! Not here: checking credentials (crate::auth), the answer's bytes (respond.rs).

use crate::config::RouteId;
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
