//! The relay's framing edges against the HTTP upstream: an HTTP/1.0 client gets an SSE answer
//! delimited by the connection's close, a chunked request body is forwarded whole, and a
//! client that hangs up mid-stream releases the upstream exchange.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp;

/// A raw request with `version` on the request line and the session's POST headers.
fn raw_post(
    proxy: &Proxy,
    session: &mcp::Session,
    version: &str,
    extra: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("POST {} {version}\r\nHost: {}\r\n", mcp::PATH, proxy.addr);
    for (name, value) in session.post_headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(extra);
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn http10_client_gets_a_close_delimited_sse_answer() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let session = mcp::open_session(&mut proxy.conn());
    let slow = mcp::request(
        json!(1),
        "tools/call",
        json!({"name": "slow", "arguments": {"steps": 2, "delay_ms": 1}, "_meta": {"progressToken": 1}}),
    );
    let mut conn = proxy.conn();
    let length = format!("Content-Length: {}\r\n", slow.len());
    conn.send_raw(&raw_post(&proxy, &session, "HTTP/1.0", &length, &slow));
    let answer = conn.response("POST");
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert!(
        answer.header("transfer-encoding").is_none(),
        "{}",
        answer.describe()
    );
    assert!(
        answer.header("content-length").is_none(),
        "{}",
        answer.describe()
    );
    let messages = answer.messages();
    assert_eq!(messages.len(), 3, "{}", answer.describe());
    assert_eq!(messages[2]["id"], json!(1), "{}", answer.describe());
    assert!(conn.closed_by_peer());

    // A JSON answer to HTTP/1.0 keeps its length.
    let mut conn = proxy.conn();
    let echo = mcp::echo(json!(2), "one-oh");
    let length = format!("Content-Length: {}\r\n", echo.len());
    conn.send_raw(&raw_post(&proxy, &session, "HTTP/1.0", &length, &echo));
    let answer = conn.response("POST");
    assert!(
        answer.header("content-length").is_some(),
        "{}",
        answer.describe()
    );
    assert_eq!(mcp::result_text(&answer.json()), "one-oh");
}

#[test]
fn chunked_request_body_is_forwarded_whole() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let body = mcp::echo(json!(1), "in three chunks");
    let mut chunked = Vec::new();
    for piece in body.chunks(body.len() / 3 + 1) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let raw = raw_post(
        &proxy,
        &session,
        "HTTP/1.1",
        "Transfer-Encoding: chunked\r\n",
        &chunked,
    );
    // Written in two pieces split inside the head: the proxy waits for the rest.
    let (first, rest) = raw.split_at(20);
    conn.send_raw(first);
    conn.send_raw(rest);
    let answer = conn.response("POST");
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(mcp::result_text(&answer.json()), "in three chunks");
    // And the connection goes on.
    let answer = session.post(&mut conn, &mcp::echo(json!(2), "next"));
    assert_eq!(mcp::result_text(&answer.json()), "next");
}

#[test]
fn client_hanging_up_mid_stream_releases_the_exchange() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let session = mcp::open_session(&mut proxy.conn());
    let slow = mcp::request(
        json!(1),
        "tools/call",
        json!({"name": "slow", "arguments": {"steps": 100, "delay_ms": 50}, "_meta": {"progressToken": 1}}),
    );
    let mut conn = proxy.conn();
    conn.send("POST", mcp::PATH, &session.post_headers(), &slow);
    let head = conn.head();
    assert_eq!(head.status, 200, "{head:?}");
    let first = conn.events(&head).expect_event("the first progress").json();
    assert_eq!(first["method"], "notifications/progress", "{first}");
    drop(conn);
    proxy.await_metric(
        "shadowcat_client_gone_total",
        |v| v >= 1.0,
        "the proxy kept relaying to a gone client",
    );
    // The session is unharmed.
    let answer = session.post(&mut proxy.conn(), &mcp::echo(json!(2), "still"));
    assert_eq!(mcp::result_text(&answer.json()), "still");
}
