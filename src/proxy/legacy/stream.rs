//! `GET sse_path`: builds the request context and passes the route's request-side stages (as a
//! POST does; a GET carries no message), mints a session on this shard, announces the messages
//! URL in the `endpoint` event (relative, `messages_path?sessionId=ID`, as the SDK servers send
//! it), then writes every message queued for the session as an `event: message` until the
//! client hangs up, the session ends or the proxy shuts down. Every answer queued to one of the
//! session's `tools/list` requests passed the route's response-side stages, and every message
//! the interception rules' response side under the set in force when it was queued (`deliver`).
//! The stream's end ends the session, upstream too.
//!
//! Not here: POSTs (post.rs) and what fills the queue (http.rs, stdio.rs).
//! Per stream: one receiver of at most `QUEUE_CAPACITY` messages and one scratch buffer.

use crate::config::{RouteId, UpstreamId};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::LocalReceiver;
use shards::io::NetStream;

use crate::config::LegacySseConfig;
use crate::http::{
    write_chunk, write_event, write_response_head, Framing, Head, HttpConn, RequestHead, LAST_CHUNK,
};
use crate::session::SessionId;

use super::super::admit::{admit_by_stages, new_session};
use super::super::error::ProxyError;
use super::super::guard;
use super::super::metrics::Counter;
use super::super::state::{SessionEntry, ShardState};
use super::LegacyOut;
use crate::pipeline::intercept::{AnswerHold, LiveAnswers, Sent};
use crate::pipeline::{Facts, ListingWatch, Principal, RequestCtx, RouteStages};
use crate::proxy::intercept::settle;
use crate::proxy::relay_plan::while_held;
use shards::timeout::within;

/// How long one write to the client may stall before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// What woke the stream.
enum Wake {
    Message(Option<Vec<u8>>),
    Ended,
    ClientGone,
    Shutdown,
    Drained,
}

/// Serves `GET sse_path`; returns whether the connection stays open (never: the session is
/// over when its stream is).
pub(super) async fn open(
    state: &Rc<ShardState>,
    (route, upstream): (RouteId, UpstreamId),
    legacy: &LegacySseConfig,
    (stages, principal): (&RouteStages, Principal),
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let started = Instant::now();
    super::super::admit::drain_request_body(state, client, head).await?;
    guard::check_get_accept(head)?;
    guard::check_version(head)?;
    if state.sessions.borrow().len() >= state.config.sessions.max_per_shard {
        return Err(ProxyError::TooManySessions { id: None });
    }
    let mut ctx = RequestCtx {
        facts: Facts::bodyless(),
        principal,
        stages: stages.clone(),
        route,
        upstream,
        session: None,
        modern: false,
        started,
        hopped: false,
    };
    // The request side as on every POST, before a session exists: a GET carries no message,
    // so a stage may refuse it (the error is the answer) but has nothing to drop.
    admit_by_stages(state, &ctx.stages, &ctx.facts)?;
    let sid = new_session(
        state,
        SessionEntry {
            upstream,
            route,
            upstream_session: None,
            version: None,
            link: None,
            owner: ctx.principal.clone(),
        },
    )?;
    ctx.session = Some(sid);
    let on = (state.config.route(route), upstream);
    crate::proxy::record::begin_session(state, on, &sid, "legacy_sse");
    // The stream is the session's client sink: the answers queued for it to the session's
    // `tools/list` requests pass the response side of the route's stages (`deliver`).
    // Every message of the stream also passes the interception rules' response side.
    let scope = crate::proxy::intercept::Scope {
        route,
        principal: &ctx.principal,
        session: ctx.session.as_ref(),
    };
    // Renewed whenever the shard's rule set changes (`deliver`).
    let answers = LiveAnswers::new(
        state.intercept.generation(),
        crate::proxy::intercept::stream_scope(state, scope),
    );
    let (out, rx) = LegacyOut::new(ListingWatch::with_answers(ctx.stages.clone(), answers));
    state.legacy.borrow_mut().insert(sid, out.clone());
    state.metrics.incr(Counter::LegacySessions);
    tracing::debug!(session = %sid.as_str(), "legacy SSE session opened");
    let open = state.open_streams.open(sid);
    // Once the head is out, a failed write means the client is gone: nothing left to answer.
    let _ = serve(state, client, head, legacy, &sid, &out, &rx).await;
    drop(open);
    close(state, sid).await;
    tracing::debug!(session = %sid.as_str(), secs = ctx.started.elapsed().as_secs(), "legacy SSE stream done");
    Ok(false)
}

/// Writes the stream's head and `endpoint` event, then relays queued messages until the
/// session, the client or the shutdown grace ends it.
async fn serve(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    legacy: &LegacySseConfig,
    sid: &SessionId,
    out: &LegacyOut,
    rx: &LocalReceiver<Vec<u8>>,
) -> Result<(), ProxyError> {
    let chunked = head.minor_version() == 1;
    let mut scratch = state.bufs.lease(1024);
    push_preamble(state, &mut scratch, chunked, legacy, sid);
    send(client, &mut scratch).await?;

    let mut deadline: Option<Instant> = None;
    loop {
        let wake = next_wake(state, client, out, rx, deadline).await;
        match wake {
            Wake::Message(Some(message)) => {
                let original = out.taken();
                // A message an interception rule holds is settled before it, and everything
                // queued after it, goes out; the client or the session ending ends the hold.
                let sent = match out.stages.unpark(out.last_taken()) {
                    None => Sent::Original,
                    // Boxed: a rare path's large future must not size every stream's.
                    Some(hold) => match Box::pin(held(state, client, out, hold, &message)).await {
                        Some(sent) => sent,
                        None => {
                            // Never forwarded: the tape says so (`null`).
                            let arrived = original.as_deref().unwrap_or(&message);
                            let event = crate::proxy::record::LEGACY_EVENT;
                            crate::proxy::record::answer(arrived, Some(None), event);
                            return Ok(());
                        }
                    },
                };
                // The tape: the message as it arrived, and what was sent when a stage changed it.
                let event = crate::proxy::record::LEGACY_EVENT;
                match original {
                    Some(original) => {
                        crate::proxy::record::answer(&original, Some(Some(&message)), event)
                    }
                    None => crate::proxy::record::answer(&message, sent.forwarded(), event),
                }
                let Some(message) = sent.bytes(&message) else {
                    continue;
                };
                push_event(&mut scratch, chunked, "message", message);
                // A client that stopped reading blocks this write; its overflowing queue ends
                // the session, which must not wait for the write timeout.
                let written = futures_lite::future::or(
                    async { Some(send(client, &mut scratch).await) },
                    async {
                        out.ended.wait().await;
                        None
                    },
                )
                .await;
                match written {
                    Some(result) => result?,
                    None => return Ok(()),
                }
                state.metrics.incr(Counter::SseEvents);
                // An active stream keeps the session from expiring.
                let _ = state.sessions.borrow_mut().get_mut(sid, Instant::now());
            }
            Wake::Shutdown => {
                // Let running exchanges deliver their answers (within the grace), then end.
                deadline = Some(Instant::now() + state.config.timeouts.shutdown_grace);
                out.drain();
            }
            Wake::Message(None) | Wake::Ended | Wake::Drained => {
                if chunked {
                    scratch.extend_from_slice(LAST_CHUNK);
                    send(client, &mut scratch).await?;
                }
                return Ok(());
            }
            Wake::ClientGone => return Ok(()),
        }
    }
}

/// Writes the stream's response head and its first event, `endpoint`: the messages URL the
/// client POSTs to (relative, as the SDK servers send it).
fn push_preamble(
    state: &ShardState,
    scratch: &mut Vec<u8>,
    chunked: bool,
    legacy: &LegacySseConfig,
    sid: &SessionId,
) {
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("Content-Type", b"text/event-stream"),
        ("Cache-Control", b"no-cache, no-transform"),
        ("X-Accel-Buffering", b"no"),
    ];
    if !chunked {
        headers.push(("Connection", b"close"));
    }
    let framing = if chunked {
        Framing::Chunked
    } else {
        Framing::UntilClose
    };
    write_response_head(scratch, 200, headers, framing);
    state.metrics.status(200);
    let mut endpoint = Vec::with_capacity(legacy.messages_path.len() + 48);
    endpoint.extend_from_slice(legacy.messages_path.as_bytes());
    endpoint.extend_from_slice(b"?sessionId=");
    endpoint.extend_from_slice(sid.as_bytes());
    push_event(scratch, chunked, "endpoint", &endpoint);
}

/// Waits for whatever the stream must act on next: a queued message, the session's end,
/// the client hanging up, shutdown, or (once shutting down) the drain or its deadline.
async fn next_wake(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    out: &LegacyOut,
    rx: &LocalReceiver<Vec<u8>>,
    deadline: Option<Instant>,
) -> Wake {
    let idle_client = client.buffered().is_empty();
    let message = async { Wake::Message(rx.recv().await) };
    let ended = async {
        out.ended.wait().await;
        Wake::Ended
    };
    let gone = async {
        // A legacy client sends nothing on its stream: any byte or EOF ends it.
        if idle_client {
            let _ = client.await_data().await;
        }
        Wake::ClientGone
    };
    let stop = async {
        match deadline {
            None => {
                state.shutdown.wait().await;
                Wake::Shutdown
            }
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                let _ = within(left, out.drained.wait()).await;
                Wake::Drained
            }
        }
    };
    futures_lite::future::or(
        message,
        futures_lite::future::or(ended, futures_lite::future::or(gone, stop)),
    )
    .await
}

/// Appends one SSE event (chunk-framed on HTTP/1.1).
fn push_event(out: &mut Vec<u8>, chunked: bool, event: &str, data: &[u8]) {
    if chunked {
        let mut block = Vec::with_capacity(data.len() + 32);
        write_event(&mut block, None, Some(event), data);
        write_chunk(out, &block);
    } else {
        write_event(out, None, Some(event), data);
    }
}

/// Writes and clears `scratch`.
async fn send(client: &mut HttpConn<NetStream>, scratch: &mut Vec<u8>) -> Result<(), ProxyError> {
    let written = within(WRITE_TIMEOUT, client.write_all(scratch)).await;
    scratch.clear();
    match written {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(ProxyError::Http(e)),
        None => Err(ProxyError::Http(crate::http::Error::Io(
            std::io::Error::from(std::io::ErrorKind::TimedOut),
        ))),
    }
}

/// Ends the session: its queue, its table entry (a stdio child stops with it), its
/// translation state (requests and listen to a modern upstream are cancelled) and the
/// upstream's session (DELETE).
async fn close(state: &Rc<ShardState>, sid: SessionId) {
    if let Some(out) = state.legacy.borrow_mut().remove(&sid) {
        out.ended.fire();
    }
    let entry = state.sessions.borrow_mut().remove(&sid);
    // A translated session (modern upstream): its upstream requests and listen stop here.
    state.l2m.end(&sid);
    tracing::debug!(session = %sid.as_str(), "legacy SSE session closed");
    if let Some(entry) = entry {
        state.metrics.incr(Counter::SessionsDeleted);
        super::super::teardown::delete_upstream_session(state, &entry).await;
    }
}

/// Settles a message an interception rule holds; `None` when the client or the session
/// ended first (the hold ends with them).
async fn held(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    out: &LegacyOut,
    hold: AnswerHold,
    message: &[u8],
) -> Option<Sent> {
    let settled =
        futures_lite::future::or(async { Some(settle(state, hold, message).await) }, async {
            out.ended.wait().await;
            None
        });
    while_held(client, settled).await.flatten()
}
