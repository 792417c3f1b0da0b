//! What every client POST path shares before its message goes upstream, whatever the transport
//! (Streamable HTTP, legacy HTTP+SSE messages) or upstream: reading the body within the head
//! timeout, the request side of the route's stages, minting a session.
//!
//! Not here: the paths themselves (post.rs, legacy/, stdio/, l2m/, modern_client/), which call
//! these; the stages (crate::pipeline).

use std::time::Instant;

use shards::io::NetStream;

use crate::http::{HttpConn, RequestHead};
use crate::pipeline::{Facts, RouteStages, Verdict};
use crate::session::SessionId;

use super::error::ProxyError;
use super::metrics::Counter;
use super::state::{SessionEntry, ShardState};
use shards::timeout::within;

/// The request side of the route's stages: `Ok(true)` to send the message on, `Ok(false)` when
/// a stage dropped it (a notification: the caller answers as for any notification), and a
/// refused request answered by the proxy as the error.
///
/// # Errors
/// The refusal as a [`ProxyError`] carrying the request's id.
pub(in crate::proxy) fn admit_by_stages(
    state: &ShardState,
    stages: &RouteStages,
    facts: &Facts,
) -> Result<bool, ProxyError> {
    if stages.is_empty() {
        return Ok(true);
    }
    match stages.request(facts) {
        Verdict::Continue => Ok(true),
        Verdict::Drop => {
            state.metrics.incr(Counter::ToolsDenied);
            crate::audit::scope::note(|record| {
                record.outcome = Some(crate::audit::Outcome::Denied)
            });
            Ok(false)
        }
        Verdict::Refuse(refusal) => {
            state.metrics.incr(Counter::ToolsDenied);
            Err(ProxyError::refused(refusal, facts.id().cloned()))
        }
    }
}

/// Reads a POST body into `out`: answers `Expect: 100-continue` first (RFC 9110 §10.1.1: the
/// client waits for it), and bounds the read by the head timeout, so a client that declares a
/// body and stalls cannot hold a connection (and the shutdown drain) forever.
///
/// # Errors
/// Framing errors (400/413/...), `HeadTimeout`, client I/O.
pub(in crate::proxy) async fn read_request_body(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    out: &mut Vec<u8>,
) -> Result<(), ProxyError> {
    let framing = head.framing()?;
    if head.expects_continue() {
        client
            .write_all(crate::http::CONTINUE)
            .await
            .map_err(ProxyError::Http)?;
    }
    within(
        state.config.timeouts.head,
        client.read_body(framing, state.config.limits.max_body_bytes, out),
    )
    .await
    .ok_or(ProxyError::HeadTimeout)??;
    Ok(())
}

/// Reads (bounded, like [`read_request_body`]) and drops the body of a GET or DELETE: it means
/// nothing, but the next request on the connection must start where it should.
///
/// # Errors
/// Framing errors, `HeadTimeout`, client I/O.
pub(in crate::proxy) async fn drain_request_body(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<(), ProxyError> {
    let framing = head.framing()?;
    if framing == crate::http::Framing::Empty {
        return Ok(());
    }
    let mut ignored = state.bufs.lease(1024);
    within(
        state.config.timeouts.head,
        client.read_body(framing, state.config.limits.max_body_bytes, &mut ignored),
    )
    .await
    .ok_or(ProxyError::HeadTimeout)??;
    Ok(())
}

/// Mints an id hashing to this shard and stores `entry` under it.
pub(in crate::proxy) fn new_session(
    state: &ShardState,
    entry: SessionEntry,
) -> Result<SessionId, ProxyError> {
    let id = crate::session::mint(&state.ring, state.id(), state.ctx.shard_count)
        .map_err(|_| ProxyError::Internal("could not mint a session id"))?;
    state
        .sessions
        .borrow_mut()
        .insert(id, entry, Instant::now());
    state.metrics.incr(Counter::SessionsCreated);
    crate::audit::scope::note(|record| record.set_session(id.as_str()));
    crate::record::scope::bind_session(&id);
    Ok(id)
}
