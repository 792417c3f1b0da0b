//! Body decoding: the chunked decoder (`http::body::ChunkedDecoder`), `Content-Length` parsing
//! (`http::framing`), and both framings read through `HttpConn` from a stream that delivers the
//! bytes in random pieces. A valid body split at any point (or into many pieces) decodes to the
//! same bytes and leaves the same next-message bytes; arbitrary bytes never panic and decode the
//! same whole or split.
//!
//! Not here: heads (head.rs).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::future::block_on;
use futures_lite::io::{AsyncRead, AsyncWrite};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use shadowcat::http::framing::parse_content_length;
use shadowcat::http::{
    BodyReader, ChunkedDecoder, HttpConn, Limits, Malformed, MessageKind, RequestHead, Step,
};

use crate::common::{apply, check, cuts, edits, pieces};

/// How one decode ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The body ended; `rest` is what followed it.
    Done { data: Vec<u8>, rest: Vec<u8> },
    /// The input ran out first.
    Incomplete { data: Vec<u8> },
    /// The decoder refused (the error's Debug text).
    Failed { data: Vec<u8>, error: String },
}

/// Feeds `pieces` to a fresh decoder the way `HttpConn` does (unconsumed bytes kept, new ones
/// appended), checking the `Step` contract on every call.
fn decode(pieces: &[&[u8]], max_body: u64) -> Result<Outcome, TestCaseError> {
    let mut decoder = ChunkedDecoder::new(MessageKind::Request, max_body);
    let (mut buf, mut data) = (Vec::new(), Vec::new());
    for (n, piece) in pieces.iter().enumerate() {
        buf.extend_from_slice(piece);
        loop {
            match decoder.next(&buf) {
                Ok(Step::Data(range)) => {
                    prop_assert!(
                        !range.is_empty() && range.end <= buf.len(),
                        "bad range {range:?}"
                    );
                    data.extend_from_slice(&buf[range.clone()]);
                    buf.drain(..range.end);
                }
                Ok(Step::NeedMore) => {
                    buf.clear();
                    break;
                }
                Ok(Step::Done { consumed }) => {
                    prop_assert!(consumed <= buf.len() && decoder.is_done());
                    buf.drain(..consumed);
                    for later in &pieces[n + 1..] {
                        buf.extend_from_slice(later);
                    }
                    return Ok(Outcome::Done { data, rest: buf });
                }
                Err(error) => {
                    return Ok(Outcome::Failed {
                        data,
                        error: format!("{error:?}"),
                    })
                }
            }
        }
    }
    Ok(Outcome::Incomplete { data })
}

/// One chunked body as a sender might write it: chunks with sizes in any case and with leading
/// zeros, optional extensions (with BWS), optional trailer fields; returns (encoding, data).
fn chunked_body() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let chunk = (
        prop_oneof![
            6 => prop::collection::vec(any::<u8>(), 1..48),
            1 => prop::collection::vec(any::<u8>(), 48..2048),
        ],
        any::<bool>(),
        0usize..3,
        prop::option::of(("[ \t]{0,2}", "[a-z]{1,6}(=[a-z0-9]{0,6})?")),
    );
    let trailer = prop::collection::vec(("[A-Za-z-]{1,10}", "[ -~]{0,16}"), 0..3);
    (prop::collection::vec(chunk, 0..8), trailer, 0usize..3).prop_map(
        |(chunks, trailer, last_zeros)| {
            let (mut wire, mut data) = (Vec::new(), Vec::new());
            for (bytes, upper, zeros, ext) in chunks {
                let size = if upper {
                    format!("{:X}", bytes.len())
                } else {
                    format!("{:x}", bytes.len())
                };
                wire.extend_from_slice("0".repeat(zeros).as_bytes());
                wire.extend_from_slice(size.as_bytes());
                if let Some((bws, ext)) = ext {
                    wire.extend_from_slice(format!("{bws};{ext}").as_bytes());
                }
                wire.extend_from_slice(b"\r\n");
                wire.extend_from_slice(&bytes);
                wire.extend_from_slice(b"\r\n");
                data.extend_from_slice(&bytes);
            }
            wire.extend_from_slice("0".repeat(last_zeros + 1).as_bytes());
            wire.extend_from_slice(b"\r\n");
            for (name, value) in trailer {
                wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            wire.extend_from_slice(b"\r\n");
            (wire, data)
        },
    )
}

#[test]
fn a_chunked_body_split_anywhere_decodes_the_same() {
    let input = (
        chunked_body(),
        "[ -~]{0,16}",
        any::<Index>(),
        prop::collection::vec(any::<Index>(), 0..64),
        any::<Index>(),
    );
    check(
        "body_chunked_split",
        2000,
        input,
        |((wire, data), tail, one, many, limit)| {
            let mut stream = wire.clone();
            stream.extend_from_slice(tail.as_bytes());
            let expected = Outcome::Done {
                data: data.clone(),
                rest: tail.into_bytes(),
            };
            prop_assert_eq!(&decode(&[&stream], u64::MAX)?, &expected);
            let at = one.index(stream.len() + 1);
            prop_assert_eq!(
                &decode(&[&stream[..at], &stream[at..]], u64::MAX)?,
                &expected
            );
            prop_assert_eq!(
                &decode(&pieces(&stream, &cuts(stream.len(), &many)), u64::MAX)?,
                &expected
            );
            let byte_by_byte: Vec<&[u8]> = stream.chunks(1).collect();
            prop_assert_eq!(&decode(&byte_by_byte, u64::MAX)?, &expected);
            // A body limit below the data size fails, whatever the split; at or above it changes nothing.
            let max = limit.index(data.len() * 2 + 1) as u64;
            let limited = decode(&pieces(&stream, &cuts(stream.len(), &many)), max)?;
            if (data.len() as u64) > max {
                prop_assert!(
                    matches!(&limited, Outcome::Failed { error, .. } if error.starts_with("BodyTooLarge")),
                    "{limited:?}"
                );
            } else {
                prop_assert_eq!(&limited, &expected);
            }
            Ok(())
        },
    );
}

/// Arbitrary or mutated chunked bytes: no panic, and the same outcome whole, split once, in
/// many pieces and byte by byte (a decoder that depends on how its input was cut is a
/// smuggling risk: two hops would disagree on where the body ends).
#[test]
fn arbitrary_chunked_bytes_decode_the_same_however_split() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(
            prop::sample::select(&b"0123456789abcdefABCDEF;= \t\r\nxz\0"[..]),
            0..256
        ),
        (chunked_body(), edits(4)).prop_map(|((wire, _), edits)| apply(wire, &edits)),
    ];
    let input = (
        bytes,
        any::<Index>(),
        prop::collection::vec(any::<Index>(), 0..32),
        0u64..512,
    );
    check(
        "body_chunked_arbitrary",
        2000,
        input,
        |(stream, one, many, max)| {
            for max in [u64::MAX, max] {
                let whole = decode(&[&stream], max)?;
                let at = one.index(stream.len() + 1);
                prop_assert_eq!(&decode(&[&stream[..at], &stream[at..]], max)?, &whole);
                prop_assert_eq!(
                    &decode(&pieces(&stream, &cuts(stream.len(), &many)), max)?,
                    &whole
                );
                let byte_by_byte: Vec<&[u8]> = stream.chunks(1).collect();
                prop_assert_eq!(&decode(&byte_by_byte, max)?, &whole);
            }
            Ok(())
        },
    );
}

/// `Content-Length` values: exactly OWS 1*DIGIT OWS fitting a u64, a comma list is a conflict.
#[test]
fn content_length_values_parse_like_the_reference() {
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        prop::collection::vec(prop::sample::select(&b"0123456789 \t,+-x"[..]), 0..24),
        any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        "[0-9]{19,22}".prop_map(String::into_bytes),
    ];
    check("body_content_length_value", 2000, value, |value| {
        let trimmed = value.trim_ascii();
        let expected = if trimmed.contains(&b',') {
            Err(Malformed::ConflictingContentLength)
        } else if !trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(trimmed)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or(Malformed::BadContentLength)
        } else {
            Err(Malformed::BadContentLength)
        };
        prop_assert_eq!(parse_content_length(&value), expected);
        Ok(())
    });
}

/// A stream handing out `input` cut at `cuts`, a `Pending` before every piece (woken at once).
#[derive(Debug)]
struct Pieces {
    input: Vec<u8>,
    cuts: Vec<usize>,
    pos: usize,
    ready: bool,
}

impl AsyncRead for Pieces {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.ready = !this.ready;
        if !this.ready {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next_cut = this
            .cuts
            .iter()
            .copied()
            .find(|c| *c > this.pos)
            .unwrap_or(this.input.len());
        let n = (next_cut - this.pos).min(buf.len());
        buf[..n].copy_from_slice(&this.input[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Pieces {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Reads every request of `conn` until EOF or an error (at most `max` requests), alternating
/// the whole-body (`read_body`) and streaming (`next_body_chunk`) paths; (target, body) each.
async fn read_requests(
    conn: &mut HttpConn<Pieces>,
    limits: &Limits,
    max: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, shadowcat::http::Error> {
    let mut head = RequestHead::default();
    let mut seen = Vec::new();
    while seen.len() < max && conn.read_request_head(limits, &mut head).await? {
        let framing = head.framing()?;
        let mut body = Vec::new();
        if seen.len() % 2 == 0 {
            conn.read_body(framing, limits.max_body_bytes as usize, &mut body)
                .await?;
        } else {
            let mut reader = BodyReader::new(framing, MessageKind::Request, limits.max_body_bytes)?;
            while let Some(piece) = conn.next_body_chunk(&mut reader).await? {
                body.extend_from_slice(piece);
            }
        }
        seen.push((head.target().to_vec(), body));
    }
    Ok(seen)
}

/// A request with a `Content-Length` or chunked body; returns (wire bytes, target, body).
fn request() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>)> {
    let length =
        (prop::collection::vec(any::<u8>(), 0..600), "/[a-z]{0,8}").prop_map(|(body, target)| {
            let mut wire = format!(
                "POST {target} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            wire.extend_from_slice(&body);
            (wire, target.into_bytes(), body)
        });
    let chunked = (chunked_body(), "/[a-z]{0,8}").prop_map(|((encoded, body), target)| {
        let mut wire =
            format!("POST {target} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
                .into_bytes();
        wire.extend_from_slice(&encoded);
        (wire, target.into_bytes(), body)
    });
    let bodyless = "/[a-z]{0,8}".prop_map(|target| {
        (
            format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes(),
            target.into_bytes(),
            Vec::new(),
        )
    });
    prop_oneof![3 => length, 3 => chunked, 1 => bodyless]
}

#[test]
fn pipelined_bodies_read_through_a_connection_in_any_pieces_are_whole() {
    let input = (
        prop::collection::vec(request(), 1..5),
        prop::collection::vec(any::<Index>(), 0..48),
    );
    check("body_conn_pieces", 1000, input, |(requests, raw_cuts)| {
        let wire: Vec<u8> = requests.iter().flat_map(|(w, _, _)| w.clone()).collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> =
            requests.into_iter().map(|(_, t, b)| (t, b)).collect();
        let stream = Pieces {
            cuts: cuts(wire.len(), &raw_cuts),
            input: wire,
            pos: 0,
            ready: false,
        };
        let mut conn = HttpConn::new(stream, Vec::new());
        let got = block_on(read_requests(&mut conn, &Limits::default(), usize::MAX));
        prop_assert_eq!(got.map_err(|e| format!("{e:?}")), Ok(expected));
        Ok(())
    });
}

#[test]
fn arbitrary_bytes_through_a_connection_never_panic() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        (prop::collection::vec(request(), 1..4), edits(6)).prop_map(|(requests, edits)| apply(
            requests.into_iter().flat_map(|(w, _, _)| w).collect(),
            &edits
        )),
    ];
    let limits = (64usize..2048, 1u64..1024).prop_map(|(max_head_bytes, max_body_bytes)| Limits {
        max_head_bytes,
        max_headers: 16,
        max_body_bytes,
    });
    check(
        "body_conn_arbitrary",
        1000,
        (bytes, prop::collection::vec(any::<Index>(), 0..16), limits),
        |(wire, raw_cuts, limits)| {
            let stream = Pieces {
                cuts: cuts(wire.len(), &raw_cuts),
                input: wire,
                pos: 0,
                ready: false,
            };
            let mut conn = HttpConn::new(stream, Vec::new());
            if let Ok(seen) = block_on(read_requests(&mut conn, &limits, 64)) {
                for (_, body) in &seen {
                    prop_assert!(body.len() as u64 <= limits.max_body_bytes);
                }
            }
            Ok(())
        },
    );
}
