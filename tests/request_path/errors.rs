//! The proxy's own refusals, each through the one error funnel: HTTP status, JSON-RPC code and
//! the id echoed once the body was read; and whether the connection stays usable afterwards.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp::{self, assert_error};

#[test]
fn unknown_session_is_404_with_the_request_id() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::Session {
        id: "0123456789abcdef0123456789abcdef".into(),
    };
    let answer = session.post(&mut conn, &mcp::echo(json!(5), "x"));
    assert_error(&answer, 404, -32001, &json!(5));
    // Not one of the proxy's ids at all: the same answer.
    let foreign = mcp::Session {
        id: "not-ours".into(),
    };
    let answer = foreign.post(&mut conn, &mcp::echo(json!("s"), "x"));
    assert_error(&answer, 404, -32001, &json!("s"));
    // A refusal after the body was read keeps the connection.
    let fresh = mcp::open_session(&mut conn);
    assert_eq!(fresh.id.len(), 32);
}

#[test]
fn bad_json_is_400_parse_error() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let answer = conn.request(
        "POST",
        mcp::PATH,
        &mcp::fresh_headers(),
        b"{\"jsonrpc\": \"2.0\", ",
    );
    assert_error(&answer, 400, -32700, &json!(null));
    let not_rpc = conn.request("POST", mcp::PATH, &mcp::fresh_headers(), b"{\"hello\": 1}");
    assert_error(&not_rpc, 400, -32600, &json!(null));
    // Nothing reached the upstream, and the connection still serves.
    let session = mcp::open_session(&mut conn);
    let answer = session.post(&mut conn, &mcp::echo(json!(1), "ok"));
    assert_eq!(mcp::result_text(&answer.json()), "ok");
}

#[test]
fn wrong_accept_or_content_type_is_refused_before_the_body() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let body = mcp::initialize(json!(1));
    let mut conn = proxy.conn();
    let answer = conn.request(
        "POST",
        mcp::PATH,
        &[
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
        ],
        &body,
    );
    assert_error(&answer, 406, -32600, &json!(null));
    // Refused before the declared body was read: the connection is closed, never parsed on.
    assert!(!answer.head.keeps_alive(), "{}", answer.describe());
    assert!(conn.closed_by_peer());

    let mut conn = proxy.conn();
    let answer = conn.request(
        "POST",
        mcp::PATH,
        &[("Accept", mcp::ACCEPT_BOTH), ("Content-Type", "text/plain")],
        &body,
    );
    assert_error(&answer, 415, -32600, &json!(null));

    let mut conn = proxy.conn();
    let get = conn.request("GET", mcp::PATH, &[("Accept", "application/json")], b"");
    assert_error(&get, 406, -32600, &json!(null));
    assert_eq!(proxy.metric("shadowcat_sessions_created_total"), 0.0);
}

#[test]
fn guard_refuses_route_method_and_host() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let body = mcp::initialize(json!(1));
    let mut conn = proxy.conn();
    let answer = conn.request("POST", "/nope", &mcp::fresh_headers(), &body);
    assert_error(&answer, 404, -32600, &json!(null));

    let mut conn = proxy.conn();
    let answer = conn.request("PUT", mcp::PATH, &mcp::fresh_headers(), &body);
    assert_error(&answer, 405, -32600, &json!(null));
    assert_eq!(
        answer.header("allow"),
        Some("GET, POST, DELETE"),
        "{}",
        answer.describe()
    );

    let mut conn = proxy.conn();
    let raw = format!(
        "POST {} HTTP/1.1\r\nHost: evil.example\r\nAccept: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        mcp::PATH,
        mcp::ACCEPT_BOTH,
        body.len()
    );
    conn.send_raw(raw.as_bytes());
    conn.send_raw(&body);
    let answer = conn.response("POST");
    assert_error(&answer, 403, -32600, &json!(null));

    let mut conn = proxy.conn();
    let mut headers = mcp::fresh_headers();
    headers.push(("Origin", "https://evil.example"));
    let answer = conn.request("POST", mcp::PATH, &headers, &body);
    assert_error(&answer, 403, -32600, &json!(null));
}
