//! Tests for the framing rules, including the request-smuggling shapes they exist to refuse.

use super::*;
use crate::http::head::{parse_request, parse_response, Limits};

fn request_framing(fields: &str) -> Result<Framing, Error> {
    request_framing_version(fields, "1.1")
}

fn request_framing_version(fields: &str, version: &str) -> Result<Framing, Error> {
    let text = format!("POST /mcp HTTP/{version}\r\nHost: h\r\n{fields}\r\n");
    let (head, _) = parse_request(text.as_bytes(), &Limits::default())
        .unwrap()
        .unwrap();
    head.framing()
}

fn response_framing(
    status_line: &str,
    fields: &str,
    request_method: Method,
) -> Result<Framing, Error> {
    let text = format!("{status_line}\r\n{fields}\r\n");
    let (head, _) = parse_response(text.as_bytes(), &Limits::default())
        .unwrap()
        .unwrap();
    head.framing(request_method)
}

fn bad_request(result: Result<Framing, Error>) -> Malformed {
    match result {
        Err(Error::BadRequest(what)) => what,
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

#[test]
fn request_without_framing_fields_has_no_body() {
    assert_eq!(request_framing("").unwrap(), Framing::Empty);
}

#[test]
fn content_length_is_used_with_optional_whitespace() {
    assert_eq!(
        request_framing("Content-Length: 5\r\n").unwrap(),
        Framing::Length(5)
    );
    assert_eq!(
        request_framing("content-length:0\r\n").unwrap(),
        Framing::Length(0)
    );
    assert_eq!(
        request_framing("Content-Length: \t 42 \t\r\n").unwrap(),
        Framing::Length(42)
    );
    assert_eq!(
        request_framing("Content-Length: 007\r\n").unwrap(),
        Framing::Length(7)
    );
    assert_eq!(
        request_framing("Content-Length: 18446744073709551615\r\n").unwrap(),
        Framing::Length(u64::MAX)
    );
}

#[test]
fn chunked_is_recognised_in_any_case() {
    for value in ["chunked", "Chunked", "CHUNKED", "cHuNkEd  "] {
        let fields = format!("Transfer-Encoding: {value}\r\n");
        assert_eq!(
            request_framing(&fields).unwrap(),
            Framing::Chunked,
            "{value}"
        );
    }
    assert_eq!(
        request_framing("transfer-ENCODING: chunked\r\n").unwrap(),
        Framing::Chunked
    );
}

#[test]
fn content_length_with_transfer_encoding_is_refused_in_either_order() {
    for fields in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
        "content-length: 0\r\ntransfer-encoding: CHUNKED\r\n",
    ] {
        assert_eq!(
            bad_request(request_framing(fields)),
            Malformed::BothContentLengthAndTransferEncoding,
            "{fields}"
        );
    }
}

#[test]
fn repeated_content_length_is_refused_even_when_equal() {
    for fields in [
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5,6\r\n",
        "Content-Length: 5\r\ncontent-length: abc\r\n",
    ] {
        assert_eq!(
            bad_request(request_framing(fields)),
            Malformed::ConflictingContentLength,
            "{fields}"
        );
    }
}

#[test]
fn malformed_content_length_is_refused() {
    for value in [
        "+5",
        "-5",
        "0x5",
        "5 5",
        "5a",
        "",
        "1e3",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let fields = format!("Content-Length: {value}\r\n");
        assert_eq!(
            bad_request(request_framing(&fields)),
            Malformed::BadContentLength,
            "{value:?}"
        );
    }
}

#[test]
fn transfer_encoding_other_than_chunked_is_unsupported_with_501() {
    for fields in [
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunkedx\r\n",
        "Transfer-Encoding: chunked;q=1\r\n",
        "Transfer-Encoding: \"chunked\"\r\n",
        "Transfer-Encoding:\r\n",
    ] {
        let err = request_framing(fields).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BadRequest(Malformed::UnsupportedTransferEncoding)
            ),
            "{fields}: {err:?}"
        );
        assert_eq!(err.status(), 501);
    }
}

#[test]
fn transfer_encoding_in_http_1_0_is_faulty() {
    assert_eq!(
        bad_request(request_framing_version(
            "Transfer-Encoding: chunked\r\n",
            "1.0"
        )),
        Malformed::TransferEncodingInHttp10
    );
    assert_eq!(
        request_framing_version("Content-Length: 3\r\n", "1.0").unwrap(),
        Framing::Length(3)
    );
}

#[test]
fn response_framing_follows_status_and_request_method() {
    let ok = "HTTP/1.1 200 OK";
    assert_eq!(
        response_framing(ok, "", Method::Get).unwrap(),
        Framing::UntilClose
    );
    assert_eq!(
        response_framing(ok, "Content-Length: 12\r\n", Method::Post).unwrap(),
        Framing::Length(12)
    );
    assert_eq!(
        response_framing(ok, "Transfer-Encoding: chunked\r\n", Method::Post).unwrap(),
        Framing::Chunked
    );
    assert_eq!(
        response_framing(ok, "Content-Length: 12\r\n", Method::Head).unwrap(),
        Framing::Empty
    );
    assert_eq!(
        response_framing("HTTP/1.1 204 No Content", "", Method::Delete).unwrap(),
        Framing::Empty
    );
    assert_eq!(
        response_framing(
            "HTTP/1.1 304 Not Modified",
            "Content-Length: 9\r\n",
            Method::Get
        )
        .unwrap(),
        Framing::Empty
    );
    assert_eq!(
        response_framing("HTTP/1.1 100 Continue", "", Method::Post).unwrap(),
        Framing::Empty
    );
    assert_eq!(
        response_framing("HTTP/1.1 101 Switching Protocols", "", Method::Get).unwrap(),
        Framing::Empty
    );
    assert_eq!(
        response_framing("HTTP/1.0 200 OK", "", Method::Get).unwrap(),
        Framing::UntilClose
    );
}

#[test]
fn response_fields_are_validated_even_when_the_body_is_empty() {
    let both = "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n";
    for (status_line, method) in [
        ("HTTP/1.1 200 OK", Method::Post),
        ("HTTP/1.1 204 No Content", Method::Post),
    ] {
        let err = response_framing(status_line, both, method).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BadResponse(Malformed::BothContentLengthAndTransferEncoding)
            ),
            "{err:?}"
        );
        assert_eq!(err.status(), 502);
    }
    let err = response_framing(
        "HTTP/1.1 200 OK",
        "Content-Length: 1\r\nContent-Length: 1\r\n",
        Method::Head,
    );
    assert!(matches!(
        err,
        Err(Error::BadResponse(Malformed::ConflictingContentLength))
    ));
    let err = response_framing(
        "HTTP/1.0 200 OK",
        "Transfer-Encoding: chunked\r\n",
        Method::Get,
    );
    assert!(matches!(
        err,
        Err(Error::BadResponse(Malformed::TransferEncodingInHttp10))
    ));
}

#[test]
fn parse_content_length_directly() {
    assert_eq!(parse_content_length(b"0"), Ok(0));
    assert_eq!(parse_content_length(b" 12 "), Ok(12));
    assert_eq!(
        parse_content_length(b"1,2"),
        Err(Malformed::ConflictingContentLength)
    );
    assert_eq!(
        parse_content_length(b"\xff"),
        Err(Malformed::BadContentLength)
    );
    assert_eq!(
        parse_content_length(b"  "),
        Err(Malformed::BadContentLength)
    );
}
