//! A small blocking Streamable HTTP client for `replay --target URL` (a CLI run, not the proxy's
//! path): one `Connection: close` POST per message, the answer read as JSON or as an SSE stream
//! until the response with the request's id; the session id and protocol version of
//! `initialize` sent after it; a DELETE at the end. http:// only. Each exchange has an overall
//! deadline ([`TIMEOUT`], keep-alive comments or not) and a byte limit ([`MAX_BODY`]); a
//! request from the server on an SSE stream is refused with a POST of a -32601 error. A
//! non-2xx status is returned with its body, not an error: the tape may hold the same.
//!
//! Not here: what is sent and compared (`mod.rs`, `diff.rs`).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Time to connect, and the longest time for one exchange in all (sending, then reading the
/// whole answer).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes read for one answer.
pub const MAX_BODY: u64 = 64 * 1024 * 1024;

/// What came back for one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Received {
    /// The HTTP status (`None`: not read, or not HTTP).
    pub status: Option<u16>,
    /// The messages, up to the request's answer (notifications first).
    pub messages: Vec<Value>,
}

/// Largest head read.
const MAX_HEAD: usize = 64 * 1024;

/// A Streamable HTTP server.
#[derive(Debug)]
pub struct HttpLink {
    host: String,
    port: u16,
    path: String,
    session: Option<String>,
    version: Option<String>,
    timeout: Duration,
    /// Requests whose answer is not awaited (the tape has none): their connections stay open
    /// until the end.
    pending: Vec<BufReader<Timed>>,
}

impl HttpLink {
    /// A link to `url` (http:// only).
    ///
    /// # Errors
    /// A URL that is not http:// with a host.
    pub fn new(url: &str) -> Result<HttpLink, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("--target {url}: {e}"))?;
        if parsed.scheme() != "http" {
            return Err(format!(
                "--target {url}: only http:// servers can be replayed against"
            ));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("--target {url}: no host"))?;
        let mut path = parsed.path().to_owned();
        if let Some(query) = parsed.query() {
            path = format!("{path}?{query}");
        }
        Ok(HttpLink {
            host: host.to_owned(),
            port: parsed.port_or_known_default().unwrap_or(80),
            path,
            session: None,
            version: None,
            timeout: TIMEOUT,
            pending: Vec::new(),
        })
    }

    /// The same link with `timeout` per exchange instead of [`TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> HttpLink {
        self.timeout = timeout;
        self
    }

    /// Sends `message`; for a request whose answer is awaited, returns what came back up to
    /// its answer (notifications first), else nothing (the status of a notification).
    ///
    /// # Errors
    /// Connection failures, an unreadable answer, the deadline or the byte limit passed.
    pub fn send(&mut self, message: &Value, await_answer: bool) -> Result<Received, String> {
        let body = message.to_string();
        let head = self.post_head(body.len());
        let id = message.get("id").filter(|id| !id.is_null());
        let mut reader = self.exchange(&head, body.as_bytes())?;
        if id.is_some() && !await_answer {
            self.pending.push(reader);
            return Ok(Received::default());
        }
        let (status, headers) = read_head(&mut reader)?;
        if let Some(session) = header(&headers, "mcp-session-id") {
            self.session = Some(session);
        }
        if status == 202 || id.is_none() {
            return Ok(Received {
                status: Some(status),
                messages: Vec::new(),
            });
        }
        let chunked = header(&headers, "transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let mut body: Box<dyn BufRead> = if chunked {
            Box::new(BufReader::new(Chunked {
                inner: reader,
                left: 0,
                done: false,
            }))
        } else {
            Box::new(reader)
        };
        let sse =
            header(&headers, "content-type").is_some_and(|v| v.starts_with("text/event-stream"));
        let messages = if sse {
            read_events(&mut body, id, &mut |request| self.refuse(request))?
        } else {
            let mut text = Vec::new();
            body.read_to_end(&mut text)
                .map_err(|e| format!("reading the answer: {e}"))?;
            match serde_json::from_slice::<Value>(&text) {
                Ok(value) => vec![value],
                Err(_) if !(200..300).contains(&status) => Vec::new(),
                Err(e) => return Err(format!("HTTP {status}: the answer is not JSON ({e})")),
            }
        };
        if message.get("method").and_then(Value::as_str) == Some("initialize") {
            self.version = messages
                .iter()
                .find_map(|m| m.pointer("/result/protocolVersion").and_then(Value::as_str))
                .map(str::to_owned);
        }
        Ok(Received {
            status: Some(status),
            messages,
        })
    }

    /// Refuses a request the server sent on an SSE stream: a POST of a -32601 error (best
    /// effort: the server may not care).
    fn refuse(&self, request: &Value) {
        let refusal = json!({"jsonrpc":"2.0","id":request.get("id"),"error":{"code":-32601,"message":"shadowcat replay answers no server requests"}}).to_string();
        let head = self.post_head(refusal.len());
        if let Ok(mut reader) = self.exchange(&head, refusal.as_bytes()) {
            let _ = read_head(&mut reader);
        }
    }

    /// The head of a POST of a JSON body of `len` bytes.
    fn post_head(&self, len: usize) -> String {
        self.head(
            "POST",
            &format!("Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {len}\r\n"),
        )
    }

    /// A request head for `method` with `extra` header lines, the session headers and the
    /// blank line.
    fn head(&self, method: &str, extra: &str) -> String {
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}:{}\r\n{extra}Connection: close\r\n",
            self.path, self.host, self.port
        );
        self.session_headers(&mut head);
        head.push_str("\r\n");
        head
    }

    /// Ends the session (best effort).
    pub fn close(&mut self) {
        self.pending.clear();
        if self.session.is_none() {
            return;
        }
        let head = self.head("DELETE", "");
        if let Ok(mut reader) = self.exchange(&head, b"") {
            let _ = read_head(&mut reader);
        }
    }

    fn session_headers(&self, head: &mut String) {
        if let Some(session) = &self.session {
            head.push_str(&format!("Mcp-Session-Id: {session}\r\n"));
        }
        if let Some(version) = &self.version {
            head.push_str(&format!("MCP-Protocol-Version: {version}\r\n"));
        }
    }

    fn exchange(&self, head: &str, body: &[u8]) -> Result<BufReader<Timed>, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let address = format!("{}:{}", self.host, self.port);
        let target = std::net::ToSocketAddrs::to_socket_addrs(&(host, self.port))
            .map_err(|e| format!("{address}: {e}"))?
            .next()
            .ok_or_else(|| format!("{address}: no address"))?;
        let deadline = Instant::now() + self.timeout;
        let mut stream = TcpStream::connect_timeout(&target, self.timeout)
            .map_err(|e| format!("{address}: {e}"))?;
        stream
            .set_write_timeout(Some(self.timeout))
            .and_then(|()| stream.write_all(head.as_bytes()))
            .and_then(|()| stream.write_all(body))
            .map_err(|e| format!("{address}: {e}"))?;
        Ok(BufReader::new(Timed {
            stream,
            deadline,
            left: MAX_BODY,
        }))
    }
}

/// The status and headers (names lowercase).
fn read_head(reader: &mut impl BufRead) -> Result<(u16, Vec<(String, String)>), String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let before = head.len();
        reader
            .read_until(b'\n', &mut head)
            .map_err(|e| format!("reading the answer: {e}"))?;
        if head.len() == before || head.len() > MAX_HEAD {
            return Err("the server closed the connection without a whole HTTP head".into());
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    response
        .parse(&head)
        .map_err(|e| format!("bad HTTP answer: {e}"))?;
    let status = response.code.unwrap_or(0);
    let list = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok((status, list))
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// A connection read within an overall deadline and a byte limit.
#[derive(Debug)]
struct Timed {
    stream: TcpStream,
    deadline: Instant,
    left: u64,
}

impl Read for Timed {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                "no whole answer within the deadline",
            ));
        }
        if self.left == 0 {
            return Err(std::io::Error::other(format!(
                "the answer is larger than {MAX_BODY} bytes"
            )));
        }
        self.stream.set_read_timeout(Some(left))?;
        let want = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.stream.read(&mut out[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// SSE `data` messages up to the response with `id` (or the stream's end); a request from the
/// server goes to `refuse` instead.
fn read_events(
    body: &mut dyn BufRead,
    id: Option<&Value>,
    refuse: &mut dyn FnMut(&Value),
) -> Result<Vec<Value>, String> {
    let mut messages = Vec::new();
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = body
            .read_line(&mut line)
            .map_err(|e| format!("reading the event stream: {e}"))?;
        let text = line.trim_end_matches(['\r', '\n']);
        if n == 0 || text.is_empty() {
            if !data.is_empty() {
                let message: Value = serde_json::from_str(&data)
                    .map_err(|e| format!("an event is not JSON: {e}"))?;
                data.clear();
                if message.get("method").is_some()
                    && message.get("id").is_some_and(|i| !i.is_null())
                {
                    refuse(&message);
                    continue;
                }
                let done = message.get("id") == id && message.get("method").is_none();
                messages.push(message);
                if done {
                    return Ok(messages);
                }
            }
            if n == 0 {
                return Ok(messages);
            }
        } else if let Some(rest) = text.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
}

/// A chunked body, de-chunked.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        while self.left == 0 {
            let mut size = String::new();
            if self.inner.read_line(&mut size)? == 0 {
                self.done = true;
                return Ok(0);
            }
            // A blank line is the CRLF after a chunk's data.
            let hex = size.trim().split(';').next().unwrap_or("");
            if hex.is_empty() {
                continue;
            }
            self.left = usize::from_str_radix(hex, 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = out.len().min(self.left);
        let n = self.inner.read(&mut out[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "cut chunk",
            ));
        }
        self.left -= n;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
