//! Streamable HTTP against the embedded demo server (HTTP upstream), one shard: a session's
//! life (initialize, calls, DELETE), a progress-emitting tool relayed as SSE event by event,
//! GET relayed, and several requests on one keep-alive connection.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp::{self, assert_error};

#[test]
fn session_initialize_call_delete() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);

    let answer = session.post(&mut conn, &mcp::echo(json!(1), "héllo proxy"));
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{}",
        answer.describe()
    );
    let message = answer.json();
    assert_eq!(message["id"], json!(1), "{message}");
    assert_eq!(mcp::result_text(&message), "héllo proxy");

    let add = mcp::request(
        json!("a"),
        "tools/call",
        json!({"name": "add", "arguments": {"a": 2, "b": 40}}),
    );
    let sum = session.post(&mut conn, &add).json();
    assert_eq!(sum["id"], json!("a"), "{sum}");
    assert_eq!(
        sum["result"]["structuredContent"]["sum"],
        json!(42),
        "{sum}"
    );

    let deleted = conn.request("DELETE", mcp::PATH, &session.get_headers(), b"");
    assert_eq!(deleted.head.status, 200, "{}", deleted.describe());
    let after = session.post(&mut conn, &mcp::echo(json!(2), "gone?"));
    assert_eq!(after.head.status, 404, "{}", after.describe());
    assert_eq!(
        after.json()["error"]["code"],
        json!(-32001),
        "{}",
        after.describe()
    );
    assert_eq!(proxy.metric("shadowcat_sessions_deleted_total"), 1.0);
    proxy.stop();
}

#[test]
fn progress_relayed_as_sse_event_by_event() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let slow = mcp::request(
        json!(7),
        "tools/call",
        json!({"name": "slow", "arguments": {"steps": 3, "delay_ms": 1}, "_meta": {"progressToken": "p7"}}),
    );
    let head = conn.sse_head("POST", mcp::PATH, &session.post_headers(), &slow);
    let mut events = conn.events(&head);
    for step in 1..=3 {
        let event = events.expect_event("a progress notification");
        let message = event.json();
        assert_eq!(message["method"], "notifications/progress", "{message}");
        assert_eq!(message["params"]["progressToken"], "p7", "{message}");
        assert_eq!(message["params"]["progress"], json!(step), "{message}");
        assert_eq!(message["params"]["total"], json!(3), "{message}");
    }
    let result = events.expect_event("the tool result").json();
    assert_eq!(result["id"], json!(7), "{result}");
    assert!(result["result"]["content"].is_array(), "{result}");
    assert!(events.ended(), "the stream ends after the response");
    // The connection is still usable: the chunked body ended cleanly.
    let again = session.post(&mut conn, &mcp::echo(json!(8), "after sse"));
    assert_eq!(mcp::result_text(&again.json()), "after sse");
    assert!(proxy.metric("shadowcat_sse_events_total") >= 4.0);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    for i in 0..20 {
        let answer = session.post(&mut conn, &mcp::echo(json!(i), &format!("n{i}")));
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        assert!(answer.head.keeps_alive(), "{}", answer.describe());
        assert_eq!(mcp::result_text(&answer.json()), format!("n{i}"));
    }
    // Pipelined: two requests written at once are answered in order.
    let mut both = Vec::new();
    for (id, text) in [(100, "first"), (101, "second")] {
        let body = mcp::echo(json!(id), text);
        let mut head = format!("POST {} HTTP/1.1\r\nHost: {}\r\n", mcp::PATH, proxy.addr);
        for (n, v) in session.post_headers() {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        both.extend_from_slice(head.as_bytes());
        both.extend_from_slice(&body);
    }
    conn.send_raw(&both);
    assert_eq!(mcp::result_text(&conn.response("POST").json()), "first");
    assert_eq!(mcp::result_text(&conn.response("POST").json()), "second");
    assert_eq!(proxy.metric("shadowcat_connections_total"), 1.0);
}

#[test]
fn get_is_relayed_and_needs_a_session() {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    // The demo server has no standalone stream: its 405 comes back through the proxy.
    let get = conn.request("GET", mcp::PATH, &session.get_headers(), b"");
    assert_eq!(get.head.status, 405, "{}", get.describe());
    // The session survives a refused GET.
    let answer = session.post(&mut conn, &mcp::echo(json!(1), "still here"));
    assert_eq!(mcp::result_text(&answer.json()), "still here");

    let no_session = conn.request("GET", mcp::PATH, &[("Accept", "text/event-stream")], b"");
    assert_error(&no_session, 400, -32600, &json!(null));
    let unknown = "0123456789abcdef0123456789abcdef";
    let mut other = proxy.conn();
    let gone = other.request(
        "GET",
        mcp::PATH,
        &[("Accept", "text/event-stream"), ("Mcp-Session-Id", unknown)],
        b"",
    );
    assert_error(&gone, 404, -32001, &json!(null));
}
