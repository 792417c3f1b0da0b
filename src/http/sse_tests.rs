//! Tests for the SSE parser and writer: every split point under LF, CRLF and CR line endings, and the field rules.

use super::*;

/// An owned copy of what one call reported, so results of different feeds can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Event {
        id: Option<Vec<u8>>,
        event: Option<Vec<u8>>,
        data: Vec<u8>,
        retry: Option<u64>,
        raw_len: usize,
    },
    Skipped {
        raw_len: usize,
    },
}

impl Seen {
    fn raw_len(&self) -> usize {
        match self {
            Seen::Event { raw_len, .. } | Seen::Skipped { raw_len } => *raw_len,
        }
    }

    fn without_len(&self) -> Seen {
        match self.clone() {
            Seen::Event {
                id,
                event,
                data,
                retry,
                ..
            } => Seen::Event {
                id,
                event,
                data,
                retry,
                raw_len: 0,
            },
            Seen::Skipped { .. } => Seen::Skipped { raw_len: 0 },
        }
    }
}

/// Feeds `pieces` in order; returns what was seen and the parser's pending bytes at the end.
fn feed(parser: &mut SseParser, pieces: &[&[u8]]) -> Result<(Vec<Seen>, usize), Error> {
    let mut seen = Vec::new();
    for piece in pieces {
        let mut input: &[u8] = piece;
        loop {
            match parser.next(input)? {
                SseStep::Event {
                    event,
                    consumed,
                    raw_len,
                } => {
                    seen.push(Seen::Event {
                        id: event.id.map(<[u8]>::to_vec),
                        event: event.event.map(<[u8]>::to_vec),
                        data: event.data.to_vec(),
                        retry: event.retry,
                        raw_len,
                    });
                    input = &input[consumed..];
                }
                SseStep::Skipped { consumed, raw_len } => {
                    seen.push(Seen::Skipped { raw_len });
                    input = &input[consumed..];
                }
                SseStep::NeedMore => break,
            }
        }
    }
    Ok((seen, parser.pending_len()))
}

fn parse(input: &[u8]) -> Vec<Seen> {
    feed(&mut SseParser::default(), &[input]).unwrap().0
}

fn event(
    id: Option<&str>,
    event: Option<&str>,
    data: &str,
    retry: Option<u64>,
    raw_len: usize,
) -> Seen {
    Seen::Event {
        id: id.map(|s| s.as_bytes().to_vec()),
        event: event.map(|s| s.as_bytes().to_vec()),
        data: data.as_bytes().to_vec(),
        retry,
        raw_len,
    }
}

const STREAM_LF: &str = ": comment\nid: 1\nevent: message\ndata: {\"a\":1}\n\n\
data: line1\ndata:line2\ndata:  two spaces\ndata\n\n\
retry: 1500\n\n\
event: x\nid\ndata: y\n\n";

fn expected_lf() -> Vec<Seen> {
    vec![
        event(Some("1"), Some("message"), "{\"a\":1}", None, 46),
        event(None, None, "line1\nline2\n two spaces\n", None, 47),
        Seen::Skipped { raw_len: 13 },
        event(Some(""), Some("x"), "y", None, 21),
    ]
}

fn variants() -> [(&'static str, Vec<u8>); 3] {
    [
        ("LF", STREAM_LF.as_bytes().to_vec()),
        ("CRLF", STREAM_LF.replace('\n', "\r\n").into_bytes()),
        ("CR", STREAM_LF.replace('\n', "\r").into_bytes()),
    ]
}

#[test]
fn whole_stream_in_each_line_ending() {
    assert_eq!(parse(STREAM_LF.as_bytes()), expected_lf());
    for (name, input) in variants() {
        let seen = parse(&input);
        let contents: Vec<Seen> = seen.iter().map(Seen::without_len).collect();
        let expected: Vec<Seen> = expected_lf().iter().map(Seen::without_len).collect();
        assert_eq!(contents, expected, "{name}");
        assert_eq!(
            seen.iter().map(Seen::raw_len).sum::<usize>(),
            input.len(),
            "{name}"
        );
    }
}

#[test]
fn every_split_point_gives_the_same_events_and_byte_accounting() {
    for (name, input) in variants() {
        let whole = parse(&input);
        for split in 0..=input.len() {
            let (head, tail) = input.split_at(split);
            let (seen, pending) = feed(&mut SseParser::default(), &[head, tail]).unwrap();
            assert_eq!(
                seen.iter().map(Seen::raw_len).sum::<usize>() + pending,
                input.len(),
                "{name} split {split}"
            );
            let cr_lf_split = split > 0
                && input.get(split - 1) == Some(&b'\r')
                && input.get(split) == Some(&b'\n');
            if cr_lf_split {
                // The LF of a split CRLF is counted in the next block (see the module docs).
                let a: Vec<Seen> = seen.iter().map(Seen::without_len).collect();
                let b: Vec<Seen> = whole.iter().map(Seen::without_len).collect();
                assert_eq!(a, b, "{name} split {split}");
            } else {
                assert_eq!(seen, whole, "{name} split {split}");
                assert_eq!(pending, 0, "{name} split {split}");
            }
        }
    }
}

#[test]
fn one_byte_at_a_time_in_each_line_ending() {
    for (name, input) in variants() {
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        let (seen, pending) = feed(&mut SseParser::default(), &pieces).unwrap();
        let contents: Vec<Seen> = seen.iter().map(Seen::without_len).collect();
        let expected: Vec<Seen> = expected_lf().iter().map(Seen::without_len).collect();
        assert_eq!(contents, expected, "{name}");
        assert_eq!(
            seen.iter().map(Seen::raw_len).sum::<usize>() + pending,
            input.len(),
            "{name}"
        );
    }
}

#[test]
fn leading_bom_is_dropped_at_every_split() {
    let input = b"\xEF\xBB\xBFdata: x\n\n";
    for split in 0..=input.len() {
        let (head, tail) = input.split_at(split);
        let (seen, _) = feed(&mut SseParser::default(), &[head, tail]).unwrap();
        assert_eq!(
            seen,
            [event(None, None, "x", None, input.len())],
            "split {split}"
        );
    }
    // A second BOM, or a broken one, is part of the line (here: an unknown field name, so no event).
    assert_eq!(
        parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"),
        [Seen::Skipped { raw_len: 15 }]
    );
    assert_eq!(
        parse(b"\xEF\xBBdata: x\n\n"),
        [Seen::Skipped { raw_len: 11 }]
    );
}

#[test]
fn field_rules() {
    assert_eq!(parse(b"data\n\n"), [event(None, None, "", None, 6)]);
    assert_eq!(parse(b"data:\n\n"), [event(None, None, "", None, 7)]);
    assert_eq!(
        parse(b"data:\ndata:\n\n"),
        [event(None, None, "\n", None, 13)]
    );
    assert_eq!(
        parse(b"foo: bar\nDATA: no\ndata: x\n\n"),
        [event(None, None, "x", None, 27)]
    );
    assert_eq!(
        parse(b"data: a:b: c\n\n"),
        [event(None, None, "a:b: c", None, 14)]
    );
    assert_eq!(parse(b":\n: ping\n\n"), [Seen::Skipped { raw_len: 10 }]);
    assert_eq!(
        parse(b"\n\n"),
        [Seen::Skipped { raw_len: 1 }, Seen::Skipped { raw_len: 1 }]
    );
}

#[test]
fn event_type_resets_after_each_block() {
    let seen = parse(b"event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\n");
    let types: Vec<Option<Vec<u8>>> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Event { event, .. } => Some(event.clone()),
            Seen::Skipped { .. } => None,
        })
        .collect();
    assert_eq!(types, [Some(b"a".to_vec()), None, None]);
    assert_eq!(
        parse(b"event:\ndata: 1\n\n"),
        [event(None, None, "1", None, 16)]
    );
}

#[test]
fn ids_persist_in_the_stream_and_nul_ids_are_ignored() {
    let mut parser = SseParser::default();
    let (seen, _) = feed(
        &mut parser,
        &[b"id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n"],
    )
    .unwrap();
    let ids: Vec<Option<Vec<u8>>> = seen
        .iter()
        .map(|s| match s {
            Seen::Event { id, .. } => id.clone(),
            Seen::Skipped { .. } => panic!("no skipped block expected"),
        })
        .collect();
    assert_eq!(ids, [Some(b"7".to_vec()), None, None]);
    assert_eq!(parser.last_event_id(), b"7");
}

#[test]
fn retry_takes_only_digits() {
    assert_eq!(
        parse(b"retry: 250\ndata: x\n\n"),
        [event(None, None, "x", Some(250), 20)]
    );
    for bad in [
        &b"retry: 12a\n"[..],
        b"retry: \n",
        b"retry: -5\n",
        b"retry: 99999999999999999999999\n",
    ] {
        let mut input = bad.to_vec();
        input.extend_from_slice(b"data: x\n\n");
        let mut parser = SseParser::default();
        let (seen, _) = feed(&mut parser, &[&input]).unwrap();
        assert_eq!(
            seen,
            [event(None, None, "x", None, input.len())],
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(parser.last_retry(), None);
    }
    let mut parser = SseParser::default();
    let (seen, _) = feed(&mut parser, &[b"retry: 9\n\n"]).unwrap();
    assert_eq!(seen, [Seen::Skipped { raw_len: 10 }]);
    assert_eq!(parser.last_retry(), Some(9));
}

#[test]
fn oversize_blocks_are_refused() {
    let limit = 16;
    let exact = b"data: 012345678\n\n";
    assert_eq!(exact.len(), limit + 1);
    assert!(matches!(
        feed(&mut SseParser::new(limit), &[exact]),
        Err(Error::EventTooLarge { limit: 16 })
    ));
    assert!(feed(&mut SseParser::new(limit + 1), &[exact]).is_ok());
    // A line that never ends, fed in small pieces.
    let endless = [b'a'; 40];
    let pieces: Vec<&[u8]> = endless.chunks(3).collect();
    assert!(matches!(
        feed(&mut SseParser::new(limit), &pieces),
        Err(Error::EventTooLarge { .. })
    ));
    // Many short lines without a blank line.
    assert!(matches!(
        feed(&mut SseParser::new(limit), &[b": a\n: b\n: c\n: d\n: e\n"]),
        Err(Error::EventTooLarge { .. })
    ));
    // The bound is per block: many small events pass.
    let many = b"data: 1\n\n".repeat(100);
    assert_eq!(
        feed(&mut SseParser::new(limit), &[&many]).unwrap().0.len(),
        100
    );
}

#[test]
fn writer_round_trips_through_the_parser() {
    let mut out = Vec::new();
    write_event(
        &mut out,
        Some("42"),
        Some("message"),
        b"{\"a\":\n1}\r\nx\ry",
    );
    write_event(&mut out, None, None, b"");
    write_event(&mut out, None, None, b"tail\n");
    write_comment(&mut out, "keep-alive");
    assert!(
        out.starts_with(b"id: 42\nevent: message\ndata: {\"a\":\ndata: 1}\ndata: x\ndata: y\n\n")
    );
    let seen: Vec<Seen> = parse(&out).iter().map(Seen::without_len).collect();
    assert_eq!(
        seen,
        [
            event(Some("42"), Some("message"), "{\"a\":\n1}\nx\ny", None, 0),
            event(None, None, "", None, 0),
            event(None, None, "tail\n", None, 0),
            Seen::Skipped { raw_len: 0 },
        ]
    );
}

#[test]
fn writer_cuts_line_breaks_out_of_id_and_event() {
    let mut out = Vec::new();
    write_event(&mut out, Some("1\ndata: evil"), Some("x\r\nid: 2"), b"ok");
    assert_eq!(
        parse(&out),
        [event(Some("1"), Some("x"), "ok", None, out.len())]
    );
}
