//! A legacy session's exchanges with a stdio upstream, through the `upstream::link` Call API:
//! `initialize` binds the session to a child (per-session mode) or answers from the shared
//! child's cached handshake (shared mode); requests become calls whose deliveries (progress,
//! server→client requests, the response) go on the session's stream; notifications and
//! responses are written to the child. Once initialized, the session's inbox (messages no call
//! explains) is piped to the stream too.
//!
//! Not here: validation and the 202 (post.rs), which child serves (upstream::children).
//! The write to the child happens synchronously in [`start`], so the child sees messages in
//! the order the client POSTed them; only waiting for answers runs in a task.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::StdioMode;
use crate::mcp::{jsonrpc, JsonRpcId};
use crate::session::SessionId;
use crate::upstream::link::{Call, LinkError, LinkSession};

use super::super::error::ProxyError;
use super::super::metrics::Counter;
use super::super::respond::error_message;
use super::super::state::ShardState;
use super::super::stdio::answer::{next_step, Ending};
use super::{deliver, end, live, LegacyOut, Work};
use crate::pipeline::Facts;
use crate::upstream::children::{AcquireError, Children};

/// Sends the message to the session's child and spawns what waits for the answer. Every
/// failure is answered on the stream (a legacy client treats an HTTP error on POST as fatal).
pub(super) fn start(
    state: &Rc<ShardState>,
    sid: SessionId,
    children: &Rc<Children>,
    body: Vec<u8>,
    facts: Facts,
    timeout: Duration,
    work: Work,
) {
    let id = facts.request_id().cloned();
    let bound = state
        .sessions
        .borrow_mut()
        .get_mut(&sid, Instant::now())
        .and_then(|entry| entry.link.clone());
    match (facts.is_initialize, bound, id) {
        (true, None, Some(id)) => {
            let st = state.clone();
            let children = children.clone();
            glommio::spawn_local(async move {
                initialize(&st, sid, &children, &body, &facts, &id, timeout).await;
                drop(work);
            })
            .detach();
        }
        (true, Some(_), Some(id)) => answer_error(
            state,
            &sid,
            &id,
            jsonrpc::INVALID_REQUEST,
            "Session already initialized",
        ),
        (_, None, Some(id)) => answer_error(
            state,
            &sid,
            &id,
            jsonrpc::INVALID_REQUEST,
            "Session not initialized: send initialize first",
        ),
        (_, None, None) => {
            tracing::debug!(session = %sid.as_str(), "notification before initialize; dropped");
        }
        (_, Some(bound), Some(id)) => {
            match bound.link.call(
                bound.key,
                &id,
                facts.progress_token.as_ref(),
                &facts.spans,
                &body,
            ) {
                Ok(call) => {
                    let st = state.clone();
                    glommio::spawn_local(async move {
                        pump_call(&st, &sid, &call, &id, timeout).await;
                        drop(work);
                    })
                    .detach();
                }
                Err(error) => child_gone(state, &sid, Some(&id), &error),
            }
        }
        (_, Some(bound), None) => {
            let about = super::super::stdio::client_message(&facts);
            if let Err(error) = bound.link.notify(bound.key, &body, about) {
                child_gone(state, &sid, None, &error);
            }
        }
    }
}

/// Binds the session to a child and answers `initialize` from it.
async fn initialize(
    state: &Rc<ShardState>,
    sid: SessionId,
    children: &Rc<Children>,
    body: &[u8],
    facts: &Facts,
    id: &JsonRpcId,
    timeout: Duration,
) {
    let unavailable = |error: &dyn std::fmt::Display| ProxyError::UpstreamUnavailable {
        id: Some(id.clone()),
        reason: error.to_string(),
    };
    let refuse = |error: ProxyError| {
        let mut message = Vec::with_capacity(128);
        error_message(&mut message, &error, Some(id));
        deliver(state, &sid, message);
    };
    match children.mode() {
        StdioMode::PerSession => {
            let link = match children.for_session().await {
                Ok(link) => link,
                Err(AcquireError::Full(_)) => {
                    return refuse(ProxyError::TooManySessions {
                        id: Some(id.clone()),
                    })
                }
                Err(other) => return refuse(unavailable(&other)),
            };
            let key = match link.open_session() {
                Ok(key) => key,
                Err(error) => return refuse(unavailable(&error)),
            };
            let bound = Rc::new(LinkSession {
                link: link.clone(),
                key,
            });
            let call = match link.call(key, id, facts.progress_token.as_ref(), &facts.spans, body) {
                Ok(call) => call,
                Err(error) => return refuse(unavailable(&error)),
            };
            bind(state, &sid, &bound, facts);
            link.set_session_tag(sid.as_str());
            if pump_call(state, &sid, &call, id, timeout).await != Ending::Result {
                // The child refused: unbind (dropping the last LinkSession stops it).
                if let Some(entry) = state.sessions.borrow_mut().get_mut(&sid, Instant::now()) {
                    entry.link = None;
                }
                return;
            }
            tracing::info!(session = %sid.as_str(), pid = link.pid(), "legacy session bound to a child");
            listen_inbox(state, sid, &bound);
        }
        StdioMode::Shared => {
            let (link, result) = match children.shared(timeout).await {
                Ok(shared) => shared,
                Err(error) => return refuse(unavailable(&error)),
            };
            let key = match link.open_session() {
                Ok(key) => key,
                Err(error) => return refuse(unavailable(&error)),
            };
            let bound = Rc::new(LinkSession { link, key });
            bind(state, &sid, &bound, facts);
            let mut reply = Vec::with_capacity(result.len() + 64);
            reply.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            id.write_json(&mut reply);
            reply.extend_from_slice(br#","result":"#);
            reply.extend_from_slice(&result);
            reply.push(b'}');
            deliver(state, &sid, reply);
            listen_inbox(state, sid, &bound);
        }
    }
}

/// Records the child in the session's entry (the entry's clone keeps it running).
fn bind(state: &ShardState, sid: &SessionId, bound: &Rc<LinkSession>, facts: &Facts) {
    if let Some(entry) = state.sessions.borrow_mut().get_mut(sid, Instant::now()) {
        entry.link = Some(bound.clone());
        entry.version = facts.version;
    }
}

/// Delivers a call's messages until its end; returns how it ended.
async fn pump_call(
    state: &ShardState,
    sid: &SessionId,
    call: &Call,
    id: &JsonRpcId,
    timeout: Duration,
) -> Ending {
    loop {
        let Some(out) = live(state, sid) else {
            return Ending::Abandoned;
        };
        let step = futures_lite::future::or(
            async { Some(next_step(state, call, id, timeout).await) },
            async {
                out.ended.wait().await;
                None
            },
        )
        .await;
        let Some(step) = step else {
            return Ending::Abandoned;
        };
        let ending = step.ending();
        if let Some(message) = step.into_message() {
            if !deliver(state, sid, message) {
                return Ending::Abandoned;
            }
        }
        if let Some(ending) = ending {
            if ending == Ending::Error && !call.link().is_alive() {
                end(state, sid, "stdio upstream process is gone");
            }
            return ending;
        }
    }
}

/// Pipes the session's inbox (messages outside calls) to its stream while both live.
fn listen_inbox(state: &Rc<ShardState>, sid: SessionId, bound: &Rc<LinkSession>) {
    let Some(out) = live(state, &sid) else {
        return;
    };
    if !out.start_listening() {
        return;
    }
    let Some(inbox) = bound.link.take_inbox(bound.key) else {
        return;
    };
    let st = state.clone();
    let bound = bound.clone();
    glommio::spawn_local(async move {
        pipe_inbox(&st, &sid, &out, &inbox).await;
        bound.link.return_inbox(bound.key, inbox);
    })
    .detach();
}

async fn pipe_inbox(
    state: &ShardState,
    sid: &SessionId,
    out: &LegacyOut,
    inbox: &glommio::channels::local_channel::LocalReceiver<Vec<u8>>,
) {
    loop {
        let message = futures_lite::future::or(async { inbox.recv().await }, async {
            futures_lite::future::or(out.ended.wait(), state.shutdown.wait()).await;
            None
        })
        .await;
        let Some(message) = message else {
            return;
        };
        // The child's notifications and requests (never judged: not answers).
        if !deliver(state, sid, message) {
            return;
        }
    }
}

/// The child is gone: the request (if any) learns why, and the session ends.
fn child_gone(state: &ShardState, sid: &SessionId, id: Option<&JsonRpcId>, error: &LinkError) {
    if let Some(id) = id {
        answer_error(
            state,
            sid,
            id,
            jsonrpc::UPSTREAM_UNAVAILABLE,
            &format!("Upstream MCP server unavailable: {error}"),
        );
    }
    state.metrics.incr(Counter::SessionsLost);
    end(state, sid, "stdio upstream process is gone");
}

fn answer_error(state: &ShardState, sid: &SessionId, id: &JsonRpcId, code: i32, message: &str) {
    let mut error = Vec::with_capacity(message.len() + 64);
    jsonrpc::write_error(&mut error, Some(id), code, message, None);
    deliver(state, sid, error);
}
