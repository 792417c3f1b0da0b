//! A legacy session's exchanges with a Streamable HTTP upstream: each POSTed message is
//! POSTed upstream (the client's original bytes, the upstream's session id, the negotiated
//! `MCP-Protocol-Version`) and every message of the reply, JSON or SSE, goes on the session's
//! stream; after `notifications/initialized` the upstream's GET stream is piped there too.
//! Failures of a request become a JSON-RPC error for its id, on the stream.
//!
//! Not here: validation and the 202 (post.rs), the client stream (stream.rs).
//! Per exchange: the request buffer, one pooled upstream connection, one SSE parser; a JSON
//! reply is read whole (bounded by `limits.max_sse_event_bytes`: it becomes one event).

use crate::config::UpstreamId;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::http::{BodyReader, Framing, Head, MessageKind, SseParser, SseStep};
use crate::mcp::{jsonrpc, Inspected, JsonRpcId, Kind, Method, ProtocolVersion};
use crate::session::{Principal, SessionId};

use super::super::error::ProxyError;
use super::super::exchange::{exchange, finish, Exchange};
use super::super::headers::legacy_upstream_request;
use super::super::metrics::Counter;
use super::super::respond::error_message;
use super::super::state::ShardState;
use super::{deliver, end, live, LegacyOut, Work};
use crate::pipeline::Facts;
use shards::timeout::within;

/// Most bytes of a non-2xx upstream answer read to find a JSON-RPC error in it.
const ERROR_BODY_MAX: usize = 64 * 1024;

/// One POSTed message on its way upstream.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) sid: SessionId,
    pub(super) upstream: UpstreamId,
    /// Who sent it, with the access token it presented (an upstream's 401 refuses the
    /// token sent for it).
    pub(super) principal: Principal,
    /// The complete upstream request (head and body).
    pub(super) request: Vec<u8>,
    pub(super) facts: Facts,
    pub(super) timeout: Duration,
}

/// Runs the exchange and delivers its messages; `work` keeps the stream open at shutdown
/// until this is done.
pub(super) async fn run(state: Rc<ShardState>, job: Job, work: Work) {
    let id = job.facts.request_id().cloned();
    let result = exchange(&state, job.upstream, &job.request, id.as_ref(), false).await;
    state.bufs.give(job.request);
    let ex = match result {
        Ok(ex) => ex,
        Err(error) => {
            fail(&state, &job.sid, id.as_ref(), &error);
            return;
        }
    };
    let status = ex.head.status();
    state.upstream_answered(job.upstream, status, &job.principal);
    let had_upstream_session = state
        .sessions
        .borrow()
        .peek(&job.sid)
        .is_some_and(|e| e.upstream_session.is_some());
    if status == 404 && had_upstream_session {
        // The upstream forgot the session: so does the proxy (the client re-connects).
        state.metrics.incr(Counter::SessionsLost);
        finish(&state, ex, false);
        end(&state, &job.sid, "upstream answered 404 for its session");
        return;
    }
    if !(200..300).contains(&status) {
        refused(&state, &job.sid, id.as_ref(), ex).await;
        return;
    }
    if job.facts.is_initialize {
        if let Some(upstream_session) = ex
            .head
            .header("mcp-session-id")
            .and_then(|v| std::str::from_utf8(v).ok())
        {
            if let Some(entry) = state
                .sessions
                .borrow_mut()
                .get_mut(&job.sid, Instant::now())
            {
                entry.upstream_session = Some(upstream_session.into());
            }
        }
    }
    let initialize = job.facts.is_initialize.then_some(id.as_ref()).flatten();
    let Some(out) = live(&state, &job.sid) else {
        finish(&state, ex, false);
        return;
    };
    let reusable = relay(&state, &job.sid, &out, ex, initialize, Some(job.timeout)).await;
    drop(work);
    if reusable && job.facts.method == Method::NotificationsInitialized && out.start_listening() {
        glommio::spawn_local(listen(state.clone(), job.sid, out)).detach();
    }
}

/// Delivers every message of a 2xx reply (`initialize`: the id of the `initialize` request
/// it answers, if that is what it answers); returns whether the upstream connection was
/// returned to the pool (the reply was read to its end).
async fn relay(
    state: &Rc<ShardState>,
    sid: &SessionId,
    out: &LegacyOut,
    mut ex: Exchange,
    initialize: Option<&JsonRpcId>,
    idle: Option<Duration>,
) -> bool {
    if ex.framing == Framing::Empty || ex.head.status() == 202 {
        let reusable = ex.framing != Framing::UntilClose && ex.head.keep_alive();
        finish(state, ex, reusable);
        return true;
    }
    if ex.head.is_event_stream() {
        let done = pump_events(state, sid, out, &mut ex, initialize, idle).await;
        let reusable = done && ex.framing != Framing::UntilClose && ex.head.keep_alive();
        finish(state, ex, reusable);
        return done;
    }
    let mut body = state.bufs.take(4096);
    let reading = ex.conn.read_response_body(
        ex.framing,
        state.config.limits.max_sse_event_bytes,
        &mut body,
    );
    let read = match idle {
        Some(limit) => within(limit, reading).await,
        None => Some(reading.await),
    };
    let done = matches!(read, Some(Ok(())));
    if done {
        on_message(state, sid, initialize, body);
    } else {
        tracing::warn!(session = %sid.as_str(), "upstream reply unreadable or too large; dropped");
        state.bufs.give(body);
    }
    let reusable = done && ex.framing != Framing::UntilClose && ex.head.keep_alive();
    finish(state, ex, reusable);
    done
}

/// Parses the SSE body event by event and delivers each `message` event's data. Ends with the
/// body (true), or on an error, an idle timeout, or the session's end (false).
async fn pump_events(
    state: &ShardState,
    sid: &SessionId,
    out: &LegacyOut,
    ex: &mut Exchange,
    initialize: Option<&JsonRpcId>,
    idle: Option<Duration>,
) -> bool {
    let Ok(mut reader) = BodyReader::new(ex.framing, MessageKind::Response, u64::MAX) else {
        return false;
    };
    let mut parser = SseParser::new(state.config.limits.max_sse_event_bytes);
    loop {
        let piece = futures_lite::future::or(
            async {
                let next = ex.conn.next_body_chunk(&mut reader);
                match idle {
                    Some(limit) => within(limit, next).await,
                    None => Some(next.await),
                }
                .map(|r| r.map(|piece| piece.map(<[u8]>::to_vec)))
            },
            async {
                out.ended.wait().await;
                None
            },
        )
        .await;
        let mut piece: &[u8] = match &piece {
            Some(Ok(Some(piece))) => piece,
            Some(Ok(None)) => return true,
            Some(Err(_)) | None => return false,
        };
        loop {
            let (consumed, message) = match parser.next(piece) {
                Ok(SseStep::NeedMore) => break,
                Ok(SseStep::Event {
                    event, consumed, ..
                }) => {
                    let is_message = event.event.is_none_or(|e| e == b"message");
                    let data = (is_message && !event.data.is_empty()).then(|| event.data.to_vec());
                    (consumed, data)
                }
                Ok(SseStep::Skipped { consumed, .. }) => (consumed, None),
                Err(_) => return false,
            };
            if let Some(message) = message {
                if !on_message(state, sid, initialize, message) {
                    return false;
                }
            }
            piece = piece.get(consumed..).unwrap_or_default();
        }
    }
}

/// Delivers one upstream message; the answer to `initialize` (the request under `initialize`)
/// also records the negotiated protocol version (sent upstream as `MCP-Protocol-Version` from
/// then on).
fn on_message(
    state: &ShardState,
    sid: &SessionId,
    initialize: Option<&JsonRpcId>,
    message: Vec<u8>,
) -> bool {
    if let Some(init_id) = initialize {
        let negotiated = match state.inspector.borrow_mut().inspect(&message) {
            Ok(Inspected::Single(info))
                if info.kind == Kind::Response && info.id.as_ref() == Some(init_id) =>
            {
                info.protocol_version.as_ref().and_then(|v| v.known())
            }
            _ => None,
        };
        if let Some(version) = negotiated {
            if let Some(entry) = state.sessions.borrow_mut().get_mut(sid, Instant::now()) {
                entry.version = Some(version);
            }
        }
    }
    deliver(state, sid, message)
}

/// A non-2xx answer: the request gets a JSON-RPC error (the upstream's own when its body is
/// one, else -32010 naming the status); a notification's failure is only logged.
async fn refused(
    state: &Rc<ShardState>,
    sid: &SessionId,
    id: Option<&JsonRpcId>,
    mut ex: Exchange,
) {
    let status = ex.head.status();
    let mut body = state.bufs.take(1024);
    let read = within(
        Duration::from_secs(5),
        ex.conn
            .read_response_body(ex.framing, ERROR_BODY_MAX, &mut body),
    )
    .await;
    let clean = matches!(read, Some(Ok(())));
    finish(state, ex, clean && status != 500);
    state.metrics.status(status);
    let Some(id) = id else {
        tracing::warn!(session = %sid.as_str(), status, "upstream refused a client notification");
        state.bufs.give(body);
        return;
    };
    let (code, message) = upstream_error(&body).unwrap_or_else(|| {
        (
            jsonrpc::UPSTREAM_UNAVAILABLE,
            format!("Upstream MCP server answered HTTP {status}"),
        )
    });
    state.bufs.give(body);
    let mut error = Vec::with_capacity(message.len() + 64);
    jsonrpc::write_error(&mut error, Some(id), code, &message, None);
    deliver(state, sid, error);
}

/// `error.code` and `error.message` of a JSON-RPC error body (cold path: serde_json).
fn upstream_error(body: &[u8]) -> Option<(i32, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let code = i32::try_from(error.get("code")?.as_i64()?).ok()?;
    let message = error.get("message")?.as_str()?.to_owned();
    Some((code, message))
}

/// The exchange failed before a reply: the request gets the error, in-band.
pub(super) fn fail(
    state: &ShardState,
    sid: &SessionId,
    id: Option<&JsonRpcId>,
    error: &ProxyError,
) {
    tracing::warn!(session = %sid.as_str(), %error, "legacy exchange failed");
    if let Some(id) = id {
        let mut message = Vec::with_capacity(128);
        error_message(&mut message, error, Some(id));
        deliver(state, sid, message);
    }
}

/// Pipes the upstream's GET stream (messages unrelated to requests) to the session's stream
/// until either ends or the proxy shuts down. An upstream without one (405) is fine.
async fn listen(state: Rc<ShardState>, sid: SessionId, out: Rc<LegacyOut>) {
    let Some((upstream, owner, request)) = get_request(&state, &sid) else {
        return;
    };
    let ex = futures_lite::future::or(
        async { Some(exchange(&state, upstream, &request, None, false).await) },
        async {
            out.ended.wait().await;
            None
        },
    )
    .await;
    drop(request);
    let mut ex = match ex {
        Some(Ok(ex)) => ex,
        Some(Err(error)) => {
            tracing::debug!(session = %sid.as_str(), %error, "upstream GET stream unavailable");
            return;
        }
        None => return,
    };
    state.upstream_answered(upstream, ex.head.status(), &owner);
    if ex.head.status() != 200 || !ex.head.is_event_stream() {
        tracing::debug!(session = %sid.as_str(), status = ex.head.status(), "upstream offers no GET stream");
        finish(&state, ex, false);
        return;
    }
    let stopped = futures_lite::future::or(
        async {
            pump_events(&state, &sid, &out, &mut ex, None, None).await;
            false
        },
        async {
            state.shutdown.wait().await;
            true
        },
    )
    .await;
    tracing::debug!(session = %sid.as_str(), stopped, "upstream GET stream ended");
    finish(&state, ex, false);
}

/// The GET request for the session's upstream stream, and the session's owner (the token it
/// was opened with goes with it).
fn get_request(state: &ShardState, sid: &SessionId) -> Option<(UpstreamId, Principal, Vec<u8>)> {
    let sessions = state.sessions.borrow();
    let entry = sessions.peek(sid)?;
    let upstream = entry.upstream;
    let url = state.config.upstream(upstream).http()?;
    let configured = state.upstream_headers(upstream, &entry.owner).ok()?;
    let mut request = Vec::with_capacity(256);
    legacy_upstream_request(
        &mut request,
        "GET",
        url,
        &configured,
        None,
        entry.upstream_session.as_deref(),
        entry.version.map(ProtocolVersion::as_str),
        None,
    );
    Some((upstream, entry.owner.clone(), request))
}
