//! Legacy HTTP+SSE clients (2024-11-05) on a route with `legacy_sse = true`: `GET /sse`
//! announces the messages endpoint, each `POST /messages?sessionId=…` is answered 202 and its
//! answer arrives on the stream (progress first); with two shards the POSTs from new
//! connections are handed to the stream's shard; the stream's end ends the session.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Conn, Events};
use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp::{self, assert_error};

/// How long the proxy gets to notice a closed stream.
const NOTICE: Duration = Duration::from_secs(10);

/// Opens `GET /sse` on `conn`, checks the stream's head and returns the messages endpoint.
pub(crate) fn open_stream(conn: &mut Conn) -> (Events<'_>, String) {
    let head = conn.sse_head("GET", "/sse", &[("Accept", "text/event-stream")], b"");
    let mut events = conn.events(&head);
    let endpoint = events.expect_event("the endpoint event");
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"), "{endpoint:?}");
    assert!(
        endpoint.data.starts_with("/messages?sessionId="),
        "{endpoint:?}"
    );
    (events, endpoint.data)
}

/// POSTs one message to the legacy endpoint on `conn`; returns the response.
pub(crate) fn post(conn: &mut Conn, endpoint: &str, body: &[u8]) -> crate::client::Response {
    conn.request(
        "POST",
        endpoint,
        &[("Accept", "*/*"), ("Content-Type", "application/json")],
        body,
    )
}

/// POSTs and expects 202.
pub(crate) fn post_accepted(conn: &mut Conn, endpoint: &str, body: &[u8]) {
    let answer = post(conn, endpoint, body);
    assert_eq!(answer.head.status, 202, "{}", answer.describe());
}

/// The next `message` event on the stream, as JSON.
pub(crate) fn next_message(events: &mut Events<'_>, what: &str) -> Value {
    let event = events.expect_event(what);
    assert_eq!(event.event.as_deref(), Some("message"), "{event:?}");
    event.json()
}

/// initialize + initialized through the legacy endpoint, answer checked on the stream.
pub(crate) fn handshake(events: &mut Events<'_>, conn: &mut Conn, endpoint: &str) {
    post_accepted(conn, endpoint, &mcp::initialize(json!("init")));
    let init = next_message(events, "the initialize answer");
    assert_eq!(init["id"], "init", "{init}");
    assert!(init["result"]["serverInfo"]["name"].is_string(), "{init}");
    post_accepted(
        conn,
        endpoint,
        &mcp::notification("notifications/initialized"),
    );
}

#[test]
fn legacy_client_calls_and_progress_on_the_stream() {
    calls_and_progress(Upstream::Http);
}

#[test]
fn legacy_client_on_a_stdio_upstream() {
    calls_and_progress(Upstream::Stdio);
}

fn calls_and_progress(upstream: Upstream) {
    let proxy = Proxy::start(Setup::one(upstream));
    let mut stream = proxy.conn();
    let (mut events, endpoint) = open_stream(&mut stream);
    let mut conn = proxy.conn();
    handshake(&mut events, &mut conn, &endpoint);

    post_accepted(&mut conn, &endpoint, &mcp::echo(json!(1), "legacy hello"));
    let answer = next_message(&mut events, "the echo answer");
    assert_eq!(answer["id"], json!(1), "{answer}");
    assert_eq!(mcp::result_text(&answer), "legacy hello");

    let slow = mcp::request(
        json!(2),
        "tools/call",
        json!({"name": "slow", "arguments": {"steps": 2, "delay_ms": 1}, "_meta": {"progressToken": 9}}),
    );
    post_accepted(&mut conn, &endpoint, &slow);
    for step in 1..=2 {
        let progress = next_message(&mut events, "progress");
        assert_eq!(progress["method"], "notifications/progress", "{progress}");
        assert_eq!(progress["params"]["progressToken"], json!(9), "{progress}");
        assert_eq!(progress["params"]["progress"], json!(step), "{progress}");
    }
    let result = next_message(&mut events, "the slow result");
    assert_eq!(result["id"], json!(2), "{result}");
    assert_eq!(proxy.metric("shadowcat_legacy_sessions_total"), 1.0);
    assert_eq!(proxy.metric("shadowcat_legacy_streams_active"), 1.0);

    // A POST without sessionId, or for a session that does not exist.
    let missing = post(&mut conn, "/messages", &mcp::echo(json!(3), "x"));
    assert_eq!(missing.head.status, 400, "{}", missing.describe());
    let unknown = post(
        &mut conn,
        "/messages?sessionId=0123456789abcdef0123456789abcdef",
        &mcp::echo(json!(4), "x"),
    );
    assert_error(&unknown, 404, -32001, &json!(4));

    // The stream's end ends the session.
    drop(events);
    drop(stream);
    let deadline = Instant::now() + NOTICE;
    loop {
        let answer = post(&mut conn, &endpoint, &mcp::echo(json!(5), "after"));
        if answer.head.status == 404 {
            assert_error(&answer, 404, -32001, &json!(5));
            break;
        }
        assert_eq!(answer.head.status, 202, "{}", answer.describe());
        assert!(
            Instant::now() < deadline,
            "session still live {NOTICE:?} after its stream closed"
        );
    }
    proxy.await_metric(
        "shadowcat_legacy_streams_active",
        |v| v == 0.0,
        "the closed stream is gone",
    );
    proxy.stop();
}

#[test]
fn legacy_posts_from_other_connections_reach_the_stream_shard() {
    let proxy = Proxy::start(Setup::two(Upstream::Http));
    let mut stream = proxy.conn();
    let (mut events, endpoint) = open_stream(&mut stream);
    handshake(&mut events, &mut proxy.conn(), &endpoint);
    for i in 0..16 {
        let mut conn = proxy.conn();
        post_accepted(&mut conn, &endpoint, &mcp::echo(json!(i), &format!("m{i}")));
        let answer = next_message(&mut events, "an echo answer");
        assert_eq!(answer["id"], json!(i), "{answer}");
        assert_eq!(mcp::result_text(&answer), format!("m{i}"));
    }
    // 18 new connections, each landing on either shard: some were handed over (1 - 2^-17).
    assert!(proxy.metric("shadowcat_hops_total") >= 1.0);
}
