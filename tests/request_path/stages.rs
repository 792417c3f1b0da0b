//! The route's stage lists as a client meets them, over raw HTTP: each built-in check refuses
//! on POST and on GET/DELETE with the same answer, in list order (a refused request never
//! reaches the session table or the upstream), and a refusal leaves the session usable.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp::{self, assert_error};

/// A request with `Host: evil.example` (the client adds the proxy's own `Host` otherwise).
fn foreign_host(method: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {} HTTP/1.1\r\nHost: evil.example\r\n", mcp::PATH);
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn a_foreign_host_is_refused_on_post_get_and_delete() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let session = mcp::open_session(&mut proxy.conn());
    let echo = mcp::echo(json!(3), "x");
    for (method, headers, body) in [
        ("POST", session.post_headers(), echo.as_slice()),
        ("GET", session.get_headers(), b"".as_slice()),
        ("DELETE", session.get_headers(), b"".as_slice()),
    ] {
        let mut conn = proxy.conn();
        conn.send_raw(&foreign_host(method, &headers, body));
        // Refused before the body or the session: no id.
        assert_error(&conn.response(method), 403, -32600, &json!(null));
    }
    // The refused DELETE ended nothing.
    let answer = session.post(&mut proxy.conn(), &mcp::echo(json!(4), "alive"));
    assert_eq!(mcp::result_text(&answer.json()), "alive");
    assert_eq!(proxy.metric("shadowcat_sessions_deleted_total"), 0.0);
}

#[test]
fn a_wrong_accept_is_refused_before_the_session_is_looked_up() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let mut headers = session.post_headers();
    headers[0] = ("Accept", "text/event-stream");
    let answer = conn.request("POST", mcp::PATH, &headers, &mcp::echo(json!(1), "x"));
    assert_error(&answer, 406, -32600, &json!(null));

    let mut conn = proxy.conn();
    let mut headers = session.get_headers();
    headers[0] = ("Accept", "application/json");
    let get = conn.request("GET", mcp::PATH, &headers, b"");
    assert_error(&get, 406, -32600, &json!(null));
    // `accept` comes before `session` in the GET list: an unknown session is not reached.
    let unknown = [
        ("Accept", "application/json"),
        ("Mcp-Session-Id", "0123456789abcdef0123456789abcdef"),
    ];
    let get = conn.request("GET", mcp::PATH, &unknown, b"");
    assert_error(&get, 406, -32600, &json!(null));
    // A GET/DELETE without a body keeps the connection after a refusal; DELETE has no
    // `Accept` to check and ends the session.
    let deleted = conn.request(
        "DELETE",
        mcp::PATH,
        &[("Mcp-Session-Id", session.id.as_str())],
        b"",
    );
    assert!(deleted.head.status < 300, "{}", deleted.describe());
    assert_eq!(proxy.metric("shadowcat_sessions_deleted_total"), 1.0);
}

#[test]
fn an_unknown_protocol_version_header_is_400_on_post_get_and_delete() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let bad = ("MCP-Protocol-Version", "1999-01-01");

    let mut headers = session.post_headers();
    headers[3] = bad;
    let answer = conn.request("POST", mcp::PATH, &headers, &mcp::echo(json!(9), "x"));
    // After the body: the id is echoed.
    assert_error(&answer, 400, -32600, &json!(9));
    assert!(answer.head.keeps_alive(), "{}", answer.describe());

    let mut headers = session.get_headers();
    headers[2] = bad;
    for method in ["GET", "DELETE"] {
        let answer = conn.request(method, mcp::PATH, &headers, b"");
        assert_error(&answer, 400, -32600, &json!(null));
    }
    // `protocol_version` comes before `session`: an unknown session is not reached either.
    let unknown = [
        ("Accept", "text/event-stream"),
        ("Mcp-Session-Id", "0123456789abcdef0123456789abcdef"),
        bad,
    ];
    let get = conn.request("GET", mcp::PATH, &unknown, b"");
    assert_error(&get, 400, -32600, &json!(null));
    // The refused DELETE left the session alive.
    let answer = session.post(&mut conn, &mcp::echo(json!(10), "alive"));
    assert_eq!(mcp::result_text(&answer.json()), "alive");
}

#[test]
fn a_batch_on_a_2025_06_18_session_is_refused_by_the_batch_stage() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let batch = format!("[{}]", String::from_utf8(mcp::echo(json!(1), "x")).unwrap());
    let answer = session.post(&mut conn, batch.as_bytes());
    assert_error(&answer, 400, -32600, &json!(null));
    // Without a session, a batch needs the 2025-03-26 header.
    let answer = conn.request("POST", mcp::PATH, &mcp::fresh_headers(), batch.as_bytes());
    assert_error(&answer, 400, -32600, &json!(null));
}
