//! `max_in_flight` (issue 10) on the request path: a stdio upstream that never answers
//! `tools/call` holds its one slot; the next request to that upstream gets 503 with
//! `Retry-After` and the JSON-RPC error carrying its id, while requests before it (their
//! slots given back) went through. A legacy HTTP+SSE client's POST (answered 202, its answer
//! later on the stream) holds the slot until that answer is on the stream; beyond the limit
//! the POST itself gets the 503, before any 202.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::legacy::{handshake, next_message, open_stream, post, post_accepted};
use crate::mcp::{self, assert_error, open_session};

/// Answers `initialize` and `tools/list`; swallows `tools/call` (the call stays in flight).
const SILENT_CALLS: &str = r#"
while IFS= read -r line; do
  id=$(printf '%s\n' "$line" | sed -n 's/.*"id":\([^,}]*\).*/\1/p')
  case "$line" in
    *'"method":"initialize"'*) printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"script\",\"version\":\"1\"}}}" ;;
    *'"method":"tools/list"'*) printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"tools\":[]}}" ;;
  esac
done
"#;

#[test]
fn requests_beyond_max_in_flight_get_503() {
    // The initialize and notifications/initialized of `open_session` take the one slot in turn.
    let proxy =
        Proxy::start(Setup::one(Upstream::Script(SILENT_CALLS)).with_upstream("max_in_flight = 1"));
    let mut conn = proxy.conn();
    let session = open_session(&mut conn);
    let list = mcp::request(json!(1), "tools/list", json!({}));
    for _ in 0..2 {
        let answer = session.post(&mut conn, &list);
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
    }
    // A call the upstream never answers holds the slot. It races with the listings below: if a
    // listing held the slot when the call arrived, the call got the 503 (the 5xx count says
    // so) and is sent again on a fresh connection.
    let deadline = std::time::Instant::now() + crate::client::IO_TIMEOUT;
    let mut refused = proxy.metric("shadowcat_responses_5xx_total");
    let mut stalled = vec![proxy.conn()];
    let call = mcp::echo(json!(2), "stall");
    stalled[0].send("POST", mcp::PATH, &session.post_headers(), &call);
    let busy = loop {
        let answer = session.post(&mut conn, &mcp::request(json!(3), "tools/list", json!({})));
        if answer.head.status != 200 {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled call never took the slot"
        );
        let now = proxy.metric("shadowcat_responses_5xx_total");
        if now > refused {
            refused = now;
            let mut again = proxy.conn();
            again.send("POST", mcp::PATH, &session.post_headers(), &call);
            stalled.push(again);
        }
    };
    assert_error(&busy, 503, -32010, &json!(3));
    assert_eq!(busy.header("retry-after"), Some("1"));
}

#[test]
fn legacy_posts_hold_a_slot_until_their_answer_is_on_the_stream() {
    // The call the script never answers ends at request_timeout, its error on the stream.
    let proxy = Proxy::start(
        Setup::one(Upstream::Script(SILENT_CALLS))
            .with_upstream("max_in_flight = 1\nrequest_timeout = \"1s\""),
    );
    let mut stream = proxy.conn();
    let (mut events, endpoint) = open_stream(&mut stream);
    let mut conn = proxy.conn();
    handshake(&mut events, &mut conn, &endpoint);
    // The slot is taken before the 202: the next POST is refused on the POST itself.
    post_accepted(&mut conn, &endpoint, &mcp::echo(json!(2), "stall"));
    let list = |id: u64| mcp::request(json!(id), "tools/list", json!({}));
    let busy = post(&mut conn, &endpoint, &list(3));
    assert_error(&busy, 503, -32010, &json!(3));
    assert_eq!(busy.header("retry-after"), Some("1"));
    // Once the stalled call's answer (its timeout error) is on the stream, the slot is free.
    let stalled = next_message(&mut events, "the stalled call's error");
    assert_eq!(stalled["id"], json!(2), "{stalled}");
    let deadline = std::time::Instant::now() + crate::client::IO_TIMEOUT;
    loop {
        let answer = post(&mut conn, &endpoint, &list(4));
        if answer.head.status == 202 {
            break;
        }
        // The exchange gives its slot back right after delivering; a POST may arrive between.
        assert_error(&answer, 503, -32010, &json!(4));
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
    }
    let listed = next_message(&mut events, "the listing");
    assert_eq!(listed["id"], json!(4), "{listed}");
    proxy.stop();
}
