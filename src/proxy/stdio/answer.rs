//! Turns a call's deliveries into the HTTP answer: JSON when the first message is the response,
//! `text/event-stream` as soon as a notification or server→client request comes first (so
//! progress reaches the client before the result); errors the child caused (exit, timeout)
//! become a JSON-RPC error for the request, in-band.
//!
//! Not here: sending the request (post.rs), GET streams (stream.rs).

use std::time::Duration;

use shards::io::NetStream;

use crate::http::{
    write_chunk, write_event, write_response_head, Framing, Head, HttpConn, RequestHead, LAST_CHUNK,
};
use crate::mcp::{jsonrpc, write_error, JsonRpcId};
use crate::upstream::link::{Call, Delivery};

use super::super::error::ProxyError;
use super::super::intercept::StreamAnswers;
use super::super::state::{RequestSlot, ShardState};
use crate::pipeline::intercept::{AnswerHold, Outgoing, Sent};
use crate::pipeline::RouteStages;
use crate::proxy::intercept::settle;
use crate::proxy::relay_plan::while_held;
use shards::timeout::within;

/// Longest a single SSE event may take to reach a client that stopped reading.
pub(in crate::proxy) const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client's request and connection look, for writing the answer.
#[derive(Debug, Clone, Copy)]
pub struct ClientShape<'a> {
    /// Keep the connection open after the answer.
    pub keep_alive: bool,
    /// HTTP/1.1 (chunked streams) rather than 1.0 (streams end with the connection).
    pub http11: bool,
    /// `Mcp-Session-Id` to send (initialize).
    pub session: Option<&'a str>,
    /// The route's stages: their response side runs on every message written (`None`: a
    /// stream that carries no answers to the route's requests, e.g. a GET stream).
    pub stages: Option<&'a RouteStages>,
    /// The request's `max_in_flight` slot, given back once the call's last message arrived
    /// (a rule may hold it a long time; the child is done with the call).
    pub slot: Option<&'a RequestSlot>,
}

impl ClientShape<'_> {
    /// The shape of the answer to the request `head` heads: its keep-alive and HTTP version, no
    /// session id, no stages, no slot (fill those in with struct update syntax).
    pub fn of(head: &RequestHead) -> Self {
        ClientShape {
            keep_alive: head.keep_alive(),
            http11: head.minor_version() == 1,
            session: None,
            stages: None,
            slot: None,
        }
    }
}

/// `message` after the response side of `stages`, judged synchronously: what goes to the
/// client in its place, or the hold a rule puts on it (settle it with [`held`], boxed).
pub fn judged(stages: Option<&RouteStages>, message: &[u8]) -> Result<Sent, AnswerHold> {
    match stages.map(|s| s.response(message)) {
        None => Ok(Sent::Original),
        Some(Outgoing::Now(sent)) => Ok(sent),
        Some(Outgoing::Hold(hold)) => Err(hold),
    }
}

/// What the interception rules of a stream that answers no request (`live`: a session's GET
/// stream) make of `message` after the stages made `sent` of it, judged synchronously; or the
/// hold a rule puts on it.
pub fn judged_live(
    live: &StreamAnswers<'_>,
    sent: Sent,
    message: &[u8],
) -> Result<Sent, AnswerHold> {
    let base = match sent {
        Sent::Dropped => return Ok(Sent::Dropped),
        Sent::Original => None,
        Sent::Changed(bytes) => Some(bytes),
    };
    match live.judge(base.as_deref().unwrap_or(message)).over(base) {
        Outgoing::Now(sent) => Ok(sent),
        Outgoing::Hold(hold) => Err(hold),
    }
}

/// Settles a message an interception rule holds, at this request's delivery (the child's
/// read loop goes on for every other call); the client hanging up meanwhile ends the hold
/// (an error: the answer has nowhere to go; the tape notes it as not forwarded, `null`).
/// Callers box this future: a rare path's large future must not size every answer's
/// (issue 13; `answer_tests.rs` pins the sizes).
///
/// # Errors
/// The client went away while the message was held.
pub async fn held(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    hold: AnswerHold,
    (message, content_type): (&[u8], &'static str),
) -> Result<Sent, ProxyError> {
    let settled = while_held(client, settle(state, hold, message)).await;
    settled.ok_or_else(|| {
        note(message, &Sent::Dropped, content_type);
        ProxyError::Http(crate::http::Error::UnexpectedEof)
    })
}

/// Notes a message written to the client when the request is recorded: `original` as it
/// came, and what went instead when a stage changed (or a rule dropped) it.
fn note(original: &[u8], sent: &Sent, content_type: &'static str) {
    let http = crate::record::Http {
        status: Some(200),
        content_type: Some(content_type),
        ..crate::record::Http::default()
    };
    super::super::record::answer(original, sent.forwarded(), http);
}

/// What became of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The child answered with a result.
    Result,
    /// The child answered with an error, or the proxy answered one for it.
    Error,
    /// The call ended without an answer (cancelled by the client).
    Abandoned,
}

/// One message of a call, or how it ended without one.
#[derive(Debug)]
pub struct Step {
    /// The message to write (`None`: the call was abandoned, nothing to write).
    message: Option<Vec<u8>>,
    /// Set when the call is over.
    ending: Option<Ending>,
}

impl Step {
    /// How the call ended, when this step ends it.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// The message to deliver (`None`: the call was abandoned).
    pub fn into_message(self) -> Option<Vec<u8>> {
        self.message
    }
}

/// Waits (up to `timeout`) for the call's next message. On expiry the child is told to cancel
/// and the step is a -32011 error; a child gone gives a -32010 error naming why.
pub async fn next_step(state: &ShardState, call: &Call, id: &JsonRpcId, timeout: Duration) -> Step {
    match within(timeout, call.next()).await {
        Some(Some(Delivery::Message(bytes))) => Step {
            message: Some(bytes),
            ending: None,
        },
        Some(Some(Delivery::Final { bytes, is_error })) => Step {
            message: Some(bytes),
            ending: Some(if is_error {
                Ending::Error
            } else {
                Ending::Result
            }),
        },
        None => {
            call.link()
                .cancel(call.upstream_id(), "proxy request timeout");
            state
                .metrics
                .incr(super::super::metrics::Counter::UpstreamTimeouts);
            error_step(
                id,
                jsonrpc::UPSTREAM_TIMEOUT,
                "Upstream MCP server did not answer in time",
            )
        }
        Some(None) => match call.link().failure() {
            Some(reason) => error_step(
                id,
                jsonrpc::UPSTREAM_UNAVAILABLE,
                &format!("Upstream MCP server unavailable: {reason}"),
            ),
            // Cancelled by the client (or its session ended): no answer is owed.
            None => Step {
                message: None,
                ending: Some(Ending::Abandoned),
            },
        },
    }
}

fn error_step(id: &JsonRpcId, code: i32, message: &str) -> Step {
    let mut body = Vec::with_capacity(160);
    write_error(&mut body, Some(id), code, message, None);
    Step {
        message: Some(body),
        ending: Some(Ending::Error),
    }
}

/// Writes the answer to `call`, starting with `first` when the caller already awaited it;
/// returns (whether the connection stays open, how it ended).
///
/// # Errors
/// Only client-side write failures (the connection is then closed).
pub async fn answer_call(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    call: Call,
    id: &JsonRpcId,
    timeout: Duration,
    shape: ClientShape<'_>,
    first: Option<Step>,
) -> Result<(bool, Ending), ProxyError> {
    let mut stream: Option<SseOut> = None;
    let mut first = first;
    loop {
        let step = match first.take() {
            Some(step) => step,
            None => next_step(state, &call, id, timeout).await,
        };
        if step.ending.is_some() {
            // The call is over upstream: only the client's copy remains (maybe held).
            if let Some(slot) = shape.slot {
                slot.release();
            }
        }
        let Some(message) = step.message else {
            let mut out = stream.take().unwrap_or_else(|| SseOut::new(shape));
            let keep = out.finish(state, client).await?;
            return Ok((keep, Ending::Abandoned));
        };
        match (step.ending, stream.as_mut()) {
            (Some(ending), None) => {
                let keep = write_json(state, client, &message, shape).await?;
                return Ok((keep, ending));
            }
            (Some(ending), Some(out)) => {
                out.event(state, client, &message).await?;
                let keep = out.finish(state, client).await?;
                return Ok((keep, ending));
            }
            (None, Some(out)) => out.event(state, client, &message).await?,
            (None, None) => {
                let mut out = SseOut::new(shape);
                // The call turned into a stream that may stay open for long: the client's idle
                // read buffer goes back to the pool meanwhile (issue 13, memory per stream).
                if let Some(idle) = client.release_read_buf() {
                    state.bufs.give(idle);
                }
                out.start(state, client).await?;
                out.event(state, client, &message).await?;
                stream = Some(out);
            }
        }
    }
}

/// Writes a complete `200 application/json` answer.
///
/// # Errors
/// The client's write error.
pub async fn write_json(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    body: &[u8],
    shape: ClientShape<'_>,
) -> Result<bool, ProxyError> {
    let original = body;
    let sent = match judged(shape.stages, body) {
        Ok(sent) => sent,
        Err(hold) => {
            let json = (body, "application/json");
            Box::pin(held(state, client, hold, json)).await?
        }
    };
    note(original, &sent, "application/json");
    // Only a notification can be dropped, and a JSON answer holds the request's answer.
    let body = sent.bytes(original).unwrap_or_default();
    let mut out = state.bufs.lease(body.len() + 256);
    let mut headers: Vec<(&str, &[u8])> = vec![("Content-Type", b"application/json")];
    if let Some(session) = shape.session {
        headers.push(("Mcp-Session-Id", session.as_bytes()));
    }
    if !shape.keep_alive {
        headers.push(("Connection", b"close"));
    }
    write_response_head(&mut out, 200, headers, Framing::Length(body.len() as u64));
    out.extend_from_slice(body);
    state.metrics.status(200);
    client.write_all(&out).await.map_err(ProxyError::Http)?;
    Ok(shape.keep_alive)
}

/// Writes a bodyless answer (202 for notifications, 200 for DELETE).
///
/// # Errors
/// The client's write error.
pub async fn write_empty(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    status: u16,
    shape: ClientShape<'_>,
) -> Result<bool, ProxyError> {
    let mut out = state.bufs.lease(128);
    let close: &[(&str, &[u8])] = if shape.keep_alive {
        &[]
    } else {
        &[("Connection", b"close")]
    };
    write_response_head(&mut out, status, close.iter().copied(), Framing::Length(0));
    state.metrics.status(status);
    client.write_all(&out).await.map_err(ProxyError::Http)?;
    Ok(shape.keep_alive)
}

/// What woke a long-lived SSE stream that carries messages from `next`.
#[derive(Debug)]
pub enum StreamWake<T> {
    /// The next message, or `None` when its source ended.
    Message(Option<T>),
    /// The client hung up (or sent bytes, which a stream's client never does).
    ClientGone,
    /// The shard is shutting down.
    Shutdown,
}

/// Waits for the stream's next message while watching for the client hanging up and for
/// shutdown (GET streams and `subscriptions/listen` alike).
pub async fn next_or_end<T>(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    next: impl std::future::Future<Output = Option<T>>,
) -> StreamWake<T> {
    futures_lite::future::or(
        async { StreamWake::Message(next.await) },
        futures_lite::future::or(
            async {
                // A stream's client sends nothing on it: any byte or EOF ends the stream.
                let _ = client.await_data().await;
                StreamWake::ClientGone
            },
            async {
                state.shutdown.wait().await;
                StreamWake::Shutdown
            },
        ),
    )
    .await
}

/// An SSE answer being written.
#[derive(Debug)]
pub struct SseOut {
    chunked: bool,
    keep_alive: bool,
    session: Option<String>,
    started: bool,
    scratch: Vec<u8>,
    stages: Option<RouteStages>,
}

impl SseOut {
    /// An SSE answer for a client of this shape (nothing written yet).
    pub fn new(shape: ClientShape<'_>) -> Self {
        SseOut {
            chunked: shape.http11,
            // A close-delimited stream (HTTP/1.0) ends with the connection.
            keep_alive: shape.keep_alive && shape.http11,
            session: shape.session.map(str::to_owned),
            started: false,
            scratch: Vec::with_capacity(512),
            stages: shape.stages.filter(|s| s.judges_responses()).cloned(),
        }
    }

    /// Writes the response head.
    ///
    /// # Errors
    /// The client's write error, or `CLIENT_WRITE_TIMEOUT` passing (as a hang-up).
    pub async fn start(
        &mut self,
        state: &ShardState,
        client: &mut HttpConn<NetStream>,
    ) -> Result<(), ProxyError> {
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("Content-Type", b"text/event-stream"),
            ("Cache-Control", b"no-cache"),
            // Buffering reverse proxies in front would hold events back (2026-07-28 asks for it).
            ("X-Accel-Buffering", b"no"),
        ];
        if let Some(session) = &self.session {
            headers.push(("Mcp-Session-Id", session.as_bytes()));
        }
        if !self.keep_alive {
            headers.push(("Connection", b"close"));
        }
        let framing = if self.chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
        self.scratch.clear();
        write_response_head(&mut self.scratch, 200, headers, framing);
        state.metrics.status(200);
        self.started = true;
        write_bounded(client, &self.scratch).await
    }

    /// Writes one message as one event (after the response side: a held message is waited
    /// for here, and a dropped one is not written).
    ///
    /// # Errors
    /// The client's write error, or `CLIENT_WRITE_TIMEOUT` passing (as a hang-up); the client
    /// going away while a message is held.
    pub async fn event(
        &mut self,
        state: &ShardState,
        client: &mut HttpConn<NetStream>,
        message: &[u8],
    ) -> Result<(), ProxyError> {
        self.event_live(state, client, message, None).await
    }

    /// Writes one message as one event, after the interception rules of a stream that answers
    /// no request (`live`: a session's GET stream) when it has them.
    ///
    /// # Errors
    /// As [`SseOut::event`].
    pub async fn event_live(
        &mut self,
        state: &ShardState,
        client: &mut HttpConn<NetStream>,
        message: &[u8],
        live: Option<&StreamAnswers<'_>>,
    ) -> Result<(), ProxyError> {
        let event = (message, "text/event-stream");
        let sent = match judged(self.stages.as_ref(), message) {
            Ok(sent) => sent,
            Err(hold) => Box::pin(held(state, client, hold, event)).await?,
        };
        let sent = match live {
            None => sent,
            Some(live) => match judged_live(live, sent, message) {
                Ok(sent) => sent,
                Err(hold) => Box::pin(held(state, client, hold, event)).await?,
            },
        };
        note(message, &sent, "text/event-stream");
        let Some(message) = sent.bytes(message) else {
            return Ok(());
        };
        let mut event = Vec::with_capacity(message.len() + 16);
        write_event(&mut event, None, None, message);
        self.scratch.clear();
        if self.chunked {
            write_chunk(&mut self.scratch, &event);
        } else {
            self.scratch.extend_from_slice(&event);
        }
        write_bounded(client, &self.scratch).await
    }

    /// Ends the stream (writing the head first if nothing was sent); returns whether the
    /// connection stays open.
    ///
    /// # Errors
    /// The client's write error, or `CLIENT_WRITE_TIMEOUT` passing (as a hang-up).
    pub async fn finish(
        &mut self,
        state: &ShardState,
        client: &mut HttpConn<NetStream>,
    ) -> Result<bool, ProxyError> {
        if !self.started {
            self.start(state, client).await?;
        }
        if self.chunked {
            write_bounded(client, LAST_CHUNK).await?;
        }
        Ok(self.keep_alive)
    }
}

/// Writes `bytes` to the client within [`CLIENT_WRITE_TIMEOUT`]. A client that stops reading is
/// let go after a while, as if it hung up (the caller drops its upstream calls): the calls'
/// messages (progress, server→client requests) would otherwise pile up in the proxy, and a
/// batch would hold its upstream connections, while this write waits.
/// The bound is on progress, not on the whole write: each [`WRITE_PIECE`] gets the timeout, so
/// a slow but reading client still gets a large event.
async fn write_bounded(client: &mut HttpConn<NetStream>, bytes: &[u8]) -> Result<(), ProxyError> {
    for piece in bytes.chunks(WRITE_PIECE) {
        within(CLIENT_WRITE_TIMEOUT, client.write_all(piece))
            .await
            .unwrap_or(Err(crate::http::Error::UnexpectedEof))
            .map_err(ProxyError::Http)?;
    }
    Ok(())
}

/// How much of a long write must leave within [`CLIENT_WRITE_TIMEOUT`] (a client's socket
/// buffer takes about this much at a time).
const WRITE_PIECE: usize = 64 * 1024;

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
