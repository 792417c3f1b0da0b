//! Where a pass-through GET stream turns message by message ([`turn_at`]): with the upstream's
//! reads split at every point, what passes through before the turn plus what is judged after it
//! is exactly the upstream's bytes, and every event after the turn is judged once.

use super::*;

/// Awkward streams: CRLF, lone CR ends (a CR closing one read, its LF opening the next),
/// comment-only and retry-only blocks, an id-only block.
const STREAMS: &[&[u8]] = &[
    b"data: one\n\ndata: two\n\ndata: three\n\n",
    b"data: one\r\n\r\n: ping\r\n\r\ndata: two\r\n\r\nretry: 5\r\n\r\ndata: three\r\n\r\n",
    b"data: one\r\rid: 7\rdata: two\r\r: c\r\rdata: three\r\r",
    b"id: 1\ndata: one\n\nretry: 10\n\n: only a comment\n\nid: 2\n\ndata: two\n\n",
];

/// One parser step: `None` when `input` ends mid-block, else the block's length and, for an
/// event, its data.
fn block(parser: &mut SseParser, input: &[u8]) -> Option<(usize, Option<Vec<u8>>)> {
    match parser.next(input).expect("valid SSE") {
        SseStep::NeedMore => None,
        SseStep::Event {
            consumed, event, ..
        } => Some((consumed, Some(event.data.to_vec()))),
        SseStep::Skipped { consumed, .. } => Some((consumed, None)),
    }
}

/// The events `bytes` holds, from a fresh parse (their data).
fn events_in(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut parser = SseParser::new(1 << 16);
    let (mut rest, mut out) = (bytes, Vec::new());
    while let Some((consumed, data)) = block(&mut parser, rest) {
        out.extend(data);
        rest = &rest[consumed..];
    }
    out
}

/// Relays `pieces` as relay.rs does with a rule set arriving before piece `switch`: returns
/// the bytes passed through, the bytes judged (raw, as rewrite_events forwards an unchanged
/// event) and the events judged.
fn drive(pieces: &[&[u8]], switch: usize) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let metrics = ProxyMetrics::new();
    let mut parser = SseParser::new(1 << 16);
    let (mut passed, mut judged_raw, mut judged, mut held) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut judging = false;
    for (n, piece) in pieces.iter().enumerate() {
        let mut rest: &[u8] = piece;
        if !judging {
            if n < switch {
                count_events(&mut parser, piece, None).expect("valid SSE");
                passed.extend_from_slice(piece);
                continue;
            }
            match turn_at(&mut parser, piece, None, &metrics).expect("valid SSE") {
                Turn::No | Turn::Fed => {
                    passed.extend_from_slice(piece);
                    continue;
                }
                Turn::At(at) => {
                    passed.extend_from_slice(&piece[..at]);
                    rest = &piece[at..];
                    judging = true;
                }
            }
        }
        loop {
            let Some((consumed, data)) = block(&mut parser, rest) else {
                held.extend_from_slice(rest);
                break;
            };
            judged.extend(data);
            judged_raw.append(&mut held);
            judged_raw.extend_from_slice(&rest[..consumed]);
            rest = &rest[consumed..];
        }
    }
    // The LF of a CRLF split after its CR opens the next block: the stream's last one is
    // left over (relay_rewrite.rs drops an unfinished block; the event ended at the CR).
    assert!(held.iter().all(|b| *b == b'\n') && held.len() <= 1);
    judged_raw.append(&mut held);
    (passed, judged_raw, judged)
}

#[test]
fn a_stream_turns_at_the_end_of_the_event_under_way_whatever_the_reads() {
    for stream in STREAMS {
        let all = events_in(stream);
        for first in 1..stream.len() {
            for second in first..stream.len() {
                let pieces: [&[u8]; 3] =
                    [&stream[..first], &stream[first..second], &stream[second..]];
                for switch in 0..3 {
                    let (passed, judged_raw, judged) = drive(&pieces, switch);
                    let mut whole = passed.clone();
                    whole.extend_from_slice(&judged_raw);
                    assert_eq!(whole, *stream, "split {first}/{second}, switch {switch}");
                    // Every event not passed through whole is judged, once.
                    let unjudged = events_in(&passed);
                    assert_eq!(unjudged.len() + judged.len(), all.len());
                    assert_eq!([unjudged, judged].concat(), all);
                    // The turn comes at the first boundary at or after the switch read.
                    let start: usize = pieces[..switch].iter().map(|p| p.len()).sum();
                    assert!(passed.len() >= start);
                    // Beyond the switch read, only the event under way passes unjudged.
                    let mut before = SseParser::new(1 << 16);
                    count_events(&mut before, &stream[..start], None).expect("valid SSE");
                    let under_way = usize::from(!before.between_events());
                    let by_then = events_in(&stream[..start]).len();
                    assert!(
                        events_in(&passed).len() <= by_then + under_way,
                        "split {first}/{second}, switch {switch}: an event after the switch passed"
                    );
                }
            }
        }
    }
}
