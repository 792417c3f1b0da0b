//! Graceful stop (what the first SIGTERM does): a request in flight finishes its streamed
//! answer and then its connection closes, an idle keep-alive connection closes at once, and
//! the shards end cleanly.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp;

#[test]
fn stop_drains_the_request_in_flight_and_closes_idle_connections() {
    drains(Setup::one(Upstream::Http));
}

/// With two shards, the embedded demo server of the shard that drains first may still be the
/// upstream of a stream the other shard relays: it finishes its answers in flight before its
/// shard ends (before the fix, about one run in four stalled until `request_timeout`).
#[test]
fn stop_drains_the_request_in_flight_on_two_shards_with_the_embedded_demo() {
    for _ in 0..8 {
        drains(Setup::two(Upstream::Http));
    }
}

#[test]
fn stop_drains_a_stdio_answer_in_flight_on_two_shards() {
    // The session's child lives on the session's shard, which waits for it.
    drains(Setup::two(Upstream::Stdio));
}

fn drains(setup: Setup) {
    let proxy = Proxy::start(setup);
    let mut idle = proxy.conn();
    let session = mcp::open_session(&mut idle);
    let slow = mcp::request(
        json!(1),
        "tools/call",
        json!({"name": "slow", "arguments": {"steps": 4, "delay_ms": 50}, "_meta": {"progressToken": 1}}),
    );
    let mut busy = proxy.conn();
    busy.send("POST", mcp::PATH, &session.post_headers(), &slow);
    let head = busy.head();
    assert_eq!(head.status, 200, "{head:?}");
    let mut events = busy.events(&head);
    let first = events.expect_event("the first progress").json();
    assert_eq!(first["params"]["progress"], json!(1), "{first}");

    proxy.signal_stop();
    assert!(idle.closed_by_peer(), "an idle connection closes at once");
    for step in 2..=4 {
        let progress = events.expect_event("progress after stop").json();
        assert_eq!(progress["params"]["progress"], json!(step), "{progress}");
    }
    let result = events.expect_event("the result after stop").json();
    assert_eq!(result["id"], json!(1), "{result}");
    assert!(events.ended());
    assert!(
        busy.closed_by_peer(),
        "closed after its answer during shutdown"
    );
    proxy.stop();
}
