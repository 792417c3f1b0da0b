//! Tests for `HttpConn` on a glommio executor, over an in-memory stream that hands out data in small pieces and
//! returns `Pending` between pieces.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use glommio::{LocalExecutorBuilder, Placement};

use super::*;
use crate::http::error::Malformed;
use crate::http::head::{Head, Method};

/// An in-memory stream: reads return at most `piece` bytes of `input`, alternating with `Pending`; writes collect.
#[derive(Debug)]
struct Duplex {
    input: Vec<u8>,
    pos: usize,
    piece: usize,
    ready: bool,
    written: Vec<u8>,
}

impl Duplex {
    fn new(input: &[u8], piece: usize) -> Self {
        Duplex {
            input: input.to_vec(),
            pos: 0,
            piece,
            ready: false,
            written: Vec::new(),
        }
    }
}

impl AsyncRead for Duplex {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Every other poll is Pending (woken at once), so callers must cope with data trickling in.
        this.ready = !this.ready;
        if !this.ready {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let rest = &this.input[this.pos..];
        let n = rest.len().min(this.piece).min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Accept at most 7 bytes per call, so write_all has to loop.
        let n = buf.len().min(7);
        self.get_mut().written.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs `fut` on a fresh glommio executor on this thread.
fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(1 << 20)
        .make()
        .unwrap();
    executor.run(fut)
}

const PIECES: [usize; 4] = [1, 3, 7, 4096];

const TWO_REQUESTS: &[u8] = b"POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

/// Reads requests until clean EOF; returns (target, body) per request.
async fn read_all_requests(conn: &mut HttpConn<Duplex>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let limits = Limits::default();
    let mut head = RequestHead::default();
    let mut seen = Vec::new();
    while conn.read_request_head(&limits, &mut head).await.unwrap() {
        assert!(head.keep_alive());
        let mut body = Vec::new();
        conn.read_body(head.framing().unwrap(), 1024, &mut body)
            .await
            .unwrap();
        seen.push((head.target().to_vec(), body));
    }
    seen
}

#[test]
fn keep_alive_with_two_pipelined_requests_in_one_buffer() {
    run(async {
        // Both requests were already read (e.g. handed over from another shard); the socket has nothing more.
        let mut conn = HttpConn::from_parts(Duplex::new(b"", 1), TWO_REQUESTS.to_vec());
        let seen = read_all_requests(&mut conn).await;
        assert_eq!(
            seen,
            [
                (b"/mcp".to_vec(), b"hello".to_vec()),
                (b"/mcp".to_vec(), b"abcde".to_vec())
            ]
        );
        assert!(conn.buffered().is_empty());
    });
}

#[test]
fn pipelined_requests_trickling_in_at_every_piece_size() {
    for piece in PIECES {
        run(async move {
            let mut conn = HttpConn::new(Duplex::new(TWO_REQUESTS, piece), Vec::new());
            let seen = read_all_requests(&mut conn).await;
            assert_eq!(seen.len(), 2, "piece {piece}");
            assert_eq!(seen[1].1, b"abcde", "piece {piece}");
        });
    }
}

#[test]
fn chunked_request_body_is_decoded_whole() {
    let request = b"POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
a;ext=1\r\n{\"id\":1,\"x\r\n4\r\n\":2}\r\n0\r\nTrailer: t\r\n\r\n";
    for piece in PIECES {
        run(async move {
            let mut conn = HttpConn::new(Duplex::new(request, piece), Vec::with_capacity(64));
            let mut head = RequestHead::default();
            assert!(conn
                .read_request_head(&Limits::default(), &mut head)
                .await
                .unwrap());
            assert_eq!(head.framing().unwrap(), Framing::Chunked);
            let mut body = b"prefix:".to_vec();
            conn.read_body(Framing::Chunked, 1024, &mut body)
                .await
                .unwrap();
            assert_eq!(body, b"prefix:{\"id\":1,\"x\":2}", "piece {piece}");
        });
    }
}

#[test]
fn streaming_response_body_chunk_by_chunk() {
    let response =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    for piece in PIECES {
        run(async move {
            let mut conn = HttpConn::new(Duplex::new(response, piece), Vec::new());
            let limits = Limits::default();
            let mut head = ResponseHead::default();
            assert!(conn.read_response_head(&limits, &mut head).await.unwrap());
            let framing = head.framing(Method::Get).unwrap();
            let mut reader = BodyReader::new(framing, MessageKind::Response, 1024).unwrap();
            let mut pieces = Vec::new();
            while let Some(data) = conn.next_body_chunk(&mut reader).await.unwrap() {
                assert!(!data.is_empty());
                assert!(
                    data.len() <= piece.max(9),
                    "piece {piece}: a chunk larger than what arrived"
                );
                pieces.push(data.to_vec());
            }
            assert!(reader.is_done());
            assert_eq!(reader.bytes_read(), 18);
            assert_eq!(pieces.concat(), b"data: 1\n\ndata: 2\n\n", "piece {piece}");
            if piece == 4096 {
                assert_eq!(
                    pieces.len(),
                    2,
                    "one piece per chunk when everything is buffered"
                );
            }
            // The next response on the connection is intact.
            assert!(conn.read_response_head(&limits, &mut head).await.unwrap());
            assert_eq!(head.status(), 204);
        });
    }
}

#[test]
fn streaming_length_and_until_close_bodies() {
    run(async {
        let mut conn = HttpConn::new(Duplex::new(b"0123456789rest", 4), Vec::new());
        let mut reader = BodyReader::new(Framing::Length(10), MessageKind::Response, 100).unwrap();
        let mut body = Vec::new();
        while let Some(data) = conn.next_body_chunk(&mut reader).await.unwrap() {
            body.extend_from_slice(data);
        }
        assert_eq!(body, b"0123456789");
        let mut reader = BodyReader::new(Framing::UntilClose, MessageKind::Response, 100).unwrap();
        let mut rest = Vec::new();
        while let Some(data) = conn.next_body_chunk(&mut reader).await.unwrap() {
            rest.extend_from_slice(data);
        }
        assert_eq!(rest, b"rest");
        assert!(conn.next_body_chunk(&mut reader).await.unwrap().is_none());
    });
}

#[test]
fn eof_mid_body_is_unexpected() {
    let cases: [(&[u8], Framing); 3] = [
        (b"hel", Framing::Length(5)),
        (b"5\r\nhel", Framing::Chunked),
        (b"5\r\nhello\r\n", Framing::Chunked),
    ];
    for (input, framing) in cases {
        for piece in PIECES {
            run(async move {
                let mut conn = HttpConn::new(Duplex::new(input, piece), Vec::new());
                let mut body = Vec::new();
                let err = conn.read_body(framing, 1024, &mut body).await.unwrap_err();
                assert!(
                    matches!(err, Error::UnexpectedEof),
                    "{framing:?} piece {piece}: {err:?}"
                );
                if framing == Framing::Length(5) {
                    assert_eq!(body, b"hel", "no zero padding left behind");
                }
            });
        }
    }
}

#[test]
fn eof_before_and_inside_a_head() {
    run(async {
        let mut head = RequestHead::default();
        let mut idle = HttpConn::new(Duplex::new(b"", 1), Vec::new());
        assert!(!idle
            .read_request_head(&Limits::default(), &mut head)
            .await
            .unwrap());
        let mut cut = HttpConn::new(Duplex::new(b"GET / HTTP/1.1\r\nHost:", 3), Vec::new());
        let err = cut
            .read_request_head(&Limits::default(), &mut head)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnexpectedEof), "{err:?}");
    });
}

#[test]
fn into_parts_returns_the_unconsumed_bytes() {
    run(async {
        let mut conn = HttpConn::from_parts(Duplex::new(b"", 1), TWO_REQUESTS.to_vec());
        let mut head = RequestHead::default();
        assert!(conn
            .read_request_head(&Limits::default(), &mut head)
            .await
            .unwrap());
        let mut body = Vec::new();
        conn.read_body(head.framing().unwrap(), 1024, &mut body)
            .await
            .unwrap();
        let first_len = TWO_REQUESTS.windows(5).position(|w| w == b"hello").unwrap() + 5;
        let second = &TWO_REQUESTS[first_len..];
        assert_eq!(conn.buffered(), second);
        let (_stream, leftover) = conn.into_parts();
        assert_eq!(leftover, second);
        assert!(
            leftover.capacity() >= MIN_READ_BUFFER,
            "allocation kept for reuse"
        );
    });
}

#[test]
fn head_limit_bounds_buffer_growth_and_maps_to_431() {
    let mut long = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
    long.resize(20_000, b'a');
    long.extend_from_slice(b"\r\n\r\n");
    run(async move {
        let limits = Limits {
            max_head_bytes: 8192,
            ..Limits::default()
        };
        let mut conn = HttpConn::new(Duplex::new(&long, 1000), Vec::new());
        let err = conn
            .read_request_head(&limits, &mut RequestHead::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::HeadTooLarge { limit: 8192 }),
            "{err:?}"
        );
        assert_eq!(err.status(), 431);
        let (stream, buf) = conn.into_parts();
        assert!(
            buf.capacity() <= 2 * 8192,
            "buffer grew to {}",
            buf.capacity()
        );
        assert!(
            stream.pos <= 9000,
            "read {} bytes for an 8 KiB limit",
            stream.pos
        );
        // Within the limit a head larger than the initial buffer is read fine.
        let prefix = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
        let mut big = prefix.to_vec();
        big.resize(6000, b'a');
        big.extend_from_slice(b"\r\n\r\n");
        let mut conn = HttpConn::new(Duplex::new(&big, 500), Vec::new());
        let mut head = RequestHead::default();
        assert!(conn
            .read_request_head(&Limits::default(), &mut head)
            .await
            .unwrap());
        assert_eq!(head.header("x-pad").unwrap().len(), 6000 - prefix.len());
    });
}

#[test]
fn body_limits_are_enforced() {
    run(async {
        let mut conn = HttpConn::new(Duplex::new(b"", 1), Vec::new());
        let err = conn
            .read_body(Framing::Length(11), 10, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BodyTooLarge { limit: 10 }), "{err:?}");
        assert_eq!(err.status(), 413);
        let mut conn = HttpConn::new(
            Duplex::new(b"6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n", 5),
            Vec::new(),
        );
        let err = conn
            .read_body(Framing::Chunked, 10, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BodyTooLarge { limit: 10 }), "{err:?}");
        let mut conn = HttpConn::new(Duplex::new(b"0123456789A", 4), Vec::new());
        let err = conn
            .read_response_body(Framing::UntilClose, 10, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BodyTooLarge { limit: 10 }), "{err:?}");
    });
}

#[test]
fn malformed_bodies_blame_the_right_side() {
    run(async {
        let mut conn = HttpConn::new(Duplex::new(b"5\r\nhelloXX", 3), Vec::new());
        let err = conn
            .read_body(Framing::Chunked, 100, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::BadRequest(Malformed::BadChunkTerminator)),
            "{err:?}"
        );
        let mut conn = HttpConn::new(Duplex::new(b"x\r\n", 3), Vec::new());
        let err = conn
            .read_response_body(Framing::Chunked, 100, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::BadResponse(Malformed::BadChunkSize)),
            "{err:?}"
        );
    });
}

#[test]
fn writes_reach_the_stream() {
    run(async {
        let mut conn = HttpConn::new(Duplex::new(b"", 1), Vec::new());
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        conn.flush().await.unwrap();
        assert_eq!(
            conn.stream_ref().written,
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        );
    });
}

#[test]
fn serves_a_request_over_a_real_loopback_socket() {
    use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};
    run(async {
        let listener = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = glommio::spawn_local(async move {
            let mut stream = glommio::net::TcpStream::connect(addr).await.unwrap();
            let request = b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
            stream.write_all(request).await.unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await.unwrap();
            reply
        });
        let mut conn = HttpConn::new(listener.accept().await.unwrap(), Vec::new());
        let mut head = RequestHead::default();
        assert!(conn
            .read_request_head(&Limits::default(), &mut head)
            .await
            .unwrap());
        assert_eq!((head.target(), head.keep_alive()), (&b"/x"[..], false));
        let mut out = Vec::new();
        crate::http::write_response_head(
            &mut out,
            200,
            crate::http::write::NO_FIELDS,
            Framing::Length(2),
        );
        out.extend_from_slice(b"ok");
        conn.write_all(&out).await.unwrap();
        conn.close().await.unwrap();
        assert_eq!(client.await, out);
    });
}

#[test]
fn a_released_read_buffer_grows_back_and_loses_no_byte() {
    for piece in PIECES {
        run(async move {
            let mut conn = HttpConn::new(Duplex::new(TWO_REQUESTS, piece), Vec::new());
            let released = conn.release_read_buf();
            assert!(released.is_some_and(|buf| buf.capacity() >= MIN_READ_BUFFER));
            // Nothing to give back twice.
            assert!(conn.release_read_buf().is_none());
            let seen = read_all_requests(&mut conn).await;
            assert_eq!(
                seen,
                [
                    (b"/mcp".to_vec(), b"hello".to_vec()),
                    (b"/mcp".to_vec(), b"abcde".to_vec())
                ],
                "piece {piece}"
            );
        });
    }
}

#[test]
fn read_ahead_bytes_keep_the_buffer() {
    run(async {
        let mut conn = HttpConn::from_parts(Duplex::new(b"", 1), TWO_REQUESTS.to_vec());
        assert!(conn.release_read_buf().is_none());
        assert_eq!(read_all_requests(&mut conn).await.len(), 2);
        assert!(conn.release_read_buf().is_some());
    });
}

#[test]
fn a_body_read_after_a_release_is_whole() {
    run(async {
        // One byte per read: after the head nothing is buffered, so the release takes effect.
        let mut conn = HttpConn::new(Duplex::new(TWO_REQUESTS, 1), Vec::new());
        let mut head = RequestHead::default();
        assert!(conn
            .read_request_head(&Limits::default(), &mut head)
            .await
            .unwrap());
        assert!(conn.release_read_buf().is_some());
        let mut body = Vec::new();
        conn.read_body(head.framing().unwrap(), 1024, &mut body)
            .await
            .unwrap();
        assert_eq!(body, b"hello");
        let rest = read_all_requests(&mut conn).await;
        assert_eq!(rest, [(b"/mcp".to_vec(), b"abcde".to_vec())]);
    });
}
