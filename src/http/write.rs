//! Serialising request and response heads into a caller's `Vec<u8>`, and the standard reason phrases.
//!
//! Not here: parsing, deciding which headers to forward (use `Head::end_to_end_headers`), sockets.
//! Hot path: appends to `out` (which grows only if its capacity is short); no other allocation.
//!
//! The framing header is written from the `framing` argument only: any `Content-Length` or `Transfer-Encoding`
//! among `headers` is dropped, so a forwarded message can never carry two framings (a smuggling vector).
//! Names and values are written as given. Values from a parsed head are already valid; a caller writing values
//! of its own must not put CR, LF or NUL in them (use `is_valid_field_value`).

use super::framing::Framing;

/// No header fields, for a head that has only framing (a typed empty list; tests).
#[cfg(test)]
pub(crate) const NO_FIELDS: [(&str, &[u8]); 0] = [];

/// Appends `METHOD target HTTP/1.1`, `headers` (minus framing fields), the framing header and the blank line.
///
/// `Framing::Length(n)` writes `content-length: n`, `Chunked` writes `transfer-encoding: chunked`; `Empty` and
/// `UntilClose` write nothing (pass `Length(0)` to send an explicit zero). The caller supplies `Host`.
pub fn write_request_head<'a, N: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    method: &str,
    target: &[u8],
    headers: impl IntoIterator<Item = (N, &'a [u8])>,
    framing: Framing,
) {
    write_request_head_with(out, method, target, headers, &[], framing);
}

/// [`write_request_head`] plus `lines`, complete `name: value\r\n` fields rendered ahead of time
/// (a proxy's configured headers), written as given after `headers`. The caller has checked
/// them: valid names and values, no framing fields.
pub fn write_request_head_with<'a, N: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    method: &str,
    target: &[u8],
    headers: impl IntoIterator<Item = (N, &'a [u8])>,
    lines: &[u8],
    framing: Framing,
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_fields(out, headers, lines, framing);
}

/// Appends `HTTP/1.1 status reason`, `headers` (minus framing fields), the framing header and the blank line.
///
/// Framing as in `write_request_head`. For 1xx/204/304 and answers to HEAD pass `Empty` (or, for HEAD, the
/// `Length` the GET would have had: the header is written, no body follows).
pub fn write_response_head<'a, N: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    status: u16,
    headers: impl IntoIterator<Item = (N, &'a [u8])>,
    framing: Framing,
) {
    write_status_line(out, status);
    write_fields(out, headers, &[], framing);
}

/// Appends `HTTP/1.1 status reason` and CRLF (itoa: every proxied answer writes one).
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(status_reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_fields<'a, N: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    headers: impl IntoIterator<Item = (N, &'a [u8])>,
    lines: &[u8],
    framing: Framing,
) {
    for (name, value) in headers {
        let name = name.as_ref();
        if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
        {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(lines);
    match framing {
        Framing::Length(len) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Empty | Framing::UntilClose => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether `value` can be written as a field value: no CR, LF or NUL (RFC 9110 §5.5).
pub fn is_valid_field_value(value: &[u8]) -> bool {
    !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// The standard reason phrase for `code` (RFC 9110 §15), or `""` for codes it does not name.
pub fn status_reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{parse_request, parse_response, Head, Limits, Method};

    #[test]
    fn request_head_round_trips_through_the_parser() {
        let mut out = Vec::new();
        let headers: [(&str, &[u8]); 2] = [("Host", b"example"), ("Mcp-Session-Id", b"abc")];
        write_request_head(&mut out, "POST", b"/mcp?x=1", headers, Framing::Length(5));
        assert_eq!(
            out,
            b"POST /mcp?x=1 HTTP/1.1\r\nHost: example\r\nMcp-Session-Id: abc\r\ncontent-length: 5\r\n\r\n"
        );
        let (head, len) = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(len, out.len());
        assert_eq!(head.method(), Method::Post);
        assert_eq!(head.framing().unwrap(), Framing::Length(5));
    }

    #[test]
    fn prerendered_lines_go_after_the_fields_and_before_framing() {
        let mut out = Vec::new();
        let headers: [(&str, &[u8]); 1] = [("Host", b"example")];
        let lines = b"Authorization: Bearer t\r\nX-Tenant: a\r\n";
        write_request_head_with(&mut out, "GET", b"/mcp", headers, lines, Framing::Empty);
        assert_eq!(
            out,
            b"GET /mcp HTTP/1.1\r\nHost: example\r\nAuthorization: Bearer t\r\nX-Tenant: a\r\n\r\n"
        );
        let (head, _) = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.header("x-tenant"), Some(&b"a"[..]));
    }

    #[test]
    fn caller_framing_fields_are_dropped_in_favour_of_the_argument() {
        let mut out = Vec::new();
        let headers: [(&str, &[u8]); 3] = [
            ("Content-Length", b"99"),
            ("TRANSFER-ENCODING", b"gzip"),
            ("X-Keep", b"1"),
        ];
        write_response_head(&mut out, 200, headers, Framing::Chunked);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nX-Keep: 1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let (head, _) = parse_response(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.framing(Method::Post).unwrap(), Framing::Chunked);
        assert_eq!(head.header("x-keep"), Some(&b"1"[..]));
    }

    #[test]
    fn empty_and_until_close_write_no_framing_field() {
        for framing in [Framing::Empty, Framing::UntilClose] {
            let mut out = Vec::new();
            write_response_head(&mut out, 204, NO_FIELDS, framing);
            assert_eq!(out, b"HTTP/1.1 204 No Content\r\n\r\n");
        }
    }

    #[test]
    fn unknown_status_has_empty_reason_and_still_parses() {
        let mut out = Vec::new();
        write_response_head(&mut out, 599, NO_FIELDS, Framing::Length(0));
        let (head, _) = parse_response(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(head.status(), 599);
        assert_eq!(head.reason(), b"");
        assert_eq!(status_reason(431), "Request Header Fields Too Large");
    }

    #[test]
    fn field_value_validity() {
        assert!(is_valid_field_value(b"text/event-stream; charset=utf-8"));
        assert!(!is_valid_field_value(b"a\r\nInjected: 1"));
        assert!(!is_valid_field_value(b"a\0"));
    }
}
