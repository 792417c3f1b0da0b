//! A raw HTTP/1.1 client for the request-path tests: std `TcpStream` (or TLS over one,
//! transport.rs) with read and write timeouts (every wait has a deadline, nothing sleeps),
//! responses framed by `Content-Length`, chunked or close, and SSE bodies read event by event
//! as they arrive.
//!
//! Not here: the proxy (harness.rs) or MCP knowledge beyond the headers every request carries
//! (mcp.rs).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::transport::Transport;

/// Longest wait for any one read: a test that hangs fails with what it was waiting for.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection with its own read buffer (bytes read past the current message stay).
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Transport,
    buf: Vec<u8>,
    host: String,
}

/// A response head.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
}

/// A whole response.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) head: Head,
    pub(crate) body: Vec<u8>,
}

/// How the body after a head is delimited.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// One SSE event.
#[derive(Debug, Clone, Default)]
pub(crate) struct Event {
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

impl Head {
    /// The first value of a header (name case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn framing(&self, request_method: &str) -> Framing {
        if request_method == "HEAD" || self.status == 204 || self.status == 304 {
            return Framing::Length(0);
        }
        if self
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            return Framing::Chunked;
        }
        match self.header("content-length") {
            Some(n) => Framing::Length(n.trim().parse().expect("Content-Length")),
            None => Framing::Close,
        }
    }

    /// Whether the server said it keeps the connection open.
    pub(crate) fn keeps_alive(&self) -> bool {
        !self
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}

impl Response {
    /// The first value of a header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body as JSON (panics with the response when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.describe()))
    }

    /// The JSON-RPC messages of a JSON or SSE body, in order.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let ct = self.header("content-type").unwrap_or_default();
        if ct.starts_with("text/event-stream") {
            let text = String::from_utf8_lossy(&self.body).replace("\r\n", "\n");
            text.split("\n\n")
                .filter_map(parse_event)
                .map(|e| e.json())
                .collect()
        } else {
            vec![self.json()]
        }
    }

    /// Status, headers and body, for failure messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} {:?} {}",
            self.head.status,
            self.head.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl Event {
    /// The event's data as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

fn parse_event(block: &str) -> Option<Event> {
    let mut event = Event::default();
    let mut any = false;
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("data:") {
            if any {
                event.data.push('\n');
            }
            event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            any = true;
        } else if let Some(v) = line.strip_prefix("event:") {
            event.event = Some(v.trim_start().to_owned());
        }
    }
    any.then_some(event)
}

impl Conn {
    /// Connects to `addr` with [`IO_TIMEOUT`] on reads and writes.
    pub(crate) fn connect(addr: SocketAddr) -> Conn {
        Conn::over(Transport::Plain(Conn::tcp(addr)))
    }

    /// Connects to `addr` over TLS as `client` configures it ([`Conn::connect`] otherwise).
    pub(crate) fn connect_tls(addr: SocketAddr, client: Arc<rustls::ClientConfig>) -> Conn {
        Conn::over(Transport::tls(Conn::tcp(addr), client))
    }

    fn tcp(addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to the proxy");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        stream
    }

    fn over(stream: Transport) -> Conn {
        let host = stream.peer().to_string();
        Conn {
            stream,
            buf: Vec::new(),
            host,
        }
    }

    /// Writes one request (`Host` and `Content-Length` added).
    pub(crate) fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
    }

    /// Writes bytes as they are.
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Writes bytes as they are; an error when the peer has already closed (it may refuse a
    /// request before reading all of it).
    pub(crate) fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes `bytes` one at a time and, between two bytes, waits up to `gap` for the peer to
    /// answer or close: the read is the pacing, nothing sleeps. True when the peer reacted
    /// before every byte was sent (read what it said with [`Conn::response_or_close`]).
    pub(crate) fn trickle(&mut self, bytes: &[u8], gap: Duration) -> bool {
        self.stream
            .tcp()
            .set_read_timeout(Some(gap))
            .expect("timeout");
        let reacted = bytes.iter().any(|byte| {
            if self.stream.write_all(&[*byte]).is_err() {
                return true;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    true
                }
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            }
        });
        self.stream
            .tcp()
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("timeout");
        reacted
    }

    /// Reads one whole response to a request made with `method`, or `None` when the peer
    /// closed the connection without one.
    pub(crate) fn response_or_close(&mut self, method: &str) -> Option<Response> {
        if self.buf.is_empty() && !self.fill() {
            return None;
        }
        Some(self.response(method))
    }

    /// Sends a request and reads the whole response.
    pub(crate) fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send(method, target, headers, body);
        self.response(method)
    }

    /// Sends a request whose answer must be an SSE stream: checks `200` and
    /// `Content-Type: text/event-stream`, and returns the head (read the events with
    /// [`Conn::events`]).
    pub(crate) fn sse_head(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Head {
        self.send(method, target, headers, body);
        let head = self.head();
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(
            head.header("content-type"),
            Some("text/event-stream"),
            "{head:?}"
        );
        head
    }

    /// Reads one whole response to a request made with `method`.
    pub(crate) fn response(&mut self, method: &str) -> Response {
        let head = self.head();
        let body = self.body(&head, method);
        Response { head, body }
    }

    /// Reads a response head (skipping none: the proxy never sends 1xx to these clients).
    pub(crate) fn head(&mut self) -> Head {
        let end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end;
            }
            assert!(self.fill(), "connection closed before a response head");
        };
        let text = String::from_utf8(self.buf[..end].to_vec()).expect("ASCII head");
        self.buf.drain(..end + 4);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Head { status, headers }
    }

    /// Reads a whole body after `head`.
    pub(crate) fn body(&mut self, head: &Head, method: &str) -> Vec<u8> {
        let mut body = Vec::new();
        let mut reader = BodyReader::new(head.framing(method));
        while let Some(piece) = reader.next(self) {
            body.extend_from_slice(&piece);
        }
        body
    }

    /// Reads the body after `head` as an SSE stream, event by event.
    pub(crate) fn events<'c>(&'c mut self, head: &Head) -> Events<'c> {
        Events {
            reader: BodyReader::new(head.framing("GET")),
            conn: self,
            text: String::new(),
        }
    }

    /// Whether the peer closed the connection (EOF) within [`IO_TIMEOUT`], with nothing
    /// unread before it.
    pub(crate) fn closed_by_peer(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }

    /// Reads more bytes; false at EOF (or reset). Panics on timeout.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            // A TLS peer that closes without close_notify: EOF too.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                false
            }
            Err(e) => panic!("read from the proxy failed after {IO_TIMEOUT:?}: {e}"),
        }
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return line;
            }
            assert!(self.fill(), "connection closed inside a chunked body");
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "connection closed inside a body");
        }
        self.buf.drain(..n).collect()
    }
}

/// Decodes one body piece by piece.
#[derive(Debug)]
struct BodyReader {
    framing: Framing,
    done: bool,
}

impl BodyReader {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            done: false,
        }
    }

    /// The next decoded piece; `None` at the end of the body.
    fn next(&mut self, conn: &mut Conn) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        match self.framing {
            Framing::Length(n) => {
                self.done = true;
                Some(conn.take(n))
            }
            Framing::Chunked => {
                let size_line = conn.line();
                let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16)
                    .unwrap_or_else(|_| panic!("bad chunk size {size_line:?}"));
                if size == 0 {
                    // Trailers, then the empty line.
                    while !conn.line().is_empty() {}
                    self.done = true;
                    return None;
                }
                let data = conn.take(size);
                assert!(conn.line().is_empty(), "chunk not followed by CRLF");
                Some(data)
            }
            Framing::Close => {
                if conn.buf.is_empty() && !conn.fill() {
                    self.done = true;
                    return None;
                }
                Some(std::mem::take(&mut conn.buf))
            }
        }
    }
}

/// An SSE body read event by event.
#[derive(Debug)]
pub(crate) struct Events<'c> {
    conn: &'c mut Conn,
    reader: BodyReader,
    text: String,
}

impl Events<'_> {
    /// The next event; `None` when the stream ended (terminating chunk or EOF).
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        loop {
            self.text = self.text.replace("\r\n", "\n");
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                match parse_event(&block) {
                    Some(event) => return Some(event),
                    None => continue, // a comment or keep-alive
                }
            }
            let piece = self.reader.next(self.conn)?;
            self.text.push_str(&String::from_utf8_lossy(&piece));
        }
    }

    /// The next event, which must exist.
    pub(crate) fn expect_event(&mut self, what: &str) -> Event {
        self.next_event()
            .unwrap_or_else(|| panic!("stream ended while waiting for {what}"))
    }

    /// Whether the stream ended with nothing but comments left.
    pub(crate) fn ended(&mut self) -> bool {
        self.next_event().is_none()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
