//! `http::Error`: every way reading or decoding an HTTP/1.1 message can fail, and the status a server answers with.
//!
//! Not here: deciding what to do about an error (closing, logging, JSON-RPC bodies); that is the caller's job.
//! Cold path: nothing here is built unless something already failed.

/// Which kind of message a codec is reading; picks `BadRequest` or `BadResponse` for a protocol violation.
///
/// The distinction records who is at fault: a malformed request is the client's (400), a malformed response is the
/// upstream's (the proxy answers 502).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A request (we are the server side).
    Request,
    /// A response (we are the client side).
    Response,
}

impl MessageKind {
    /// Wraps a protocol violation in the error variant for this kind of message.
    pub fn malformed(self, what: Malformed) -> Error {
        match self {
            MessageKind::Request => Error::BadRequest(what),
            MessageKind::Response => Error::BadResponse(what),
        }
    }
}

/// What exactly was wrong with a message that broke the HTTP/1.1 syntax or our strict framing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The start line or a header line does not follow RFC 9112 (bad token, bad byte, space before a colon...).
    #[error("head syntax")]
    HeadSyntax,
    /// A line ended in a bare LF instead of CRLF (RFC 9112 §2.2 allows tolerating it; we refuse, see `head.rs`).
    #[error("bare LF line ending")]
    BareLineFeed,
    /// A header line starts with SP/HTAB: obsolete line folding (RFC 9112 §5.2) or whitespace before the first field.
    #[error("obsolete line folding")]
    ObsFold,
    /// More header fields than `Limits::max_headers`.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The HTTP version is not `HTTP/1.0` or `HTTP/1.1`.
    #[error("unsupported HTTP version")]
    BadVersion,
    /// A response status code outside 100..=999.
    #[error("bad status code")]
    BadStatus,
    /// An HTTP/1.1 request without exactly one `Host` field, or an HTTP/1.0 request with several (RFC 9112 §3.2).
    #[error("missing or repeated Host")]
    BadHost,
    /// Both `Content-Length` and `Transfer-Encoding` present (RFC 9112 §6.3 item 3: a smuggling signature).
    #[error("both Content-Length and Transfer-Encoding")]
    BothContentLengthAndTransferEncoding,
    /// Several `Content-Length` fields or a comma list, even with equal values.
    #[error("conflicting Content-Length")]
    ConflictingContentLength,
    /// A `Content-Length` value that is not 1*DIGIT or does not fit in a u64.
    #[error("bad Content-Length")]
    BadContentLength,
    /// A `Transfer-Encoding` other than exactly one `chunked` coding.
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 message (RFC 9112 §6.1: framing is faulty).
    #[error("Transfer-Encoding in HTTP/1.0")]
    TransferEncodingInHttp10,
    /// A chunk-size line that is not HEXDIG [BWS ";" ext] CRLF, overflows, or is longer than the line bound.
    #[error("bad chunk size line")]
    BadChunkSize,
    /// Chunk data not followed by CRLF.
    #[error("bad chunk terminator")]
    BadChunkTerminator,
    /// A trailer line with a bare CR/LF, or a trailer section larger than its bound.
    #[error("bad trailer section")]
    BadTrailer,
}

/// Everything that can go wrong reading, parsing or decoding an HTTP/1.1 message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client sent a request that breaks the protocol.
    #[error("bad request: {0}")]
    BadRequest(Malformed),
    /// The upstream sent a response that breaks the protocol.
    #[error("bad response: {0}")]
    BadResponse(Malformed),
    /// The head did not end within `limit` bytes.
    #[error("head larger than {limit} bytes")]
    HeadTooLarge {
        /// `Limits::max_head_bytes` in force.
        limit: usize,
    },
    /// The body is (or declared itself) larger than `limit` bytes.
    #[error("body larger than {limit} bytes")]
    BodyTooLarge {
        /// The body limit in force.
        limit: u64,
    },
    /// One SSE event block grew past `limit` bytes without a blank line.
    #[error("SSE event larger than {limit} bytes")]
    EventTooLarge {
        /// `SseParser`'s event bound.
        limit: usize,
    },
    /// The peer closed the connection in the middle of a message.
    #[error("connection closed mid-message")]
    UnexpectedEof,
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The status a server answers its client with when this error came from reading that client's request.
    ///
    /// `HeadTooLarge` and `TooManyHeaders` → 431, `BodyTooLarge` → 413, `UnsupportedTransferEncoding` → 501
    /// (RFC 9112 §6.1: "SHOULD respond with 501"), other request violations, EOF and I/O → 400 (for the last two
    /// the client is usually gone anyway). `BadResponse` and `EventTooLarge` are the upstream's fault → 502.
    /// A caller reading an upstream response maps *every* error to 502 itself: a 431 or 413 would blame the client.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(Malformed::UnsupportedTransferEncoding) => 501,
            Error::BadRequest(Malformed::TooManyHeaders) | Error::HeadTooLarge { .. } => 431,
            Error::BodyTooLarge { .. } => 413,
            Error::BadResponse(_) | Error::EventTooLarge { .. } => 502,
            Error::BadRequest(_) | Error::UnexpectedEof | Error::Io(_) => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_documented_table() {
        assert_eq!(Error::HeadTooLarge { limit: 1 }.status(), 431);
        assert_eq!(Error::BadRequest(Malformed::TooManyHeaders).status(), 431);
        assert_eq!(Error::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(
            Error::BadRequest(Malformed::UnsupportedTransferEncoding).status(),
            501
        );
        assert_eq!(Error::BadRequest(Malformed::ObsFold).status(), 400);
        assert_eq!(Error::BadResponse(Malformed::ObsFold).status(), 502);
        assert_eq!(Error::EventTooLarge { limit: 1 }.status(), 502);
        assert_eq!(Error::UnexpectedEof.status(), 400);
    }

    #[test]
    fn kind_picks_the_side_at_fault() {
        let req = MessageKind::Request.malformed(Malformed::BadChunkSize);
        let resp = MessageKind::Response.malformed(Malformed::BadChunkSize);
        assert!(matches!(req, Error::BadRequest(Malformed::BadChunkSize)));
        assert!(matches!(resp, Error::BadResponse(Malformed::BadChunkSize)));
    }

    #[test]
    fn error_stays_small() {
        assert!(std::mem::size_of::<Error>() <= 16);
    }
}
