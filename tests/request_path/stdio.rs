//! stdio upstreams: `shadowcat demo-server --stdio` children of the built binary, one per
//! session. POST round trips (JSON answer, SSE once progress comes first), the GET stream
//! (SSE headers, one per session, closed by the client or by DELETE), DELETE stopping the
//! child, and no child left after the proxy stops.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp::{self, assert_error};

/// How long the proxy gets to notice a client that closed its GET stream.
const NOTICE: Duration = Duration::from_secs(10);

#[test]
fn stdio_post_round_trip_and_progress() {
    let proxy = Proxy::start(Setup::one(Upstream::Stdio));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let answer = session.post(&mut conn, &mcp::echo(json!(1), "from a child"));
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(mcp::result_text(&answer.json()), "from a child");

    let slow = mcp::request(
        json!(2),
        "tools/call",
        json!({"name": "slow", "arguments": {"steps": 2, "delay_ms": 1}, "_meta": {"progressToken": "t"}}),
    );
    let head = conn.sse_head("POST", mcp::PATH, &session.post_headers(), &slow);
    let mut events = conn.events(&head);
    for step in 1..=2 {
        let progress = events.expect_event("progress").json();
        assert_eq!(progress["method"], "notifications/progress", "{progress}");
        assert_eq!(progress["params"]["progressToken"], "t", "{progress}");
        assert_eq!(progress["params"]["progress"], json!(step), "{progress}");
    }
    let result = events.expect_event("the result").json();
    assert_eq!(result["id"], json!(2), "{result}");
    assert!(events.ended());
    // A warm child per shard plus the session's own.
    assert!(!proxy.children().is_empty());
    proxy.stop();
}

#[test]
fn stdio_get_stream_one_per_session_ended_by_delete() {
    let proxy = Proxy::start(Setup::one(Upstream::Stdio));
    let session = mcp::open_session(&mut proxy.conn());
    let mut stream = proxy.conn();
    let head = stream.sse_head("GET", mcp::PATH, &session.get_headers(), b"");
    let mut events = stream.events(&head);

    let mut conn = proxy.conn();
    let second = conn.request("GET", mcp::PATH, &session.get_headers(), b"");
    assert_eq!(second.head.status, 409, "{}", second.describe());

    // Calls still answer on their own POST while the stream is open.
    let answer = session.post(&mut conn, &mcp::echo(json!(1), "beside a stream"));
    assert_eq!(mcp::result_text(&answer.json()), "beside a stream");

    let before = proxy.children();
    let deleted = conn.request("DELETE", mcp::PATH, &session.get_headers(), b"");
    assert!(
        (200..300).contains(&deleted.head.status),
        "{}",
        deleted.describe()
    );
    assert!(events.ended(), "DELETE ends the open GET stream");
    let after = session.post(&mut conn, &mcp::echo(json!(2), "gone"));
    assert_error(&after, 404, -32001, &json!(2));
    // The session's child is stopped and reaped (the warm one stays; the pool may be
    // refilling, so look for a child that went away rather than at the count).
    let deadline = Instant::now() + NOTICE;
    while before.iter().all(|pid| proxy.children().contains(pid)) {
        assert!(
            Instant::now() < deadline,
            "the session's child outlived DELETE"
        );
        std::thread::yield_now();
    }
    proxy.stop();
}

#[test]
fn stdio_get_stream_closed_by_the_client_can_be_reopened() {
    let proxy = Proxy::start(Setup::one(Upstream::Stdio));
    let session = mcp::open_session(&mut proxy.conn());
    let mut stream = proxy.conn();
    stream.send("GET", mcp::PATH, &session.get_headers(), b"");
    assert_eq!(stream.head().status, 200);
    drop(stream);
    let deadline = Instant::now() + NOTICE;
    let mut again = loop {
        let mut conn = proxy.conn();
        conn.send("GET", mcp::PATH, &session.get_headers(), b"");
        let head = conn.head();
        if head.status == 200 {
            assert_eq!(
                head.header("content-type"),
                Some("text/event-stream"),
                "{head:?}"
            );
            break conn;
        }
        assert_eq!(head.status, 409, "{head:?}");
        assert!(
            Instant::now() < deadline,
            "the closed stream still counts as open"
        );
    };
    // The session is intact.
    let answer = session.post(&mut proxy.conn(), &mcp::echo(json!(1), "reopened"));
    assert_eq!(mcp::result_text(&answer.json()), "reopened");
    // Shutdown ends the open stream cleanly.
    let head = crate::client::Head {
        status: 200,
        headers: vec![("Transfer-Encoding".into(), "chunked".into())],
    };
    let mut events = again.events(&head);
    proxy.stop();
    assert!(events.ended(), "shutdown ends the GET stream");
}

#[test]
fn stdio_sampling_request_reaches_the_client_and_its_answer_the_child() {
    let proxy = Proxy::start(Setup::one(Upstream::Stdio));
    let mut conn = proxy.conn();
    let session = mcp::open_session_with(&mut conn, json!({"sampling": {}}));
    let sample = mcp::request(
        json!(3),
        "tools/call",
        json!({"name": "sample", "arguments": {"prompt": "2+2?"}}),
    );
    let head = conn.sse_head("POST", mcp::PATH, &session.post_headers(), &sample);
    let mut events = conn.events(&head);
    let ask = events.expect_event("the sampling request").json();
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    assert_eq!(
        ask["params"]["messages"][0]["content"]["text"], "2+2?",
        "{ask}"
    );
    let ask_id = ask["id"].clone();
    assert!(!ask_id.is_null(), "{ask}");

    // The client answers on another connection, in the same session.
    let reply = json!({"jsonrpc": "2.0", "id": ask_id,
        "result": {"role": "assistant", "content": {"type": "text", "text": "4"}, "model": "m"}});
    let accepted = session.post(&mut proxy.conn(), reply.to_string().as_bytes());
    assert_eq!(accepted.head.status, 202, "{}", accepted.describe());
    let result = events.expect_event("the tool result").json();
    assert_eq!(result["id"], json!(3), "{result}");
    assert_eq!(mcp::result_text(&result), "4", "{result}");
    assert!(events.ended());
    proxy.stop();
}
