//! Relays an upstream response to the client: head rewritten, body streamed piece by piece
//! as it arrives (SSE events reach the client as soon as the upstream sends them).
//!
//! Not here: deciding what to send upstream (exchange.rs) or session bookkeeping (post.rs).
//! Hot path: one pooled scratch buffer; a JSON body already read with the head goes out in the
//! same write as the head. Backpressure: the next upstream read waits for the client write.

use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};

use crate::http::{
    BodyReader, Framing, Head, HttpConn, MessageKind, ResponseHead, SseParser, SseStep,
};

use super::exchange::{finish, Exchange};
use super::headers::{client_response, OutFraming};
use super::metrics::{Counter, ProxyMetrics};
use super::relay_rewrite::relay_rewritten;
use super::state::ShardState;
use crate::pipeline::RouteStages;
use shards::latch::Latch;
use shards::timeout::within;

/// Pooled buffer the relay assembles client writes in (grows for large pieces).
const SCRATCH_BYTES: usize = 4096;

/// How long a write to a client on a long-lived stream may stall (a client that stopped
/// reading); request responses use the upstream's request timeout instead.
pub(super) const STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnd {
    /// The whole body went to the client; the upstream connection may be reused.
    Complete {
        /// Whether the upstream connection is clean for the next request.
        upstream_reusable: bool,
        /// Whether the client connection may carry another request (false when the body was
        /// delimited by closing, for HTTP/1.0 clients).
        client_keep_alive: bool,
    },
    /// The client went away; the upstream connection must be dropped.
    ClientGone,
    /// The upstream failed or stalled mid-body after the head was sent: the client
    /// connection must be closed (its response is truncated).
    UpstreamBroken,
}

/// What the client is told about the response.
#[derive(Debug, Clone, Copy)]
pub struct RelayPlan<'a> {
    /// Client-facing session id to put in `Mcp-Session-Id`, if any.
    pub session: Option<&'a str>,
    /// Whether the client connection stays open afterwards.
    pub client_keep_alive: bool,
    /// Whether the client speaks HTTP/1.1 (can take chunked bodies).
    pub client_http11: bool,
    /// Longest silence allowed between body pieces (`None` for long-lived GET streams).
    pub idle_timeout: Option<Duration>,
    /// Most body bytes relayed (streams are bounded too; GET streams get `u64::MAX`).
    pub max_body: u64,
    /// Largest single SSE event allowed from the upstream; a larger one ends the stream.
    pub max_sse_event: usize,
    /// Where relayed SSE events are counted.
    pub metrics: &'a ProxyMetrics,
    /// For long-lived streams (GET): end the stream when this fires (shutdown).
    pub stop: Option<&'a Latch>,
    /// The route's stages; their response side runs on every message when `rewrite` is set.
    pub stages: &'a RouteStages,
    /// Relay message by message (relay_rewrite.rs) because a stage may change one.
    pub rewrite: bool,
}

/// Streams `head` + body from `upstream` to `client`. `scratch` is a pooled buffer.
pub async fn relay<C, U>(
    client: &mut HttpConn<C>,
    upstream: &mut HttpConn<U>,
    head: &ResponseHead,
    framing: Framing,
    plan: RelayPlan<'_>,
    scratch: &mut Vec<u8>,
) -> RelayEnd
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let out_framing = match framing {
        // 204/304 must not carry Content-Length: 0 (RFC 9110 §8.6); other empty bodies say 0.
        Framing::Empty if matches!(head.status(), 204 | 304) => OutFraming::NoBody,
        Framing::Empty => OutFraming::Length(0),
        Framing::Length(n) => OutFraming::Length(n),
        Framing::Chunked | Framing::UntilClose if plan.client_http11 => OutFraming::Chunked,
        Framing::Chunked | Framing::UntilClose => OutFraming::Close,
    };
    let keep_alive = plan.client_keep_alive && out_framing != OutFraming::Close;
    scratch.clear();
    client_response(scratch, head, plan.session, out_framing, keep_alive);

    let Ok(mut reader) = BodyReader::new(framing, MessageKind::Response, plan.max_body) else {
        return RelayEnd::UpstreamBroken;
    };
    let mut events = is_event_stream(head).then(|| SseParser::new(plan.max_sse_event));
    // A client that stops reading must not pin the upstream connection (or shutdown) forever.
    let write_limit = plan.idle_timeout.unwrap_or(STREAM_WRITE_TIMEOUT);
    if out_framing == OutFraming::Chunked && upstream.buffered().is_empty() {
        // A stream may stay silent for long (a GET stream, a slow tool): the client gets the
        // head now instead of with the first event.
        if !send(client, scratch, write_limit).await {
            return RelayEnd::ClientGone;
        }
    }
    let mut stopped = false;
    loop {
        let read = async {
            match plan.idle_timeout {
                Some(limit) => within(limit, upstream.next_body_chunk(&mut reader)).await,
                None => Some(upstream.next_body_chunk(&mut reader).await),
            }
        };
        let piece = match watch(client, read, plan.stop).await {
            Watched::Read(piece) => piece,
            Watched::ClientGone => return RelayEnd::ClientGone,
            // Shutdown ends a long-lived stream cleanly: the client sees a complete response
            // and reconnects (with Last-Event-ID) to another instance.
            Watched::Stopped => {
                stopped = true;
                Some(Ok(None))
            }
        };
        match piece {
            Some(Ok(Some(data))) => {
                if let Some(parser) = events.as_mut() {
                    match count_events(parser, data) {
                        Ok(n) => plan.metrics.add(Counter::SseEvents, n),
                        Err(_) => return RelayEnd::UpstreamBroken,
                    }
                }
                if out_framing == OutFraming::Chunked {
                    crate::http::write_chunk(scratch, data);
                } else {
                    scratch.extend_from_slice(data);
                }
                if !send(client, scratch, write_limit).await {
                    return RelayEnd::ClientGone;
                }
            }
            Some(Ok(None)) => break,
            Some(Err(_)) | None => {
                // Head (and maybe part of the body) is out: the only honest signal left is
                // closing the client connection without the terminating chunk.
                if !scratch.is_empty() {
                    send(client, scratch, write_limit).await;
                }
                return RelayEnd::UpstreamBroken;
            }
        }
    }
    if out_framing == OutFraming::Chunked {
        scratch.extend_from_slice(crate::http::LAST_CHUNK);
    }
    if !scratch.is_empty() && !send(client, scratch, write_limit).await {
        return RelayEnd::ClientGone;
    }
    RelayEnd::Complete {
        // A stream cut short by shutdown is mid-body upstream: never pool it.
        upstream_reusable: !stopped
            && reader.is_done()
            && framing != Framing::UntilClose
            && head.keep_alive(),
        client_keep_alive: keep_alive,
    }
}

/// Writes and clears `scratch`; false when the client is gone or stalled past `limit`.
pub(super) async fn send<C: AsyncWrite + AsyncRead + Unpin>(
    client: &mut HttpConn<C>,
    scratch: &mut Vec<u8>,
    limit: Duration,
) -> bool {
    let sent = matches!(within(limit, client.write_all(scratch)).await, Some(Ok(())));
    scratch.clear();
    sent
}

/// Relays a finished exchange's response to the client, counts its status, and returns the
/// upstream socket to the pool when clean. Returns whether the client connection stays open.
pub async fn relay_exchange(
    state: &ShardState,
    client: &mut HttpConn<glommio::net::TcpStream>,
    mut ex: Exchange,
    plan: RelayPlan<'_>,
) -> bool {
    let mut scratch = state.bufs.lease(SCRATCH_BYTES);
    let framing = ex.framing;
    let end = if plan.rewrite {
        relay_rewritten(client, &mut ex.conn, &ex.head, framing, plan, &mut scratch).await
    } else {
        relay(client, &mut ex.conn, &ex.head, framing, plan, &mut scratch).await
    };
    drop(scratch);
    state.metrics.status(ex.head.status());
    match end {
        RelayEnd::Complete {
            upstream_reusable,
            client_keep_alive,
        } => {
            finish(state, ex, upstream_reusable);
            client_keep_alive
        }
        RelayEnd::ClientGone => {
            // Never pooled: closing it is what cancels a 2026-07-28 request upstream.
            state.metrics.incr(Counter::ClientGone);
            finish(state, ex, false);
            false
        }
        RelayEnd::UpstreamBroken => {
            finish(state, ex, false);
            false
        }
    }
}

pub(super) fn is_event_stream(head: &ResponseHead) -> bool {
    head.header("content-type").is_some_and(|ct| {
        ct.split(|b| *b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii()
            .eq_ignore_ascii_case(b"text/event-stream")
    })
}

/// Feeds one body piece to the stream's parser; returns the events it completed. The parser
/// enforces the per-event size bound (an oversized event is an error that ends the stream).
fn count_events(parser: &mut SseParser, mut piece: &[u8]) -> Result<u64, crate::http::Error> {
    let mut events = 0;
    loop {
        let consumed = match parser.next(piece)? {
            SseStep::NeedMore => return Ok(events),
            SseStep::Event { consumed, .. } => {
                events += 1;
                consumed
            }
            SseStep::Skipped { consumed, .. } => consumed,
        };
        piece = piece.get(consumed..).unwrap_or_default();
    }
}

/// Awaits `work` (an upstream exchange not yet answered) while watching the client for EOF;
/// `None` when the client hung up first (`work` is dropped, and with it its upstream
/// connection). A client with pipelined bytes buffered is not watched.
pub async fn until_client_gone<C, F, T>(client: &mut HttpConn<C>, work: F) -> Option<T>
where
    C: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = T>,
{
    match watch(client, work, None).await {
        Watched::Read(done) => Some(done),
        Watched::ClientGone | Watched::Stopped => None,
    }
}

/// What ended the wait for the next upstream piece.
pub(super) enum Watched<T> {
    /// The upstream read finished (data, end, error or idle timeout).
    Read(T),
    /// The client closed its connection while we waited.
    ClientGone,
    /// The stop latch fired.
    Stopped,
}

/// Awaits `read` while watching the client for EOF (a client that hangs up on a silent stream
/// must not pin the upstream connection) and `stop`. Bytes the client sends meanwhile (a
/// pipelined request) stay buffered in `client`.
pub(super) async fn watch<C, F, T>(
    client: &mut HttpConn<C>,
    read: F,
    stop: Option<&Latch>,
) -> Watched<T>
where
    C: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = T>,
{
    let idle_client = client.buffered().is_empty();
    let client_gone = async {
        if idle_client {
            match client.await_data().await {
                Ok(0) | Err(_) => return Watched::ClientGone,
                Ok(_) => {}
            }
        }
        std::future::pending::<Watched<T>>().await
    };
    let stopped = async {
        match stop {
            Some(latch) => {
                latch.wait().await;
                Watched::Stopped
            }
            None => std::future::pending().await,
        }
    };
    futures_lite::future::or(
        async { Watched::Read(read.await) },
        futures_lite::future::or(client_gone, stopped),
    )
    .await
}
