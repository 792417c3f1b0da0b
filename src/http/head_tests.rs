//! Tests for head parsing: accessors, incremental input, size limits and the strictness rules.

use super::*;

const GET: &[u8] =
    b"GET /mcp?session=1&x=2 HTTP/1.1\r\nHost: example.com\r\nAccept: text/event-stream\r\n\
X-Multi: a\r\nx-multi: b\r\n\r\n";

fn request(text: &[u8]) -> RequestHead {
    let (head, len) = parse_request(text, &Limits::default()).unwrap().unwrap();
    assert_eq!(len, text.len());
    head
}

fn request_error(text: &[u8]) -> Error {
    parse_request(text, &Limits::default()).unwrap_err()
}

fn bad_request(text: &[u8]) -> Malformed {
    match request_error(text) {
        Error::BadRequest(what) => what,
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

#[test]
fn request_accessors() {
    let head = request(GET);
    assert_eq!(head.method(), Method::Get);
    assert_eq!(head.method_str(), "GET");
    assert_eq!(head.target(), b"/mcp?session=1&x=2");
    assert_eq!(head.path(), b"/mcp");
    assert_eq!(head.query(), Some(&b"session=1&x=2"[..]));
    assert_eq!(head.minor_version(), 1);
    assert_eq!(head.header("ACCEPT"), Some(&b"text/event-stream"[..]));
    assert_eq!(head.header("x-multi"), Some(&b"a"[..]));
    assert_eq!(head.header("missing"), None);
    let names: Vec<&[u8]> = head.headers().map(|(name, _)| name).collect();
    assert_eq!(names, [&b"Host"[..], b"Accept", b"X-Multi", b"x-multi"]);
    assert_eq!(
        head.fields().get_all("X-MULTI").collect::<Vec<_>>(),
        [b"a", b"b"]
    );
    assert_eq!(head.fields().len(), 4);
    assert_eq!(head.fields().raw(), GET);
}

#[test]
fn methods_are_classified_case_sensitively() {
    assert_eq!(
        request(b"DELETE /mcp HTTP/1.1\r\nHost: h\r\n\r\n").method(),
        Method::Delete
    );
    assert_eq!(
        request(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").method(),
        Method::Options
    );
    let odd = request(b"get / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((odd.method(), odd.method_str()), (Method::Other, "get"));
    assert_eq!(odd.query(), None);
}

#[test]
fn every_prefix_is_incomplete_and_the_whole_is_complete() {
    for end in 0..GET.len() {
        assert!(
            parse_request(&GET[..end], &Limits::default())
                .unwrap()
                .is_none(),
            "prefix {end}"
        );
    }
    assert!(parse_request(GET, &Limits::default()).unwrap().is_some());
}

#[test]
fn reparsing_reuses_storage_and_pipelined_requests_parse_in_turn() {
    let mut buf = GET.to_vec();
    buf.extend_from_slice(b"POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    let mut head = RequestHead::default();
    let first = head.parse(&buf, &Limits::default()).unwrap().unwrap();
    assert_eq!(first, GET.len());
    let raw_ptr = head.fields().raw().as_ptr();
    let second = head
        .parse(&buf[first..], &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(first + second, buf.len());
    assert_eq!(
        (head.method(), head.target()),
        (Method::Post, &b"/other"[..])
    );
    assert_eq!(
        head.fields().raw().as_ptr(),
        raw_ptr,
        "second parse reallocated"
    );
}

#[test]
fn head_too_large_is_431_and_does_not_depend_on_read_ahead() {
    let limits = Limits {
        max_head_bytes: 64,
        ..Limits::default()
    };
    let mut long = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
    long.resize(64, b'a');
    let err = parse_request(&long, &limits).unwrap_err();
    assert!(matches!(err, Error::HeadTooLarge { limit: 64 }), "{err:?}");
    assert_eq!(err.status(), 431);
    // One byte short of the limit is merely incomplete.
    assert!(parse_request(&long[..63], &limits).unwrap().is_none());
    // A complete head past the limit is refused too, however it was read.
    long.extend_from_slice(b"\r\n\r\n");
    assert!(matches!(
        parse_request(&long, &limits),
        Err(Error::HeadTooLarge { .. })
    ));
    // A head that fits is accepted even when the next request is already buffered past the limit.
    let mut fits = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    let head_len = fits.len();
    fits.resize(200, b'G');
    assert_eq!(parse_request(&fits, &limits).unwrap().unwrap().1, head_len);
}

#[test]
fn too_many_headers_is_431() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    let three = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    assert!(parse_request(three, &limits).unwrap().is_some());
    let four = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let err = parse_request(four, &limits).unwrap_err();
    assert!(
        matches!(err, Error::BadRequest(Malformed::TooManyHeaders)),
        "{err:?}"
    );
    assert_eq!(err.status(), 431);
    let huge = Limits {
        max_headers: 10_000,
        ..Limits::default()
    };
    let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..MAX_HEADERS_CAP {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let huge = Limits {
        max_head_bytes: 1 << 20,
        ..huge
    };
    assert_eq!(
        parse_request(&many, &huge).unwrap_err().status(),
        431,
        "the cap bounds the limit"
    );
}

#[test]
fn obs_fold_is_reported_as_ours() {
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n"),
        Malformed::ObsFold
    );
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n"),
        Malformed::ObsFold
    );
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
        Malformed::ObsFold
    );
    // Detected as soon as the folded line starts, without waiting for the end of the head.
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n "),
        Malformed::ObsFold
    );
    let resp = parse_response(
        b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\r\n",
        &Limits::default(),
    );
    assert!(
        matches!(resp, Err(Error::BadResponse(Malformed::ObsFold))),
        "{resp:?}"
    );
}

#[test]
fn syntax_errors_are_refused() {
    for text in [
        &b"GET / HTTP/1.1\r\nHost : h\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHo st: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n",
    ] {
        assert_eq!(
            bad_request(text),
            Malformed::HeadSyntax,
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn malformed_request_lines_are_refused() {
    // httparse reports these as a version error (it reads the stray token as the version); either way 400.
    for text in [
        &b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        let err = request_error(text);
        assert!(matches!(err, Error::BadRequest(_)), "{err:?}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn bare_lf_is_refused_anywhere_in_the_head() {
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\nHost: h\r\n\r\n"),
        Malformed::BareLineFeed
    );
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\r\nHost: h\n\r\n"),
        Malformed::BareLineFeed
    );
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\r\nHost: h\r\n\n"),
        Malformed::BareLineFeed
    );
    assert_eq!(
        bad_request(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        Malformed::BareLineFeed
    );
    // An empty CRLF line before the request line is tolerated (RFC 9112 §2.2).
    assert_eq!(
        request(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").method(),
        Method::Get
    );
}

#[test]
fn versions_other_than_1_0_and_1_1_are_refused() {
    assert_eq!(
        bad_request(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
        Malformed::BadVersion
    );
    assert_eq!(
        bad_request(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
        Malformed::BadVersion
    );
    assert_eq!(
        bad_request(b"GET / HTTPS/1.1\r\nHost: h\r\n\r\n"),
        Malformed::BadVersion
    );
}

#[test]
fn host_rules() {
    assert_eq!(bad_request(b"GET / HTTP/1.1\r\n\r\n"), Malformed::BadHost);
    assert_eq!(
        bad_request(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
        Malformed::BadHost
    );
    assert_eq!(
        bad_request(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
        Malformed::BadHost
    );
    assert_eq!(request(b"GET / HTTP/1.0\r\n\r\n").minor_version(), 0);
}

#[test]
fn keep_alive_rules() {
    let cases: [(&[u8], bool); 7] = [
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, CLOSE\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: Close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            request(text).keep_alive(),
            expected,
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn hop_by_hop_covers_fixed_names_and_connection_tokens() {
    let head = request(
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: X-Private , keep-alive,,\r\nX-Private: 1\r\n\
Keep-Alive: timeout=5\r\nTE: trailers\r\nMcp-Session-Id: s\r\nProxy-Authorization: x\r\n\r\n",
    );
    let tokens: Vec<&[u8]> = head.connection_tokens().collect();
    assert_eq!(tokens, [&b"X-Private"[..], b"keep-alive"]);
    assert!(head.is_hop_by_hop(b"x-private"));
    assert!(head.is_hop_by_hop(b"Transfer-Encoding"));
    assert!(!head.is_hop_by_hop(b"mcp-session-id"));
    let forwarded: Vec<&[u8]> = head.end_to_end_headers().map(|(name, _)| name).collect();
    assert_eq!(forwarded, [&b"Host"[..], b"Mcp-Session-Id"]);
    for name in HOP_BY_HOP {
        assert!(
            is_hop_by_hop(name.to_ascii_uppercase().as_bytes()),
            "{name}"
        );
    }
    assert!(!is_hop_by_hop(b"content-length"));
}

#[test]
fn response_accessors_and_status_rules() {
    let text = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n";
    let (head, len) = parse_response(text, &Limits::default()).unwrap().unwrap();
    assert_eq!(len, text.len());
    assert_eq!((head.status(), head.reason()), (404, &b"Not Found"[..]));
    assert_eq!(head.header("content-type"), Some(&b"application/json"[..]));
    assert!(head.keep_alive());
    let (no_reason, _) = parse_response(b"HTTP/1.1 204\r\n\r\n", &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!((no_reason.status(), no_reason.reason()), (204, &b""[..]));
    let (obs_text, _) = parse_response(b"HTTP/1.1 200 \xffk\r\n\r\n", &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(obs_text.reason(), b"");
    for bad in [
        &b"HTTP/1.1 099 Low\r\n\r\n"[..],
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
    ] {
        let err = parse_response(bad, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, Error::BadResponse(Malformed::BadStatus)),
            "{err:?}"
        );
    }
    assert!(
        parse_response(b"HTTP/1.1 200 OK\r\nServer: x\r\n", &Limits::default())
            .unwrap()
            .is_none()
    );
}
