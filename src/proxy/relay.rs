//! Relays an upstream response to the client: head rewritten, body streamed piece by piece
//! as it arrives (SSE events reach the client as soon as the upstream sends them).
//!
//! A GET stream (`RelayPlan::live`) turns message by message (relay_rewrite.rs) once a rule
//! set that judges it is put in force: at the end of the event under way (a read need not end
//! between events); it passes reads through again once no rule may judge it and no event is
//! half read.
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
use super::metrics::{Counter, ProxyMetrics};
use super::record::AnswerTap;
use super::relay_plan::{next_piece, out_framing, send, NotSent, STREAM_WRITE_TIMEOUT};
pub use super::relay_plan::{until_client_gone, RelayEnd, RelayPlan};
use super::relay_rewrite::{events_until, relay_rewritten, rewrite_piece};
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
    // The unfinished event's bytes while the stream is judged message by message.
    let mut held = Vec::new();
    loop {
        // Shutdown ends a long-lived stream cleanly: the client sees a complete response and
        // reconnects (with Last-Event-ID) to another instance.
        let Some(piece) = next_piece(client, upstream, &mut reader, &plan, &mut stopped).await
        else {
            return RelayEnd::ClientGone;
        };
        match piece {
            Some(Ok(Some(data))) => {
                let chunked = out_framing == OutFraming::Chunked;
                let turn = match events.as_mut() {
                    Some(parser) if judged(&plan, out_framing) => {
                        match turn_at(parser, data, tap.as_ref(), plan.metrics) {
                            Ok(turn) => turn,
                            Err(_) => return RelayEnd::UpstreamBroken,
                        }
                    }
                    _ => Turn::No,
                };
                let prefix = match turn {
                    Turn::At(at) => data.get(..at).unwrap_or_default(),
                    _ => data,
                };
                if let (Some(tap), false) = (&mut tap, events.is_some()) {
                    tap.json(data);
                }
                // The parser saw what `turn_at` fed it already.
                let parser = match turn {
                    Turn::No => events.as_mut().map(|parser| (parser, tap.as_ref())),
                    _ => None,
                };
                if frame_piece(scratch, prefix, chunked, parser, &plan).is_err() {
                    return RelayEnd::UpstreamBroken;
                }
                let (Turn::At(at), Some(parser)) = (turn, events.as_mut()) else {
                    if !send(client, scratch, write_limit).await {
                        return RelayEnd::ClientGone;
                    }
                    continue;
                };
                // A rule set that judges this stream is in force: from this event on, message
                // by message (boxed: only such a stream pays for the larger future), until
                // no rule may judge it any more (then back to passing reads through).
                let rest = data.get(at..).unwrap_or_default();
                let out = (&mut *scratch, tap.as_ref(), chunked, write_limit);
                let first = rewrite_piece(client, rest, (&mut *parser, &mut held), &plan, out);
                if let Err(end) = Box::pin(first).await {
                    return end;
                }
                let io = (&mut *client, &mut *upstream, &mut reader);
                let out = (&mut *scratch, tap.as_ref(), chunked, write_limit);
                let back = |parser: &SseParser, held: &[u8]| hands_back(&plan, parser, held);
                let rest = events_until(io, (parser, &mut held), &plan, out, &mut stopped, back);
                match Box::pin(rest).await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(end) => return end,
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

/// Whether a rule set that judges this GET stream is in force (one generation compare per
/// piece otherwise). A stream whose length the client was promised keeps passing through.
fn judged(plan: &RelayPlan<'_>, framing: OutFraming) -> bool {
    !matches!(framing, OutFraming::Length(_)) && plan.live.is_some_and(|live| live.judging())
}

/// Whether a GET stream judged message by message goes back to passing reads through: no
/// event is half read and neither the route's stages nor a rule may judge its messages.
fn hands_back(plan: &RelayPlan<'_>, parser: &SseParser, held: &[u8]) -> bool {
    parser.between_events()
        && held.is_empty()
        && !plan.stages.judges_responses()
        && !plan.live.is_some_and(|live| live.judging())
}

/// Where a judged stream's piece turns message by message.
#[derive(Debug, Clone, Copy)]
enum Turn {
    /// Not judged: the piece passes through (fed to the parser as it goes).
    No,
    /// The piece only continues the event under way: it passes through (the parser saw it).
    Fed,
    /// The event under way ends `at` this offset (0: the piece starts a new event): what
    /// precedes it passes through (the parser saw it, its event counted), the rest is judged.
    At(usize),
}

/// Finds where a judged stream's piece turns: at once when it starts a new event, else where
/// the event under way ends (a steady stream's reads need not end between events). Counts and
/// taps that event; nothing of it is judged, as its start went out unjudged.
///
/// # Errors
/// The upstream's SSE is malformed.
fn turn_at(
    parser: &mut SseParser,
    piece: &[u8],
    tap: Option<&AnswerTap>,
    metrics: &ProxyMetrics,
) -> Result<Turn, crate::http::Error> {
    if parser.between_events() {
        return Ok(Turn::At(0));
    }
    Ok(match parser.next(piece)? {
        SseStep::NeedMore => Turn::Fed,
        SseStep::Event {
            consumed, event, ..
        } => {
            if let Some(tap) = tap {
                tap.event(&event, None);
            }
            metrics.incr(Counter::SseEvents);
            Turn::At(consumed)
        }
        SseStep::Skipped { consumed, .. } => Turn::At(consumed),
    })
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

#[cfg(test)]
#[path = "relay_tests.rs"]
mod relay_tests;
