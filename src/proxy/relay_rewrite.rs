//! Relays an upstream answer whose messages the route's stages may change (today: a tool
//! listing on a route with a tool filter), one message at a time: a JSON body is one message
//! (read whole, bounded by the SSE event limit); an SSE body goes event by event, each event
//! held only until it is complete, then forwarded as the upstream's bytes or, when a stage
//! changed its message, written anew. A message an interception rule holds (`delay`, `pause`)
//! is settled before it, or anything after it, goes out; what preceded it went out already.
//!
//! Not here: the pass-through relay every other answer takes (relay.rs), deciding which
//! answers need this (`RouteStages::rewrites_answer`).
//! Per answer: one buffer for the event being read (at most `max_sse_event` bytes); the
//! next upstream read waits for the client write, as in relay.rs.

use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};

use crate::http::{
    write_chunk, write_event, BodyReader, Framing, Head, HttpConn, MessageKind, ResponseHead,
    SseEvent, SseParser, SseStep, LAST_CHUNK,
};
use crate::pipeline::intercept::{AnswerHold, Outgoing, Sent};

use super::headers::{client_response, OutFraming};
use super::intercept::settle;
use super::metrics::Counter;
use super::record::AnswerTap;
use super::relay_plan::{
    next_piece, out_framing, send, while_held, NotSent, RelayEnd, RelayPlan, STREAM_WRITE_TIMEOUT,
};

/// Like `relay::relay`, with `plan.stages`' response side applied to every message.
pub(super) async fn relay_rewritten<C, U>(
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
    let sse = head.is_event_stream() && !matches!(framing, Framing::Empty);
    let broken = |why| broken(sse, why);
    let Ok(mut reader) = BodyReader::new(framing, MessageKind::Response, plan.max_body) else {
        return broken(NotSent::Broken);
    };
    let out_framing = client_framing(head, framing, sse, plan.client_http11);
    let keep_alive = plan.client_keep_alive && out_framing != OutFraming::Close;
    let write_limit = plan.idle_timeout.unwrap_or(STREAM_WRITE_TIMEOUT);
    let mut body = Vec::new();
    let mut events = SseParser::new(plan.max_sse_event);
    let tap = AnswerTap::new(head, framing, plan.max_sse_event);
    let chunked = out_framing == OutFraming::Chunked;
    scratch.clear();
    if sse {
        // The head goes out at once: a stream may stay silent for long (a GET stream).
        client_response(scratch, head, plan.session, out_framing, keep_alive);
        if !send(client, scratch, write_limit).await {
            return RelayEnd::ClientGone;
        }
    }
    let mut stopped = false;
    if sse {
        let io = (&mut *client, &mut *upstream, &mut reader);
        let out = (&mut *scratch, tap.as_ref(), chunked, write_limit);
        if let Err(end) = events_rest(io, (&mut events, &mut body), &plan, out, &mut stopped).await
        {
            return end;
        }
        // A block the upstream never ended is not an event (a client's parser drops it too),
        // and it was never judged by the stages: it is not forwarded.
        if chunked {
            scratch.extend_from_slice(LAST_CHUNK);
        }
    } else {
        loop {
            let Some(piece) = next_piece(client, upstream, &mut reader, &plan, &mut stopped).await
            else {
                return RelayEnd::ClientGone;
            };
            match piece {
                Some(Ok(Some(data))) => {
                    if body.len() + data.len() > plan.max_sse_event {
                        // Too large to judge as one message: refuse rather than leak hidden
                        // tools.
                        return RelayEnd::NotSent(NotSent::TooLarge);
                    }
                    body.extend_from_slice(data);
                }
                Some(Ok(None)) => break,
                Some(Err(_)) => return broken(NotSent::Broken),
                None => return broken(NotSent::Silent),
            }
        }
        let sent = match plan.response(&body) {
            Outgoing::Now(sent) => sent,
            Outgoing::Hold(hold) => {
                // The upstream's answer is complete: its slot is not held with it.
                plan.release_slot();
                match while_held(client, settle(plan.state, hold, &body)).await {
                    Some(sent) => sent,
                    None => {
                        // Never forwarded: the tape says so (`null`).
                        if let Some(tap) = tap.as_ref() {
                            tap.whole(&body, Some(None));
                        }
                        return RelayEnd::ClientGone;
                    }
                }
            }
        };
        json_answer(
            (&mut *scratch, tap.as_ref()),
            head,
            &plan,
            (&body, &sent),
            (out_framing, keep_alive),
        );
    }
    if !scratch.is_empty() && !send(client, scratch, write_limit).await {
        return RelayEnd::ClientGone;
    }
    RelayEnd::Complete {
        upstream_reusable: !stopped
            && reader.is_done()
            && framing != Framing::UntilClose
            && head.keep_alive(),
        client_keep_alive: keep_alive,
    }
}

/// The event loop of an SSE answer (from wherever `parser` stands: the pass-through relay
/// hands a GET stream over mid-way when a rule set starts judging it): every complete event
/// goes to the client, judged, until the body ends (`Ok`) or the relay ends otherwise (`Err`).
/// `held` is the unfinished block's bytes.
pub(super) async fn events_rest<C, U>(
    io: (&mut HttpConn<C>, &mut HttpConn<U>, &mut BodyReader),
    events: (&mut SseParser, &mut Vec<u8>),
    plan: &RelayPlan<'_>,
    out: (&mut Vec<u8>, Option<&AnswerTap>, bool, Duration),
    stopped: &mut bool,
) -> Result<(), RelayEnd>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    events_until(io, events, plan, out, stopped, |_, _| false)
        .await
        .map(|_| ())
}

/// [`events_rest`] that also stops before a read once `back(parser, held)` holds (the relay
/// hands the stream back to pass-through): `Ok(true)` the body ended, `Ok(false)` handed back.
pub(super) async fn events_until<C, U>(
    (client, upstream, reader): (&mut HttpConn<C>, &mut HttpConn<U>, &mut BodyReader),
    (parser, held): (&mut SseParser, &mut Vec<u8>),
    plan: &RelayPlan<'_>,
    out: (&mut Vec<u8>, Option<&AnswerTap>, bool, Duration),
    stopped: &mut bool,
    back: impl Fn(&SseParser, &[u8]) -> bool,
) -> Result<bool, RelayEnd>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (scratch, tap, chunked, write_limit) = out;
    loop {
        if back(parser, held) {
            return Ok(false);
        }
        let Some(piece) = next_piece(client, upstream, reader, plan, stopped).await else {
            return Err(RelayEnd::ClientGone);
        };
        match piece {
            Some(Ok(Some(data))) => {
                let out = (&mut *scratch, tap, chunked, write_limit);
                rewrite_piece(client, data, (&mut *parser, &mut *held), plan, out).await?;
            }
            Some(Ok(None)) => return Ok(true),
            Some(Err(_)) | None => return Err(RelayEnd::UpstreamBroken),
        }
    }
}

/// One body piece of an SSE answer: its complete events judged and written to the client,
/// each one a rule holds settled first (what preceded it went out before).
pub(super) async fn rewrite_piece<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut HttpConn<C>,
    mut data: &[u8],
    (parser, held): (&mut SseParser, &mut Vec<u8>),
    plan: &RelayPlan<'_>,
    (scratch, tap, chunked, write_limit): (&mut Vec<u8>, Option<&AnswerTap>, bool, Duration),
) -> Result<(), RelayEnd> {
    loop {
        let sink = (&mut *scratch, tap);
        let Ok(step) = rewrite_events(parser, held, data, chunked, plan, sink) else {
            return Err(RelayEnd::UpstreamBroken);
        };
        // What precedes a held event goes out before the hold.
        if !scratch.is_empty() && !send(client, scratch, write_limit).await {
            return Err(RelayEnd::ClientGone);
        }
        let Some((event, rest)) = step else {
            return Ok(());
        };
        let Some(()) = settle_event(client, event, chunked, plan, (scratch, tap)).await else {
            return Err(RelayEnd::ClientGone);
        };
        if !scratch.is_empty() && !send(client, scratch, write_limit).await {
            return Err(RelayEnd::ClientGone);
        }
        data = data.get(rest..).unwrap_or_default();
    }
}

/// How a failure ends the relay: before any byte reached the client (a JSON answer is held
/// whole) it is still answered (502/504); an SSE answer's head is out already.
fn broken(sse: bool, why: NotSent) -> RelayEnd {
    if sse {
        RelayEnd::UpstreamBroken
    } else {
        RelayEnd::NotSent(why)
    }
}

/// The client's framing: a stage may change the body's length, so the upstream's length is
/// never promised.
fn client_framing(head: &ResponseHead, framing: Framing, sse: bool, http11: bool) -> OutFraming {
    match out_framing(head, framing, http11) {
        // A JSON body's length is set once the (maybe rewritten) message is known.
        OutFraming::Length(_) | OutFraming::Chunked | OutFraming::Close if !sse => {
            OutFraming::Length(0)
        }
        // A rewritten event changes an SSE body's length: never promise the upstream's.
        OutFraming::Length(_) if http11 => OutFraming::Chunked,
        OutFraming::Length(_) => OutFraming::Close,
        other => other,
    }
}

/// Writes a JSON answer into `out`: its one message, judged whole (`sent`), under a head
/// with the length of what is sent (the upstream's bytes or the rewritten message).
fn json_answer(
    (out, tap): (&mut Vec<u8>, Option<&AnswerTap>),
    head: &ResponseHead,
    plan: &RelayPlan<'_>,
    (body, sent): (&[u8], &Sent),
    (framing, keep_alive): (OutFraming, bool),
) {
    if let Some(tap) = tap.filter(|_| !body.is_empty()) {
        tap.whole(body, sent.forwarded());
    }
    // A dropped message (a notification an operator blocked) leaves an empty body.
    let message = sent.bytes(body).unwrap_or_default();
    let framing = match framing {
        OutFraming::NoBody => OutFraming::NoBody,
        _ => OutFraming::Length(message.len() as u64),
    };
    client_response(out, head, plan.session, framing, keep_alive);
    out.extend_from_slice(message);
}

/// An SSE event a rule holds: what settling and writing it takes.
struct HeldEvent {
    hold: AnswerHold,
    /// Its data, as the upstream sent it.
    data: Vec<u8>,
    /// Its `id`, `event` and `retry` fields (kept when it is written anew).
    fields: Fields,
    /// The block as the upstream sent it.
    raw: Vec<u8>,
}

/// An event's `id`, `event` and `retry` fields.
type Fields = (Option<String>, Option<String>, Option<u64>);

/// Feeds one body piece: every block it completes goes to `out` (the upstream's bytes, or the
/// event written anew when a stage changed its data); the unfinished block stays in `held`.
/// Stops at an event a rule holds: it comes back with where the rest of `piece` starts, and
/// nothing after it is written.
fn rewrite_events(
    parser: &mut SseParser,
    held: &mut Vec<u8>,
    mut piece: &[u8],
    chunked: bool,
    plan: &RelayPlan<'_>,
    (out, tap): (&mut Vec<u8>, Option<&AnswerTap>),
) -> Result<Option<(HeldEvent, usize)>, crate::http::Error> {
    let whole = piece.len();
    let mut block = Vec::new();
    loop {
        let (consumed, sent, fields) = match parser.next(piece)? {
            SseStep::NeedMore => {
                held.extend_from_slice(piece);
                return Ok(None);
            }
            SseStep::Event {
                event, consumed, ..
            } => {
                plan.metrics.incr(Counter::SseEvents);
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let fields = || (event.id.map(text), event.event.map(text), event.retry);
                match plan.response(event.data) {
                    Outgoing::Now(sent) => {
                        if let Some(tap) = tap {
                            tap.event(&event, sent.forwarded());
                        }
                        let fields = sent.changed().map(|_| fields());
                        (consumed, sent, fields)
                    }
                    Outgoing::Hold(hold) => {
                        let mut raw = std::mem::take(held);
                        raw.extend_from_slice(piece.get(..consumed).unwrap_or_default());
                        let at = whole - piece.len() + consumed;
                        let data = event.data.to_vec();
                        let fields = fields();
                        return Ok(Some((
                            HeldEvent {
                                hold,
                                data,
                                fields,
                                raw,
                            },
                            at,
                        )));
                    }
                }
            }
            SseStep::Skipped { consumed, .. } => (consumed, Sent::Original, None),
        };
        block.clear();
        match (&sent, fields) {
            (Sent::Changed(data), Some(fields)) => write_anew(&mut block, &fields, data),
            (Sent::Dropped, _) => {}
            _ => {
                block.extend_from_slice(held);
                block.extend_from_slice(piece.get(..consumed).unwrap_or_default());
            }
        }
        held.clear();
        frame(out, &block, chunked);
        piece = piece.get(consumed..).unwrap_or_default();
    }
}

/// Settles a held event (the client going away ends the hold: `None`, and the tape notes it
/// as not forwarded) and writes what goes in its place into `out`.
async fn settle_event<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut HttpConn<C>,
    held: HeldEvent,
    chunked: bool,
    plan: &RelayPlan<'_>,
    (out, tap): (&mut Vec<u8>, Option<&AnswerTap>),
) -> Option<()> {
    let HeldEvent {
        hold,
        data,
        fields,
        raw,
    } = held;
    if super::intercept::is_answer(&data) {
        // The request is answered upstream (the rest of its stream may still come): its slot
        // is not held with the answer.
        plan.release_slot();
    }
    let sent = while_held(client, settle(plan.state, hold, &data)).await;
    if let Some(tap) = tap {
        let event = SseEvent {
            id: fields.0.as_deref().map(str::as_bytes),
            event: fields.1.as_deref().map(str::as_bytes),
            data: &data,
            retry: fields.2,
        };
        tap.event(&event, sent.as_ref().map_or(Some(None), Sent::forwarded));
    }
    let sent = sent?;
    let mut block = Vec::new();
    match &sent {
        Sent::Original => block = raw,
        Sent::Changed(data) => write_anew(&mut block, &fields, data),
        Sent::Dropped => return Some(()),
    }
    frame(out, &block, chunked);
    Some(())
}

/// An event written anew with `data`, keeping its fields.
fn write_anew(block: &mut Vec<u8>, (id, kind, retry): &Fields, data: &[u8]) {
    if let Some(ms) = retry {
        // Kept for clients that poll (2025-11-25 resumability).
        block.extend_from_slice(format!("retry: {ms}\n").as_bytes());
    }
    write_event(block, id.as_deref(), kind.as_deref(), data);
}

/// Appends `block` to `out` (chunk-framed on a chunked answer).
fn frame(out: &mut Vec<u8>, block: &[u8], chunked: bool) {
    if chunked {
        write_chunk(out, block);
    } else {
        out.extend_from_slice(block);
    }
}
