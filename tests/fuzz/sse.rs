//! SSE parser (`http::sse::SseParser`): a stream of generated blocks parses to the same events
//! whether it arrives whole, split once at any point, in many pieces or byte by byte; the block
//! lengths always add up to the bytes consumed; `write_event` output parses back to what was
//! written; arbitrary bytes never panic (with tight event-size bounds too).
//!
//! Not here: the HTTP body carrying the stream (body.rs).

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use shadowcat::http::{write_event, SseParser, SseStep};

use crate::common::{apply, check, cuts, edits, pieces};

/// One parser step, owned. Block lengths are compared as a sum, not one by one: when an input
/// ends right after a CR the parser counts a following LF in the next block (see sse.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Event {
        id: Option<Vec<u8>>,
        event: Option<Vec<u8>>,
        data: Vec<u8>,
        retry: Option<u64>,
    },
    Skipped,
    Failed(String),
}

#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    steps: Vec<Seen>,
    last_event_id: Vec<u8>,
    last_retry: Option<u64>,
}

/// Feeds `pieces` to a fresh parser (unconsumed bytes kept, new ones appended), checking that
/// every block's length and the pending bytes add up to what was fed.
fn parse(pieces: &[&[u8]], max: usize) -> Result<Parsed, TestCaseError> {
    let mut parser = SseParser::new(max);
    let (mut buf, mut steps) = (Vec::new(), Vec::new());
    let (mut fed, mut blocks) = (0usize, 0usize);
    'feed: for piece in pieces {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let (consumed, raw_len) = match parser.next(&buf) {
                Ok(SseStep::Event {
                    event,
                    consumed,
                    raw_len,
                }) => {
                    steps.push(Seen::Event {
                        id: event.id.map(<[u8]>::to_vec),
                        event: event.event.map(<[u8]>::to_vec),
                        data: event.data.to_vec(),
                        retry: event.retry,
                    });
                    (consumed, raw_len)
                }
                Ok(SseStep::Skipped { consumed, raw_len }) => {
                    steps.push(Seen::Skipped);
                    (consumed, raw_len)
                }
                Ok(SseStep::NeedMore) => {
                    buf.clear();
                    break;
                }
                Err(error) => {
                    steps.push(Seen::Failed(format!("{error:?}")));
                    break 'feed;
                }
            };
            prop_assert!(consumed > 0 && consumed <= buf.len());
            buf.drain(..consumed);
            blocks += raw_len;
        }
        prop_assert_eq!(blocks + parser.pending_len(), fed);
        prop_assert!(
            parser.pending_len() <= max,
            "{} pending over a bound of {}",
            parser.pending_len(),
            max
        );
    }
    Ok(Parsed {
        steps,
        last_event_id: parser.last_event_id().to_vec(),
        last_retry: parser.last_retry(),
    })
}

/// All four ways of cutting `stream` parse the same.
fn same_however_split(
    stream: &[u8],
    one: &Index,
    many: &[Index],
    max: usize,
) -> Result<(), TestCaseError> {
    let whole = parse(&[stream], max)?;
    let at = one.index(stream.len() + 1);
    prop_assert_eq!(
        &parse(&[&stream[..at], &stream[at..]], max)?,
        &whole,
        "split at {}",
        at
    );
    prop_assert_eq!(
        &parse(&pieces(stream, &cuts(stream.len(), many)), max)?,
        &whole
    );
    let byte_by_byte: Vec<&[u8]> = stream.chunks(1).collect();
    prop_assert_eq!(&parse(&byte_by_byte, max)?, &whole);
    Ok(())
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![6 => "[ -~]{0,12}", 1 => "[^\r\n]{0,6}", 1 => Just("a\0b".to_owned())]
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => value().prop_map(|v| format!("data: {v}")),
        2 => value().prop_map(|v| format!("data:{v}")),
        1 => Just("data".to_owned()),
        2 => value().prop_map(|v| format!("id: {v}")),
        2 => value().prop_map(|v| format!("event: {v}")),
        1 => "[0-9]{1,6}a?".prop_map(|v| format!("retry: {v}")),
        1 => value().prop_map(|v| format!(":{v}")),
        1 => value().prop_map(|v| format!("other: {v}")),
        1 => "[a-z]{1,6}",
    ]
}

fn eol() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\r\n", "\n", "\r"])
}

/// Blocks of lines ended by blank lines, with mixed line ends, an optional BOM in front and an
/// optional unfinished block at the end.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let block = (prop::collection::vec((line(), eol()), 0..6), eol());
    (
        any::<bool>(),
        prop::collection::vec(block, 0..8),
        prop::collection::vec((line(), eol()), 0..3),
    )
        .prop_map(|(bom, blocks, unfinished)| {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            for (lines, end) in blocks {
                for (line, eol) in lines {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(eol.as_bytes());
                }
                out.extend_from_slice(end.as_bytes());
            }
            for (line, eol) in unfinished {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(eol.as_bytes());
            }
            out
        })
}

#[test]
fn an_event_stream_split_anywhere_parses_the_same() {
    let input = (
        stream(),
        any::<Index>(),
        prop::collection::vec(any::<Index>(), 0..32),
    );
    check("sse_split", 2000, input, |(stream, one, many)| {
        same_however_split(&stream, &one, &many, usize::MAX)
    });
}

#[test]
fn written_events_parse_back() {
    let input = (
        prop::option::of("[^\r\n\0]{0,12}"),
        prop::option::of("[^\r\n]{0,12}"),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<Index>(),
    );
    check(
        "sse_write_round_trip",
        2000,
        input,
        |(id, event, data, at)| {
            let mut out = Vec::new();
            write_event(&mut out, id.as_deref(), event.as_deref(), &data);
            // A receiver joins data lines with LF, whatever line end split them.
            let mut joined = Vec::new();
            let mut rest = &data[..];
            while let Some(end) = rest.iter().position(|b| *b == b'\r' || *b == b'\n') {
                joined.extend_from_slice(&rest[..end]);
                joined.push(b'\n');
                let skip = if rest.get(end..end + 2) == Some(b"\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[end + skip..];
            }
            joined.extend_from_slice(rest);
            let at = at.index(out.len() + 1);
            let parsed = parse(&[&out[..at], &out[at..]], usize::MAX)?;
            // A leading BOM would be eaten by the parser; write_event always starts with a field name.
            prop_assert_eq!(
                parsed.steps,
                vec![Seen::Event {
                    id: id.map(String::into_bytes),
                    event: event.filter(|e| !e.is_empty()).map(String::into_bytes),
                    data: joined,
                    retry: None,
                }]
            );
            Ok(())
        },
    );
}

#[test]
fn arbitrary_bytes_never_panic_the_sse_parser() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(
            prop::sample::select(&b"data:id event retry\r\n\r\n: 09\0\xEF\xBB\xBF"[..]),
            0..512
        ),
        (stream(), edits(6)).prop_map(|(s, e)| apply(s, &e)),
    ];
    let input = (
        bytes,
        any::<Index>(),
        prop::collection::vec(any::<Index>(), 0..32),
        0usize..256,
    );
    check("sse_arbitrary", 2000, input, |(stream, one, many, max)| {
        // Unbounded: the same events however split. Tight bound: no panic, and never more
        // than the bound pending (checked in `parse`).
        same_however_split(&stream, &one, &many, usize::MAX)?;
        parse(&pieces(&stream, &cuts(stream.len(), &many)), max)?;
        Ok(())
    });
}
