//! Parsed HTTP/1.1 request and response heads: httparse into a stack array, stored as one byte copy plus offsets.
//!
//! Not here: body framing rules (`framing.rs`), writing heads (`write.rs`), sockets (`conn.rs`).
//!
//! Hot path. A parse runs httparse over at most `Limits::max_head_bytes` into an uninitialised stack array of
//! `MAX_HEADERS_CAP` fields (4 KiB of stack, none of it in a future), then copies the head bytes into the head's own
//! `Vec` and records (name, value) offsets in another. Both vectors keep their capacity when the same head value is
//! parsed into again (`RequestHead::parse`), so a connection that reuses one head allocates nothing after warm-up.
//! Lookups scan the offsets (heads are small; a map would cost more than it saves).
//!
//! Strictness beyond httparse's defaults, with reasons:
//! - bare LF line endings are refused (`Malformed::BareLineFeed`): RFC 9112 §2.2 lets a recipient accept them, but a
//!   proxy that accepts what its neighbour rejects (or vice versa) is how requests get smuggled;
//! - a header line starting with SP/HTAB (obs-fold, RFC 9112 §5.2, or whitespace before the first field) makes
//!   httparse fail with a generic `HeaderName` error; we look at the bytes and report `Malformed::ObsFold`;
//! - an HTTP/1.1 request needs exactly one `Host`, an HTTP/1.0 one at most one (RFC 9112 §3.2, `Malformed::BadHost`);
//! - a response status below 100 is refused (`Malformed::BadStatus`).

use std::mem::MaybeUninit;

use super::error::{Error, Malformed, MessageKind};

/// Hard ceiling on `Limits::max_headers`: the size of the stack array httparse parses into.
pub const MAX_HEADERS_CAP: usize = 128;

/// Size bounds applied while reading one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest head (start line + fields + blank line) accepted; past it reading fails with `HeadTooLarge` (431).
    pub max_head_bytes: usize,
    /// Most header fields accepted (clamped to `MAX_HEADERS_CAP`); past it `Malformed::TooManyHeaders` (431).
    pub max_headers: usize,
    /// Largest body accepted; past it `BodyTooLarge` (413).
    pub max_body_bytes: u64,
}

impl Default for Limits {
    /// 16 KiB head (nginx's `large_client_header_buffers` is 8 KiB per line), 64 fields, 4 MiB body.
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A request method. Methods are case-sensitive (RFC 9110 §9.1): `get` is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// Any other token; `RequestHead::method_str` has the spelling.
    Other,
}

impl Method {
    /// Classifies a method token.
    pub fn from_bytes(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// A field that must appear at most once appeared more than once ([`Fields::only`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// Offsets of a byte range inside a head's raw copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Where `part` lies inside `base`; an empty part maps to an empty span (httparse may hand out a static "").
    fn locate(base: &[u8], part: &[u8]) -> Option<Span> {
        if part.is_empty() {
            return Some(Span::default());
        }
        let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        if end > base.len() {
            return None;
        }
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    fn of(self, raw: &[u8]) -> &[u8] {
        raw.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
struct FieldSpan {
    name: Span,
    value: Span,
}

/// The header section of a parsed head: a copy of the head bytes plus the offsets of each field.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    raw: Vec<u8>,
    spans: Vec<FieldSpan>,
}

impl Fields {
    /// The first value of field `name` (ASCII case-insensitive), trimmed of surrounding whitespace.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// Every value of field `name`, in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        // Compares raw bytes: no UTF-8 check per field on the lookup path.
        self.spans
            .iter()
            .filter(move |f| f.name.of(&self.raw).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value.of(&self.raw))
    }

    /// The value of field `name` when it is present at most once: `Ok(None)` when absent,
    /// `Err(Repeated)` when present more than once (a header that must not be repeated).
    pub fn only(&self, name: &str) -> Result<Option<&[u8]>, Repeated> {
        let mut values = self.get_all(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(Repeated),
            None => Ok(first),
        }
    }

    /// Whether field `name` is present at least once.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every (name, value) pair in wire order; names keep the sender's casing. Names are bytes
    /// (httparse admits only tchar bytes in them): copying a head needs no UTF-8 check per field.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans
            .iter()
            .map(|f| (f.name.of(&self.raw), f.value.of(&self.raw)))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The whole head as received, start line and final CRLF included.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Copies `head` (the first `head.len()` bytes of `window`) and records where each httparse field lies.
    fn fill(
        &mut self,
        head: &[u8],
        parsed: &[httparse::Header<'_>],
        kind: MessageKind,
    ) -> Result<(), Error> {
        self.raw.clear();
        self.spans.clear();
        self.raw.extend_from_slice(head);
        // One allocation for a fresh head instead of a growth per doubling.
        self.spans.reserve(parsed.len());
        for field in parsed {
            let name = Span::locate(head, field.name.as_bytes());
            let value = Span::locate(head, field.value);
            match (name, value) {
                (Some(name), Some(value)) => self.spans.push(FieldSpan { name, value }),
                _ => return Err(kind.malformed(Malformed::HeadSyntax)),
            }
        }
        Ok(())
    }
}

/// Names that are hop-by-hop whatever the `Connection` field says (RFC 9110 §7.6.1, plus the legacy
/// `Keep-Alive` and `Proxy-Connection`, and `Proxy-Authenticate`/`Proxy-Authorization` which belong to one hop).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// Whether `name` is always hop-by-hop (not forwarded by a proxy). See `Head::is_hop_by_hop` for the
/// per-message check that also covers names listed in `Connection`.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
}

/// Accessors shared by request and response heads. Bring it into scope to call `header`, `keep_alive`, ...
pub trait Head {
    /// The header fields.
    fn fields(&self) -> &Fields;

    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    fn minor_version(&self) -> u8;

    /// First value of `name`, case-insensitive.
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.fields().get(name)
    }

    /// All (name, value) pairs in wire order.
    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields().iter()
    }

    /// The comma-separated tokens of every `Connection` field, trimmed, empty ones skipped, case kept.
    fn connection_tokens(&self) -> impl Iterator<Item = &[u8]> {
        self.fields()
            .get_all("connection")
            .flat_map(|value| value.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|token| !token.is_empty())
    }

    /// Whether the connection may carry another message after this one: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive` (RFC 9112 §9.3). A response framed `UntilClose` also ends the
    /// connection; that is the caller's check.
    fn keep_alive(&self) -> bool {
        let mut keep = self.minor_version() >= 1;
        for token in self.connection_tokens() {
            if token.eq_ignore_ascii_case(b"close") {
                return false;
            }
            keep |= token.eq_ignore_ascii_case(b"keep-alive");
        }
        keep
    }

    /// Whether a proxy must drop field `name` of this message: a fixed hop-by-hop name or one listed in `Connection`.
    fn is_hop_by_hop(&self, name: &[u8]) -> bool {
        is_hop_by_hop(name)
            || self
                .connection_tokens()
                .any(|token| token.eq_ignore_ascii_case(name))
    }

    /// The fields a proxy forwards: every field for which `is_hop_by_hop` is false.
    fn end_to_end_headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers()
            .filter(move |(name, _)| !self.is_hop_by_hop(name))
    }

    /// Whether the body is an SSE stream: `Content-Type` is `text/event-stream` (media type
    /// compared case-insensitively, parameters ignored; RFC 9110 §8.3.1).
    fn is_event_stream(&self) -> bool {
        self.header("content-type")
            .is_some_and(|ct| media_type(ct).eq_ignore_ascii_case(b"text/event-stream"))
    }
}

/// The media type of a `Content-Type` value or of one `Accept` item: what precedes the first
/// `;` (the parameters), trimmed; compare it case-insensitively (RFC 9110 §8.3.1).
pub fn media_type(value: &[u8]) -> &[u8] {
    // A plain scan: values are a few dozen bytes, too short for memchr's setup to pay.
    let end = value.iter().position(|b| *b == b';').unwrap_or(value.len());
    value.get(..end).unwrap_or(value).trim_ascii()
}

/// A parsed request head. `Default` is empty and allocation-free; `parse` refills it in place.
#[derive(Debug, Clone)]
pub struct RequestHead {
    fields: Fields,
    method: Method,
    method_span: Span,
    target: Span,
    minor_version: u8,
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            fields: Fields::default(),
            method: Method::Get,
            method_span: Span::default(),
            target: Span::default(),
            minor_version: 1,
        }
    }
}

/// A parsed response head. `Default` is empty and allocation-free; `parse` refills it in place.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    fields: Fields,
    status: u16,
    reason: Span,
    minor_version: u8,
}

impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead {
            fields: Fields::default(),
            status: 200,
            reason: Span::default(),
            minor_version: 1,
        }
    }
}

impl Head for RequestHead {
    fn fields(&self) -> &Fields {
        &self.fields
    }
    fn minor_version(&self) -> u8 {
        self.minor_version
    }
}

impl Head for ResponseHead {
    fn fields(&self) -> &Fields {
        &self.fields
    }
    fn minor_version(&self) -> u8 {
        self.minor_version
    }
}

/// An uninitialised header array for one parse; lives on the parse's stack frame, never in a future.
type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS_CAP];

fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS_CAP]
}

/// The part of `buf` the parser may look at: at most `max_head_bytes`, so a head is judged the same however
/// much of the next message was read along with it.
fn window<'b>(buf: &'b [u8], limits: &Limits) -> &'b [u8] {
    buf.get(..limits.max_head_bytes).unwrap_or(buf)
}

/// Turns httparse's verdict into ours: `Some(head_len)`, `None` (need more bytes) or a typed error.
fn verdict(
    kind: MessageKind,
    status: httparse::Result<usize>,
    window: &[u8],
    limits: &Limits,
) -> Result<Option<usize>, Error> {
    match status {
        Ok(httparse::Status::Complete(len)) => {
            if has_bare_lf(window.get(..len).unwrap_or(window)) {
                return Err(kind.malformed(Malformed::BareLineFeed));
            }
            Ok(Some(len))
        }
        Ok(httparse::Status::Partial) if window.len() >= limits.max_head_bytes => {
            Err(Error::HeadTooLarge {
                limit: limits.max_head_bytes,
            })
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::HeaderName) if has_folded_line(window) => {
            Err(kind.malformed(Malformed::ObsFold))
        }
        Err(httparse::Error::TooManyHeaders) => Err(kind.malformed(Malformed::TooManyHeaders)),
        Err(httparse::Error::Version) => Err(kind.malformed(Malformed::BadVersion)),
        Err(httparse::Error::Status) => Err(kind.malformed(Malformed::BadStatus)),
        Err(_) => Err(kind.malformed(Malformed::HeadSyntax)),
    }
}

/// Whether some LF in `head` is not preceded by CR (memchr: every head is searched).
fn has_bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head)
        .any(|i| i.checked_sub(1).and_then(|prev| head.get(prev)) != Some(&b'\r'))
}

/// Whether a line of the header section (before the first blank line) starts with SP or HTAB.
fn has_folded_line(window: &[u8]) -> bool {
    for line in window.split(|b| *b == b'\n').skip(1) {
        match line {
            // A blank line ends the head: what follows is body or the next message, not ours to judge.
            [] | [b'\r'] => return false,
            [b' ' | b'\t', ..] => return true,
            _ => {}
        }
    }
    false
}

/// The interim answer to a request that [`RequestHead::expects_continue`].
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl RequestHead {
    /// Whether the client waits for `100 Continue` before it sends its body (HTTP/1.1
    /// `Expect: 100-continue`, RFC 9110 §10.1.1): answer with [`CONTINUE`] before reading it.
    pub fn expects_continue(&self) -> bool {
        self.minor_version() == 1
            && self
                .header("expect")
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
    }

    /// Parses the request head at the start of `buf` into `self`, reusing its storage.
    ///
    /// `Ok(Some(head_len))`: the head is `buf[..head_len]`, the body (or next request) follows. `Ok(None)`: the head
    /// is incomplete, read more. Errors: `HeadTooLarge` when incomplete and `buf` already holds `max_head_bytes`,
    /// `BadRequest(_)` for syntax (`HeadSyntax`, `BareLineFeed`, `ObsFold`, `TooManyHeaders`, `BadVersion`,
    /// `BadHost`). Framing is checked separately by `framing()`. On error or `None`, `self` is unspecified.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, Error> {
        let kind = MessageKind::Request;
        let window = window(buf, limits);
        let mut slots = header_slots();
        let slots = slots
            .get_mut(..limits.max_headers.min(MAX_HEADERS_CAP))
            .unwrap_or_default();
        let mut req = httparse::Request::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_request_with_uninit_headers(&mut req, window, slots);
        let Some(len) = verdict(kind, status, window, limits)? else {
            return Ok(None);
        };
        let head = window.get(..len).unwrap_or(window);
        let method = req.method.unwrap_or_default();
        let target = req.path.unwrap_or_default();
        let (Some(method_span), Some(target_span)) = (
            Span::locate(head, method.as_bytes()),
            Span::locate(head, target.as_bytes()),
        ) else {
            return Err(kind.malformed(Malformed::HeadSyntax));
        };
        self.fields.fill(head, req.headers, kind)?;
        self.method = Method::from_bytes(method.as_bytes());
        self.method_span = method_span;
        self.target = target_span;
        self.minor_version = req.version.unwrap_or(1);
        let hosts = self.fields.get_all("host").count();
        if hosts > 1 || (hosts == 0 && self.minor_version >= 1) {
            return Err(kind.malformed(Malformed::BadHost));
        }
        Ok(Some(len))
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The method as sent (for `Method::Other` and for forwarding).
    pub fn method_str(&self) -> &str {
        std::str::from_utf8(self.method_span.of(&self.fields.raw)).unwrap_or("")
    }

    /// The request target as sent: path and query (origin-form), or whatever form the client used.
    pub fn target(&self) -> &[u8] {
        self.target.of(&self.fields.raw)
    }

    /// The target up to the first `?`.
    pub fn path(&self) -> &[u8] {
        let target = self.target();
        target.split(|b| *b == b'?').next().unwrap_or(target)
    }

    /// The target after the first `?`, if there is one.
    pub fn query(&self) -> Option<&[u8]> {
        let target = self.target();
        let at = target.iter().position(|b| *b == b'?')?;
        target.get(at + 1..)
    }
}

impl ResponseHead {
    /// Parses the response head at the start of `buf` into `self`, reusing its storage. Same contract as
    /// `RequestHead::parse`, with `BadResponse(_)` errors (`BadStatus` for a code below 100). 1xx interim
    /// responses parse like any other; skipping them is the caller's job.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, Error> {
        let kind = MessageKind::Response;
        let window = window(buf, limits);
        let mut slots = header_slots();
        let slots = slots
            .get_mut(..limits.max_headers.min(MAX_HEADERS_CAP))
            .unwrap_or_default();
        let mut resp = httparse::Response::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, window, slots);
        let Some(len) = verdict(kind, status, window, limits)? else {
            return Ok(None);
        };
        let head = window.get(..len).unwrap_or(window);
        let code = resp.code.unwrap_or_default();
        if code < 100 {
            return Err(kind.malformed(Malformed::BadStatus));
        }
        let Some(reason) = Span::locate(head, resp.reason.unwrap_or_default().as_bytes()) else {
            return Err(kind.malformed(Malformed::HeadSyntax));
        };
        self.fields.fill(head, resp.headers, kind)?;
        self.status = code;
        self.reason = reason;
        self.minor_version = resp.version.unwrap_or(1);
        Ok(Some(len))
    }

    /// The status code (100..=999).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as sent (empty when absent or not visible ASCII).
    pub fn reason(&self) -> &[u8] {
        self.reason.of(&self.fields.raw)
    }
}

/// Parses a request head into a fresh `RequestHead` (allocates; hot paths reuse one with `RequestHead::parse`).
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, Error> {
    let mut head = RequestHead::default();
    Ok(head.parse(buf, limits)?.map(|len| (head, len)))
}

/// Parses a response head into a fresh `ResponseHead` (allocates; hot paths reuse one with `ResponseHead::parse`).
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Option<(ResponseHead, usize)>, Error> {
    let mut head = ResponseHead::default();
    Ok(head.parse(buf, limits)?.map(|len| (head, len)))
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
