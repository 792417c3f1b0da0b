//! Relays an upstream response to the client: head rewritten, body streamed piece by piece
//! as it arrives (SSE events reach the client as soon as the upstream sends them).
//!
//! A GET stream (`RelayPlan::live`) turns message by message (relay_rewrite.rs) at an event
//! boundary once a rule set that judges it is put in force.
//!
//! Not here: deciding what to send upstream (exchange.rs) or session bookkeeping (post.rs).
//! Hot path: one pooled scratch buffer; a JSON body already read with the head goes out in the
//! same write as the head. Backpressure: the next upstream read waits for the client write.

use futures_lite::{AsyncRead, AsyncWrite};

use crate::http::{
    BodyReader, Framing, Head, HttpConn, MessageKind, ResponseHead, SseParser, SseStep,
};

use super::error::ProxyError;
use super::exchange::{finish, Exchange};
use super::headers::{client_response, OutFraming};
use super::metrics::Counter;
use super::record::AnswerTap;
use super::relay_plan::{next_piece, out_framing, send, NotSent, STREAM_WRITE_TIMEOUT};
pub use super::relay_plan::{until_client_gone, RelayEnd, RelayPlan};
use super::relay_rewrite::{events_rest, relay_rewritten, rewrite_piece};
use super::respond::error_response;
use super::state::ShardState;

/// Pooled buffer the relay assembles client writes in (grows for large pieces).
const SCRATCH_BYTES: usize = 4096;

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
    let out_framing = out_framing(head, framing, plan.client_http11);
    let keep_alive = plan.client_keep_alive && out_framing != OutFraming::Close;
    scratch.clear();
    client_response(scratch, head, plan.session, out_framing, keep_alive);

    let Ok(mut reader) = BodyReader::new(framing, MessageKind::Response, plan.max_body) else {
        return RelayEnd::UpstreamBroken;
    };
    let mut events = head
        .is_event_stream()
        .then(|| SseParser::new(plan.max_sse_event));
    let mut tap = AnswerTap::new(head, framing, plan.max_sse_event);
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
        // Shutdown ends a long-lived stream cleanly: the client sees a complete response and
        // reconnects (with Last-Event-ID) to another instance.
        let Some(piece) = next_piece(client, upstream, &mut reader, &plan, &mut stopped).await
        else {
            return RelayEnd::ClientGone;
        };
        match piece {
            Some(Ok(Some(data))) if turns(&plan, events.as_ref(), out_framing) => {
                // A rule set that judges this stream arrived: from this event on, message by
                // message (boxed: only such a stream pays for the larger future).
                let (Some(parser), chunked) = (events.as_mut(), out_framing == OutFraming::Chunked)
                else {
                    return RelayEnd::UpstreamBroken;
                };
                let mut held = Vec::new();
                let out = (&mut *scratch, tap.as_ref(), chunked, write_limit);
                let first = rewrite_piece(client, data, (&mut *parser, &mut held), &plan, out);
                if let Err(end) = Box::pin(first).await {
                    return end;
                }
                let io = (&mut *client, &mut *upstream, &mut reader);
                let out = (&mut *scratch, tap.as_ref(), chunked, write_limit);
                let rest = events_rest(io, (parser, &mut held), &plan, out, &mut stopped);
                if let Err(end) = Box::pin(rest).await {
                    return end;
                }
                break;
            }
            Some(Ok(Some(data))) => {
                let chunked = out_framing == OutFraming::Chunked;
                if let (Some(tap), false) = (&mut tap, events.is_some()) {
                    tap.json(data);
                }
                let events = events.as_mut().map(|parser| (parser, tap.as_ref()));
                if frame_piece(scratch, data, chunked, events, &plan).is_err() {
                    return RelayEnd::UpstreamBroken;
                }
                if !send(client, scratch, write_limit).await {
                    return RelayEnd::ClientGone;
                }
            }
            Some(Ok(None)) => {
                if let Some(tap) = &mut tap {
                    tap.end_json();
                }
                break;
            }
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

/// Whether a pass-through GET stream turns message by message before this piece: a rule set
/// that judges it is in force, and the piece starts a new event (nothing of an unfinished one
/// went out unjudged; one generation compare per piece otherwise). A stream whose length the
/// client was promised keeps passing through.
fn turns(plan: &RelayPlan<'_>, events: Option<&SseParser>, framing: OutFraming) -> bool {
    let at_boundary = events.is_some_and(|parser| parser.pending_len() == 0);
    at_boundary
        && !matches!(framing, OutFraming::Length(_))
        && plan.live.is_some_and(|live| live.judging())
}

/// Relays a finished exchange's response to the client, counts its status, and returns the
/// upstream socket to the pool when clean. Returns whether the client connection stays open.
pub async fn relay_exchange(
    state: &ShardState,
    client: &mut HttpConn<shards::io::NetStream>,
    mut ex: Exchange,
    plan: RelayPlan<'_>,
) -> bool {
    let mut scratch = state.bufs.lease(SCRATCH_BYTES);
    let framing = ex.framing;
    if ex.head.is_event_stream() {
        // A stream may stay open for long: its client's idle read buffer goes back to the pool
        // meanwhile (issue 13, memory per open stream).
        if let Some(idle) = client.release_read_buf() {
            state.bufs.give(idle);
        }
    }
    let end = if plan.rewrite {
        // Boxed: only routes whose stages rewrite answers take it.
        Box::pin(relay_rewritten(
            client,
            &mut ex.conn,
            &ex.head,
            framing,
            plan,
            &mut scratch,
        ))
        .await
    } else {
        relay(client, &mut ex.conn, &ex.head, framing, plan, &mut scratch).await
    };
    drop(scratch);
    if !matches!(end, RelayEnd::NotSent(_)) {
        // A failure answered by the proxy counts its own status (answer_not_sent).
        state.metrics.status(ex.head.status());
    }
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
        RelayEnd::NotSent(why) => {
            finish(state, ex, false);
            answer_not_sent(state, client, why, &plan).await
        }
    }
}

/// Answers a request whose upstream answer failed before anything reached the client, as
/// other upstream failures are answered (502, or 504 when it went silent); returns whether
/// the client connection stays open.
async fn answer_not_sent(
    state: &ShardState,
    client: &mut HttpConn<shards::io::NetStream>,
    why: NotSent,
    plan: &RelayPlan<'_>,
) -> bool {
    let id = plan.request_id.cloned();
    let error = match why {
        NotSent::TooLarge => ProxyError::UpstreamUnavailable {
            id,
            reason: "the upstream's answer exceeds limits.max_sse_event_bytes".into(),
        },
        NotSent::Silent => ProxyError::UpstreamTimeout { id },
        NotSent::Broken => ProxyError::UpstreamUnavailable {
            id,
            reason: "the upstream's answer broke off".into(),
        },
    };
    tracing::warn!(%error, "upstream answer not relayed");
    let mut out = Vec::with_capacity(256);
    let status = error_response(&mut out, &error, plan.client_keep_alive);
    state.metrics.status(status);
    let limit = plan.idle_timeout.unwrap_or(STREAM_WRITE_TIMEOUT);
    send(client, &mut out, limit).await && plan.client_keep_alive
}

/// Adds one body piece to `out` in the client's framing, counting the SSE events it
/// completes (`events`: the parser of an SSE body).
///
/// # Errors
/// The upstream's SSE is malformed.
#[inline]
fn frame_piece(
    out: &mut Vec<u8>,
    data: &[u8],
    chunked: bool,
    events: Option<(&mut SseParser, Option<&AnswerTap>)>,
    plan: &RelayPlan<'_>,
) -> Result<(), crate::http::Error> {
    if let Some((parser, tap)) = events {
        plan.metrics
            .add(Counter::SseEvents, count_events(parser, data, tap)?);
    }
    if chunked {
        crate::http::write_chunk(out, data);
    } else {
        out.extend_from_slice(data);
    }
    Ok(())
}

/// Feeds one body piece to the stream's parser; returns the events it completed (each noted
/// on `tap` when the request is recorded). The parser enforces the per-event size bound (an
/// oversized event is an error that ends the stream).
fn count_events(
    parser: &mut SseParser,
    mut piece: &[u8],
    tap: Option<&AnswerTap>,
) -> Result<u64, crate::http::Error> {
    let mut events = 0;
    loop {
        let consumed = match parser.next(piece)? {
            SseStep::NeedMore => return Ok(events),
            SseStep::Event {
                consumed, event, ..
            } => {
                if let Some(tap) = tap {
                    tap.event(&event, None);
                }
                events += 1;
                consumed
            }
            SseStep::Skipped { consumed, .. } => consumed,
        };
        piece = piece.get(consumed..).unwrap_or_default();
    }
}
