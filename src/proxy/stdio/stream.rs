//! GET and DELETE on a session served by a stdio child: the GET stream carries the session's
//! inbox (messages no call explains: list changes, server requests outside calls) until the
//! client hangs up, the child ends or the proxy shuts down; DELETE ends the session and, in
//! per-session mode, stops its child.
//!
//! Each message of the GET stream passes the interception rules' response side (by its own
//! method, under the set in force when it arrives).
//!
//! Not here: POST (post.rs), HTTP upstreams (proxy/bodyless.rs).

use std::rc::Rc;
use std::time::Instant;

use shards::io::NetStream;

use crate::http::{HttpConn, RequestHead};
use crate::session::SessionId;
use crate::upstream::link::LinkSession;

use super::super::error::ProxyError;
use super::super::intercept::{Scope, StreamAnswers};
use super::super::metrics::Counter;
use super::super::state::ShardState;
use super::answer::{next_or_end, write_empty, ClientShape, SseOut, StreamWake};

/// Handles GET (`is_get`) or DELETE for a stdio-backed session (`scope`: its route, owner and
/// id, for the interception rules of its GET stream).
///
/// # Errors
/// 404 when the child is gone, 409 when a GET stream is already open, client write failures.
pub async fn get_or_delete(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    (sid, scope): (SessionId, Scope<'_>),
    bound: Rc<LinkSession>,
    is_get: bool,
) -> Result<bool, ProxyError> {
    let shape = ClientShape {
        ..ClientShape::of(head)
    };
    if !is_get {
        state.sessions.borrow_mut().remove(&sid);
        bound.link.end_session(bound.key);
        state.metrics.incr(Counter::SessionsDeleted);
        return write_empty(state, client, 200, shape).await;
    }
    if !bound.link.is_alive() {
        state.sessions.borrow_mut().remove(&sid);
        state.metrics.incr(Counter::SessionsLost);
        return Err(ProxyError::SessionNotFound { id: None });
    }
    let inbox = bound
        .link
        .take_inbox(bound.key)
        .ok_or(ProxyError::StreamConflict)?;
    let _open = state.open_streams.open(sid);
    let mut out = SseOut::new(shape);
    // The interception rules' response side: each message by its own method, under the set in
    // force when it arrives.
    let live = StreamAnswers::open(state, scope);
    let streamed = async {
        out.start(state, client).await?;
        loop {
            let wake = next_or_end(state, client, inbox.recv()).await;
            match wake {
                StreamWake::Message(Some(message)) => {
                    out.event_live(state, client, &message, Some(&live)).await?;
                    state.metrics.incr(Counter::SseEvents);
                    touch(state, &sid);
                }
                StreamWake::Message(None) | StreamWake::Shutdown => {
                    return out.finish(state, client).await
                }
                StreamWake::ClientGone => return Ok(false),
            }
        }
    }
    .await;
    bound.link.return_inbox(bound.key, inbox);
    streamed
}

/// Marks the session used (an active stream keeps it from expiring).
fn touch(state: &ShardState, sid: &SessionId) {
    let _ = state.sessions.borrow_mut().get_mut(sid, Instant::now());
}
