//! A recording MCP upstream for the tests of what the proxy sends upstream: a std HTTP/1.1
//! server on 127.0.0.1 port 0 (one thread per connection, keep-alive) that hands every
//! request head it reads to the test ([`Recorder::next`]) and answers just enough MCP for a
//! session-era client: `initialize` (with an upstream session id), `tools/list`,
//! `tools/call`, notifications (202), GET (405, or a legacy HTTP+SSE stream announcing its
//! endpoint on `GET /sse`) and DELETE (200); a call of the tool `refuse` gets 401 (the
//! upstream refuses the proxy's token).
//!
//! Dropping it stops the acceptor, shuts every accepted socket down and joins every thread,
//! also when the test panics. Not here: the proxy (harness.rs).

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::{json, Value};

use crate::client::IO_TIMEOUT;

/// The upstream session id the recorder's `initialize` answers carry.
pub(crate) const UPSTREAM_SESSION: &str = "recorded-upstream-session";

/// One request head the recorder read.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    /// The JSON-RPC method of a POST body, when it has one.
    pub(crate) rpc: Option<String>,
}

impl Recorded {
    /// Every value of header `name` (any case), in order.
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The running recorder; stopped and joined on drop.
pub(crate) struct Recorder {
    pub(crate) addr: SocketAddr,
    heads: Receiver<Recorded>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Binds 127.0.0.1 port 0 and starts accepting.
    pub(crate) fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("recorder binds");
        let addr = listener.local_addr().expect("recorder address");
        let (sender, heads) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let acceptor = std::thread::spawn(move || accept_loop(&listener, &flag, &sender));
        Recorder {
            addr,
            heads,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// The next request head, in arrival order; fails the test after [`IO_TIMEOUT`].
    pub(crate) fn next(&self) -> Recorded {
        self.heads
            .recv_timeout(IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("the upstream got no further request: {e}"))
    }

    /// Heads until one with `method` (and, for a POST, JSON-RPC method `rpc`) arrives;
    /// returns it with the ones skipped before it.
    pub(crate) fn until(&self, method: &str, rpc: Option<&str>) -> (Recorded, Vec<Recorded>) {
        let mut skipped = Vec::new();
        loop {
            let head = self.next();
            if head.method == method && (rpc.is_none() || head.rpc.as_deref() == rpc) {
                return (head, skipped);
            }
            skipped.push(head);
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept; it sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, heads: &Sender<Recorded>) {
    let mut conns: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let heads = heads.clone();
        conns.push((handle, std::thread::spawn(move || serve(stream, &heads))));
    }
    for (stream, thread) in conns {
        let _ = stream.shutdown(Shutdown::Both);
        let _ = thread.join();
    }
}

/// Serves one connection's requests until the peer closes it (or the recorder stops).
fn serve(mut stream: TcpStream, heads: &Sender<Recorded>) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT * 3));
    let mut buf = Vec::new();
    loop {
        let Some(end) = read_until_head_end(&mut stream, &mut buf) else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut start = lines.next().unwrap_or_default().split(' ');
        let method = start.next().unwrap_or_default().to_owned();
        let target = start.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        if !read_to(&mut stream, &mut buf, length) {
            return;
        }
        let body: Vec<u8> = buf.drain(..length).collect();
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let rpc = message["method"].as_str().map(str::to_owned);
        let answer = answer(&method, &target, &message);
        let _ = heads.send(Recorded {
            method,
            target,
            headers,
            rpc,
        });
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads until `buf` holds `length` bytes; false when the peer closed first.
pub(crate) fn read_to(stream: &mut TcpStream, buf: &mut Vec<u8>, length: usize) -> bool {
    while buf.len() < length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// Reads until `buf` holds a whole head; its length without the blank line.
fn read_until_head_end(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The whole response to one request.
fn answer(method: &str, target: &str, message: &Value) -> String {
    match method {
        "GET" if target == "/sse" => "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
             Cache-Control: no-cache\r\n\r\nevent: endpoint\ndata: /messages?session=1\n\n"
            .to_owned(),
        "GET" => {
            "HTTP/1.1 405 Method Not Allowed\r\nAllow: POST, DELETE\r\nContent-Length: 0\r\n\r\n"
                .to_owned()
        }
        "DELETE" => "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_owned(),
        _ if message["params"]["name"] == "refuse" => "HTTP/1.1 401 Unauthorized\r\n\
             WWW-Authenticate: Bearer error=\"invalid_token\"\r\nContent-Length: 0\r\n\r\n"
            .to_owned(),
        _ if target.starts_with("/messages") || message.get("id").is_none() => {
            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_owned()
        }
        _ => {
            let result = match message["method"].as_str() {
                Some("initialize") => json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "recorder", "version": "0"}
                }),
                Some("tools/list") => json!({"tools": [
                    {"name": "echo", "inputSchema": {"type": "object"}}
                ]}),
                Some("tools/call") => json!({"content": [{"type": "text", "text": "recorded"}]}),
                _ => json!({}),
            };
            let body = json!({"jsonrpc": "2.0", "id": message["id"], "result": result}).to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: {UPSTREAM_SESSION}\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        }
    }
}
