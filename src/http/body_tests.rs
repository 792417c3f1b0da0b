//! Tests for the chunked decoder and writers: every split point of valid bodies, and each strictness rule.

use super::*;

const LIMIT: u64 = 1 << 20;

/// Decodes `pieces` in order, as a connection would see them; returns (data, bytes consumed) or the error.
/// Bytes a step did not consume are carried into the next call together with the next piece.
fn decode_pieces(pieces: &[&[u8]], max_body: u64) -> Result<(Vec<u8>, Option<usize>), Error> {
    let mut decoder = ChunkedDecoder::new(MessageKind::Request, max_body);
    let mut data = Vec::new();
    let mut consumed_total = 0;
    for piece in pieces {
        let mut input: &[u8] = piece;
        loop {
            match decoder.next(input)? {
                Step::Data(range) => {
                    assert!(!range.is_empty(), "empty data range");
                    data.extend_from_slice(&input[range.clone()]);
                    consumed_total += range.end;
                    input = &input[range.end..];
                }
                Step::NeedMore => {
                    consumed_total += input.len();
                    break;
                }
                Step::Done { consumed } => {
                    assert!(decoder.is_done());
                    return Ok((data, Some(consumed_total + consumed)));
                }
            }
        }
    }
    Ok((data, None))
}

fn decode_all(input: &[u8]) -> Result<(Vec<u8>, Option<usize>), Error> {
    decode_pieces(&[input], LIMIT)
}

fn malformed(result: Result<(Vec<u8>, Option<usize>), Error>) -> Malformed {
    match result {
        Err(Error::BadRequest(what)) => what,
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

/// Decodes each case whole and checks it fails with `expected`.
fn assert_each_refused(cases: &[&[u8]], expected: Malformed) {
    for input in cases {
        let got = malformed(decode_all(input));
        assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(input));
    }
}

const VALID: [(&[u8], &[u8]); 6] = [
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"0\r\n\r\n", b""),
    (
        b"A;name=value\r\n0123456789\r\n0;last\r\n\r\n",
        b"0123456789",
    ),
    (
        b"1 ;x=\"q\"\r\na\r\n00000\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n",
        b"a",
    ),
    (b"3\r\n\r\n\n\r\n0\r\n\r\n", b"\r\n\n"),
    (
        b"f\r\n{\"jsonrpc\":\"2.0\r\n1\r\n}\r\n0\r\n\r\n",
        b"{\"jsonrpc\":\"2.0}",
    ),
];

#[test]
fn valid_bodies_decode_whole() {
    for (input, expected) in VALID {
        let (data, consumed) = decode_all(input).unwrap();
        assert_eq!(data, expected, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(consumed, Some(input.len()));
    }
}

#[test]
fn every_split_point_gives_the_same_result() {
    for (input, expected) in VALID {
        for split in 0..=input.len() {
            let (head, tail) = input.split_at(split);
            let (data, consumed) = decode_pieces(&[head, tail], LIMIT).unwrap();
            assert_eq!(
                data,
                expected,
                "split {split} of {:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(consumed, Some(input.len()), "split {split}");
        }
    }
}

#[test]
fn every_pair_of_split_points_gives_the_same_result() {
    let (input, expected) = VALID[2];
    for first in 0..=input.len() {
        for second in first..=input.len() {
            let pieces = [&input[..first], &input[first..second], &input[second..]];
            let (data, consumed) = decode_pieces(&pieces, LIMIT).unwrap();
            assert_eq!(
                (data.as_slice(), consumed),
                (expected, Some(input.len())),
                "splits {first},{second}"
            );
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    for (input, expected) in VALID {
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        let (data, consumed) = decode_pieces(&pieces, LIMIT).unwrap();
        assert_eq!((data.as_slice(), consumed), (expected, Some(input.len())));
    }
}

#[test]
fn stops_exactly_at_the_end_of_the_body() {
    let input = b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let mut decoder = ChunkedDecoder::new(MessageKind::Request, LIMIT);
    assert_eq!(decoder.next(input).unwrap(), Step::Data(3..5));
    assert_eq!(
        decoder.next(&input[5..]).unwrap(),
        Step::Done { consumed: 7 }
    );
    assert_eq!(&input[12..], b"GET / HTTP/1.1\r\n");
    // A finished decoder consumes nothing more.
    assert_eq!(decoder.next(b"more").unwrap(), Step::Done { consumed: 0 });
}

#[test]
fn incomplete_body_asks_for_more() {
    assert_eq!(decode_all(b"5\r\nhel").unwrap(), (b"hel".to_vec(), None));
    assert_eq!(
        decode_all(b"5\r\nhello\r\n0\r\n\r").unwrap(),
        (b"hello".to_vec(), None)
    );
}

#[test]
fn invalid_chunk_sizes_are_refused() {
    let cases: [&[u8]; 12] = [
        b"\r\n",
        b"g\r\n",
        b"-5\r\n",
        b"+5\r\n",
        b" 5\r\n",
        b"0x5\r\n",
        b"5 \r\nhello\r\n",
        b"5 x\r\n",
        b"10000000000000000\r\n",
        b"5\nhello\r\n",
        b"5\r\rhello",
        b"5;a\nb\r\n",
    ];
    assert_each_refused(&cases, Malformed::BadChunkSize);
}

#[test]
fn largest_u64_size_is_accepted_but_hits_the_body_limit() {
    let result = decode_all(b"ffffffffffffffff\r\n");
    assert!(
        matches!(result, Err(Error::BodyTooLarge { limit: LIMIT })),
        "{result:?}"
    );
}

#[test]
fn control_bytes_in_extensions_are_refused() {
    assert_eq!(
        malformed(decode_all(b"1;a\0b\r\nx\r\n0\r\n\r\n")),
        Malformed::BadChunkSize
    );
    assert!(decode_all(b"1;a\tb\r\nx\r\n0\r\n\r\n").is_ok());
}

#[test]
fn size_line_is_bounded() {
    let mut long = b"1;".to_vec();
    long.resize(MAX_CHUNK_LINE - 2, b'x');
    long.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert_eq!(decode_all(&long).unwrap().0, b"a");
    let mut too_long = b"1;".to_vec();
    too_long.resize(MAX_CHUNK_LINE - 1, b'x');
    too_long.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert_eq!(malformed(decode_all(&too_long)), Malformed::BadChunkSize);
    let zeros = vec![b'0'; MAX_CHUNK_LINE];
    assert_eq!(malformed(decode_all(&zeros)), Malformed::BadChunkSize);
}

#[test]
fn data_must_end_in_crlf() {
    let cases: [&[u8]; 4] = [
        b"5\r\nhelloX\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r0\r\n",
        b"5\r\nhello world\r\n",
    ];
    assert_each_refused(&cases, Malformed::BadChunkTerminator);
}

#[test]
fn trailers_must_use_crlf_and_stay_bounded() {
    assert_eq!(
        malformed(decode_all(b"0\r\nX: 1\n\r\n")),
        Malformed::BadTrailer
    );
    assert_eq!(malformed(decode_all(b"0\r\n\n")), Malformed::BadTrailer);
    assert_eq!(malformed(decode_all(b"0\r\n\rX")), Malformed::BadTrailer);
    assert_eq!(
        malformed(decode_all(b"0\r\nX: 1\rY")),
        Malformed::BadTrailer
    );
    let mut big = b"0\r\n".to_vec();
    while big.len() < MAX_TRAILER_BYTES + 16 {
        big.extend_from_slice(b"X-Pad: 0123456789\r\n");
    }
    big.extend_from_slice(b"\r\n");
    assert_eq!(malformed(decode_all(&big)), Malformed::BadTrailer);
}

#[test]
fn body_limit_counts_all_chunks_before_reading_data() {
    let input = b"4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
    assert_eq!(decode_pieces(&[input], 8).unwrap().0, b"abcdefgh");
    let result = decode_pieces(&[input], 7);
    assert!(
        matches!(result, Err(Error::BodyTooLarge { limit: 7 })),
        "{result:?}"
    );
    let mut decoder = ChunkedDecoder::new(MessageKind::Request, 7);
    assert_eq!(decoder.next(b"4\r\nabcd\r\n").unwrap(), Step::Data(3..7));
    assert_eq!(decoder.body_len(), 4);
    assert!(matches!(
        decoder.next(b"\r\n4\r\n"),
        Err(Error::BodyTooLarge { .. })
    ));
}

#[test]
fn response_decoder_blames_the_upstream() {
    let mut decoder = ChunkedDecoder::new(MessageKind::Response, LIMIT);
    assert!(matches!(
        decoder.next(b"z\r\n"),
        Err(Error::BadResponse(Malformed::BadChunkSize))
    ));
}

#[test]
fn writers_produce_what_the_decoder_reads() {
    let mut out = Vec::new();
    write_chunk(&mut out, b"hello");
    write_chunk(&mut out, b"");
    write_chunk(&mut out, &[b'x'; 300]);
    out.extend_from_slice(LAST_CHUNK);
    assert!(out.starts_with(b"5\r\nhello\r\n12c\r\n"));
    let (data, consumed) = decode_all(&out).unwrap();
    assert_eq!(data.len(), 305);
    assert_eq!(consumed, Some(out.len()));
    let mut header = Vec::new();
    write_chunk_header(&mut header, 4096);
    assert_eq!(header, b"1000\r\n");
}
