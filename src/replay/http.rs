//! A small blocking Streamable HTTP client for `replay --target URL` (a CLI run, not the proxy's
//! path): one `Connection: close` POST per message, the answer read as JSON or as an SSE stream
//! until the response with the request's id; the session id and protocol version of
//! `initialize` sent after it; a DELETE at the end. http:// only.
//!
//! Not here: what is sent and compared (`mod.rs`, `diff.rs`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// Time to connect, and the longest silence while reading an answer.
const TIMEOUT: Duration = Duration::from_secs(30);

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
        })
    }

    /// Sends `message`; for a request, returns what came back up to its answer (notifications
    /// first), for a notification nothing.
    ///
    /// # Errors
    /// Connection failures, HTTP errors, unreadable answers.
    pub fn send(&mut self, message: &Value) -> Result<Vec<Value>, String> {
        let body = message.to_string();
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.path,
            self.host,
            self.port,
            body.len()
        );
        self.session_headers(&mut head);
        head.push_str("\r\n");
        let mut reader = self.exchange(&head, body.as_bytes())?;
        let (status, headers) = read_head(&mut reader)?;
        if let Some(session) = header(&headers, "mcp-session-id") {
            self.session = Some(session);
        }
        let id = message.get("id").filter(|id| !id.is_null());
        if status == 202 || id.is_none() {
            return Ok(Vec::new());
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
            read_events(&mut body, id)?
        } else {
            let mut text = Vec::new();
            body.read_to_end(&mut text)
                .map_err(|e| format!("reading the answer: {e}"))?;
            let value: Value = serde_json::from_slice(&text)
                .map_err(|e| format!("HTTP {status}: the answer is not JSON ({e})"))?;
            vec![value]
        };
        if message.get("method").and_then(Value::as_str) == Some("initialize") {
            self.version = messages
                .iter()
                .find_map(|m| m.pointer("/result/protocolVersion").and_then(Value::as_str))
                .map(str::to_owned);
        }
        Ok(messages)
    }

    /// Ends the session (best effort).
    pub fn close(&mut self) {
        if self.session.is_none() {
            return;
        }
        let mut head = format!(
            "DELETE {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n",
            self.path, self.host, self.port
        );
        self.session_headers(&mut head);
        head.push_str("\r\n");
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

    fn exchange(&self, head: &str, body: &[u8]) -> Result<BufReader<TcpStream>, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let address = format!("{}:{}", self.host, self.port);
        let target = std::net::ToSocketAddrs::to_socket_addrs(&(host, self.port))
            .map_err(|e| format!("{address}: {e}"))?
            .next()
            .ok_or_else(|| format!("{address}: no address"))?;
        let mut stream =
            TcpStream::connect_timeout(&target, TIMEOUT).map_err(|e| format!("{address}: {e}"))?;
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
            .map_err(|e| format!("{address}: {e}"))?;
        Ok(BufReader::new(stream))
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
    if !(200..300).contains(&status) {
        return Err(format!("the server answered HTTP {status}"));
    }
    Ok((status, list))
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// SSE `data` messages up to the response with `id` (or the stream's end).
fn read_events(body: &mut dyn BufRead, id: Option<&Value>) -> Result<Vec<Value>, String> {
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
