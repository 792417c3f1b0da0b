//! Body framing: how long a message body is, decided from `Content-Length` / `Transfer-Encoding` under strict rules.
//!
//! Not here: reading the body (`body.rs`, `conn.rs`); writing framing headers (`write.rs`).
//! Hot path: a scan over the head's field offsets; allocates nothing.
//!
//! The rules (RFC 9112 §6, tightened where a lenient reading lets two parsers disagree: request smuggling):
//! - `Content-Length` and `Transfer-Encoding` together → `BothContentLengthAndTransferEncoding`. RFC 9112 §6.3 lets a
//!   recipient let TE win; a proxy that does so forwards bytes another hop reads differently, so we refuse.
//! - more than one `Content-Length` field, or a comma list, → `ConflictingContentLength` **even if the values are
//!   equal**. RFC 9110 §8.6 tolerates identical duplicates, but every extra rule for "which one counts" is a
//!   place for parsers to disagree; no sane client sends two.
//! - a `Content-Length` value must be 1*DIGIT fitting a u64: no sign, no `0x`, no inner spaces, no empty value
//!   → `BadContentLength`. Surrounding whitespace is optional whitespace (OWS) and is allowed.
//! - `Transfer-Encoding` must be exactly one field whose value is `chunked` (ASCII case-insensitive, trimmed);
//!   anything else (`gzip, chunked`, `chunked, identity`, two TE fields, an empty value) →
//!   `UnsupportedTransferEncoding`, which answers 501 for a request (RFC 9112 §6.1).
//! - `Transfer-Encoding` in an HTTP/1.0 message → `TransferEncodingInHttp10` (RFC 9112 §6.1: faulty framing).
//! - a request with neither → `Empty` (RFC 9112 §6.3 item 7: no body).
//! - a response to HEAD, or with status 1xx/204/304 → `Empty`, whatever its fields say (RFC 9112 §6.3 item 1);
//!   the fields are still validated first. A response with neither field → `UntilClose` (item 8).
//!   A 2xx answer to CONNECT (a tunnel) is not supported; callers never send CONNECT upstream.

use super::error::{Error, Malformed, MessageKind};
use super::head::{Fields, Head, Method, RequestHead, ResponseHead};

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the peer closes (responses only).
    UntilClose,
}

/// What the framing fields of a head declare, once validated.
enum Declared {
    Nothing,
    Length(u64),
    Chunked,
}

fn declared(fields: &Fields, minor_version: u8, kind: MessageKind) -> Result<Declared, Error> {
    let has_te = fields.contains("transfer-encoding");
    let has_cl = fields.contains("content-length");
    if has_te && has_cl {
        return Err(kind.malformed(Malformed::BothContentLengthAndTransferEncoding));
    }
    if has_te {
        if minor_version == 0 {
            return Err(kind.malformed(Malformed::TransferEncodingInHttp10));
        }
        let mut codings = fields.get_all("transfer-encoding");
        let only_chunked = codings
            .next()
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        if !only_chunked || codings.next().is_some() {
            return Err(kind.malformed(Malformed::UnsupportedTransferEncoding));
        }
        return Ok(Declared::Chunked);
    }
    let only = fields.only("content-length");
    let Some(length) = only.map_err(|_| kind.malformed(Malformed::ConflictingContentLength))?
    else {
        return Ok(Declared::Nothing);
    };
    parse_content_length(length)
        .map(Declared::Length)
        .map_err(|what| kind.malformed(what))
}

/// Parses a `Content-Length` value: OWS, 1*DIGIT that fits a u64, OWS.
pub fn parse_content_length(value: &[u8]) -> Result<u64, Malformed> {
    let digits = value.trim_ascii();
    if digits.contains(&b',') {
        return Err(Malformed::ConflictingContentLength);
    }
    if digits.is_empty() {
        return Err(Malformed::BadContentLength);
    }
    digits.iter().try_fold(0u64, |acc, b| {
        let digit = b
            .is_ascii_digit()
            .then(|| u64::from(b - b'0'))
            .ok_or(Malformed::BadContentLength)?;
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or(Malformed::BadContentLength)
    })
}

impl RequestHead {
    /// The body framing of this request under the module's strict rules; errors are `BadRequest(_)`.
    pub fn framing(&self) -> Result<Framing, Error> {
        Ok(
            match declared(self.fields(), self.minor_version(), MessageKind::Request)? {
                Declared::Nothing => Framing::Empty,
                Declared::Length(n) => Framing::Length(n),
                Declared::Chunked => Framing::Chunked,
            },
        )
    }
}

impl ResponseHead {
    /// The body framing of this response to a `request_method` request; errors are `BadResponse(_)`.
    pub fn framing(&self, request_method: Method) -> Result<Framing, Error> {
        let declared = declared(self.fields(), self.minor_version(), MessageKind::Response)?;
        let status = self.status();
        if request_method == Method::Head
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            return Ok(Framing::Empty);
        }
        Ok(match declared {
            Declared::Nothing => Framing::UntilClose,
            Declared::Length(n) => Framing::Length(n),
            Declared::Chunked => Framing::Chunked,
        })
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
