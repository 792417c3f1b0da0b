//! A legacy HTTP+SSE session in front of a modern (2026-07-28 only) upstream: the era
//! translation of proxy::l2m, with every message on the session's stream instead of an
//! HTTP answer. `initialize` is answered from `server/discover` (when the upstream is modern:
//! `era = "modern"`, or `auto` and the probe says so; otherwise it passes through to http.rs);
//! then each POSTed message is routed by `l2m::post::route` (local answers, the client's MRTR
//! answers, notifications) or becomes an `l2m::call` whose notifications, server→client
//! requests and response go on the stream; after `notifications/initialized` the stream also
//! carries the upstream `subscriptions/listen` mapping (`l2m::stream::listen`). The stream's end
//! ends the translated session (legacy::stream calls `l2m.end`), which cancels its upstream
//! requests and listen.
//!
//! Not here: the translation itself (proxy::l2m), validation and the 202 (post.rs), the
//! stream (stream.rs).
//! Per request: one background task owning the body and a copy of the POST's head (its
//! end-to-end headers, never credentials, go upstream with the request).

use crate::config::{UpstreamId, UpstreamUrl};
use crate::session::Principal;
use std::future::Future;
use std::rc::Rc;

use crate::http::RequestHead;
use crate::mcp::{JsonRpcId, Method};
use crate::session::SessionId;

use super::super::error::ProxyError;
use super::super::l2m::post::{self as l2m_post, Hello, Route};
use super::super::l2m::sink::{Sink, StreamSink};
use super::super::l2m::{call, detect, stream as l2m_stream};
use super::super::metrics::ListenGuard;
use super::super::state::ShardState;
use super::http::{self, Job};
use super::{deliver, live, LegacyOut, Work};
use crate::pipeline::Facts;
use crate::session::l2m::L2mSession;

/// The session's stream as the translation's sink: every message becomes one
/// `event: message`; the answer is never an HTTP status (the POST got its 202 already).
#[derive(Debug)]
struct ToStream {
    sid: SessionId,
    out: Rc<LegacyOut>,
}

impl ToStream {
    fn push(&self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError> {
        if deliver(state, &self.sid, message.to_vec()) {
            Ok(())
        } else {
            Err(ProxyError::SessionNotFound { id: None })
        }
    }
}

impl StreamSink for ToStream {
    async fn send(&mut self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError> {
        self.push(state, message)
    }

    async fn watch<F: Future>(&mut self, work: F) -> Option<F::Output> {
        futures_lite::future::or(async { Some(work.await) }, async {
            self.out.ended.wait().await;
            None
        })
        .await
    }
}

/// One request's answer: every message on the stream, failures in-band (no HTTP status is
/// left to answer with).
impl Sink for ToStream {
    type Done = ();

    async fn stream(&mut self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError> {
        self.push(state, message)
    }

    async fn last(self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError> {
        self.push(state, message)
    }

    async fn abandon(self, _state: &ShardState) -> Result<(), ProxyError> {
        Ok(())
    }
}

/// Whether an `initialize` POSTed on a legacy session may be translated (cheap: no I/O).
pub(super) fn may_translate(state: &ShardState, upstream: UpstreamId, facts: &Facts) -> bool {
    facts.is_initialize && detect::may_translate(state, upstream)
}

/// Runs a legacy `initialize` whose upstream may be modern: translated (answered from
/// `server/discover`, the session becomes a translated one) or, when the upstream turns out
/// not to be modern-only, passed through as `job` (http.rs).
pub(super) async fn initialize(
    state: Rc<ShardState>,
    job: Job,
    (hello, url): (Hello, Rc<UpstreamUrl>),
    head: RequestHead,
    work: Work,
) {
    let id = job.facts.id().cloned();
    // The POST's own principal (its own token, with token exchange), like every request's.
    let decision = detect::for_initialize(
        &state,
        (job.upstream, &job.principal),
        &head,
        &hello.meta(),
        id.as_ref(),
    )
    .await;
    let found = match decision {
        Ok(detect::Decision::Translate(found)) => found,
        Ok(detect::Decision::PassThrough) => return http::run(state, job, work).await,
        Ok(detect::Decision::Refused(refusal)) => {
            state.bufs.give(job.request);
            if let (Some(id), Some(out)) = (&id, live(&state, &job.sid)) {
                let sink = ToStream { sid: job.sid, out };
                let _ = sink.refused(&state, id, refusal).await;
            }
            return;
        }
        Err(error) => {
            state.bufs.give(job.request);
            http::fail(&state, &job.sid, id.as_ref(), &error);
            return;
        }
    };
    state.bufs.give(job.request);
    // The stream may have closed during the probe: nothing to open then.
    if live(&state, &job.sid).is_none() {
        return;
    }
    let version = hello.version();
    match state
        .sessions
        .borrow_mut()
        .get_mut(&job.sid, std::time::Instant::now())
    {
        Some(entry) => entry.version = Some(version),
        None => return,
    }
    let id = id.unwrap_or(JsonRpcId::Number(0));
    let response = l2m_post::open(&state, job.sid, (job.upstream, &url), hello, found, &id);
    tracing::debug!(
        session = %job.sid.as_str(),
        version = version.as_str(),
        "legacy SSE session translated for a modern upstream"
    );
    deliver(&state, &job.sid, response);
    drop(work);
}

/// Serves one POSTed message on a translated session: routed at once (so the client's MRTR
/// answers and notifications take effect before the 202), requests for the upstream in a
/// task of their own.
///
/// # Errors
/// A batch (post.rs refuses it before this; the same refusal here).
#[allow(clippy::too_many_arguments)]
pub(super) fn post(
    state: &Rc<ShardState>,
    sid: SessionId,
    out: &Rc<LegacyOut>,
    (session, principal): (Rc<L2mSession>, Principal),
    head: &RequestHead,
    body: Vec<u8>,
    facts: Facts,
    work: Work,
) -> Result<(), ProxyError> {
    let Some(message) = facts.message() else {
        // Not one message: post.rs refuses a batch before this (2024-11-05 has none), and a
        // POST always has a body; answered as that refusal all the same.
        state.bufs.give(body);
        return Err(ProxyError::BatchNotAllowed);
    };
    match l2m_post::route(&session, &body, &facts, message) {
        Route::Accepted => {
            state.bufs.give(body);
            if facts.method == Method::NotificationsInitialized && out.start_listening() {
                let task = listen(state.clone(), sid, out.clone(), session, head.clone());
                glommio::spawn_local(task).detach();
            }
        }
        Route::Local(answer) => {
            state.bufs.give(body);
            deliver(state, &sid, answer);
        }
        Route::Upstream(id) => {
            let sink = ToStream {
                sid,
                out: out.clone(),
            };
            let task = request(
                state.clone(),
                sink,
                head.clone(),
                body,
                (id, facts),
                (session, principal),
                work,
            );
            glommio::spawn_local(task).detach();
        }
    }
    Ok(())
}

/// One request through the translation; a failure before anything reached the stream becomes
/// the request's JSON-RPC error, on the stream.
async fn request(
    state: Rc<ShardState>,
    sink: ToStream,
    head: RequestHead,
    body: Vec<u8>,
    (id, facts): (JsonRpcId, Facts),
    (session, principal): (Rc<L2mSession>, Principal),
    work: Work,
) {
    let sid = sink.sid;
    let on = (&session, &principal);
    let served = call::serve(&state, sink, &head, &body, (id.clone(), &facts), on).await;
    if let Err(error) = served {
        if live(&state, &sid).is_some() {
            http::fail(&state, &sid, Some(&id), &error);
        }
    }
    state.bufs.give(body);
    drop(work);
}

/// The session stream's share of the upstream's notifications: `subscriptions/listen`, as a
/// Streamable HTTP client's GET stream gets it, until the session ends.
async fn listen(
    state: Rc<ShardState>,
    sid: SessionId,
    out: Rc<LegacyOut>,
    session: Rc<L2mSession>,
    head: RequestHead,
) {
    let _listening = ListenGuard::open(&state.metrics);
    let mut sink = ToStream { sid, out };
    let ended = l2m_stream::listen(&state, &head, &session, &mut sink).await;
    tracing::debug!(session = %sid.as_str(), ?ended, "translated listen ended");
}
