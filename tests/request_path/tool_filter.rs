//! The `tool_filter` stage (`allow_tools`/`deny_tools` on the route) on every client transport
//! and upstream the harness has: a hidden tool is missing from `tools/list` (JSON answers, SSE
//! answers, stdio children, legacy streams, 2026-07-28 translated listings) and a call to it is
//! answered `-32602 Unknown tool: NAME` by the proxy. `add` is a real demo tool: had the call
//! reached the upstream, it would have answered with a sum, not an error. On a legacy stream
//! only answers to `tools/list` requests are judged: a scripted stdio child's `tools/call`
//! result naming `add` in its own `tools` array reaches the client byte for byte.

use serde_json::{json, Value};

use crate::client::Events;
use crate::harness::{Proxy, Setup, Upstream};
use crate::legacy::{handshake, next_message, open_stream, post_accepted};
use crate::mcp;

/// The route's stage: every demo tool but `add`.
const DENY_ADD: &str = "deny_tools = [\"add*\"]";

/// Tool names of a `tools/list` answer message.
pub(crate) fn names(message: &Value) -> Vec<String> {
    message["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("not a listing: {message}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn assert_add_hidden(listing: &Value) {
    let names = names(listing);
    assert!(names.iter().any(|n| n == "echo"), "echo stays: {names:?}");
    assert!(
        !names.iter().any(|n| n == "add"),
        "add is hidden: {names:?}"
    );
}

fn assert_unknown_tool(message: &Value, id: &Value) {
    assert_eq!(&message["id"], id, "{message}");
    assert_eq!(message["error"]["code"], json!(-32602), "{message}");
    assert_eq!(
        message["error"]["message"], "Unknown tool: add",
        "{message}"
    );
}

/// List, call the hidden tool, call a visible one, over Streamable HTTP sessions.
fn over_sessions(upstream: Upstream) {
    let proxy = Proxy::start(Setup::one(upstream).with_route(DENY_ADD));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let list = session.post(&mut conn, &mcp::request(json!(1), "tools/list", json!({})));
    assert_eq!(list.head.status, 200, "{}", list.describe());
    assert_add_hidden(list.messages().last().expect("a listing"));

    let add = json!({"name": "add", "arguments": {"a": 1, "b": 2}});
    let refused = session.post(&mut conn, &mcp::request(json!(2), "tools/call", add));
    assert_eq!(refused.head.status, 200, "{}", refused.describe());
    assert_unknown_tool(&refused.json(), &json!(2));
    assert_eq!(proxy.metric("shadowcat_tools_denied_total"), 1.0);

    // The same call as a notification: never answered, never forwarded.
    let quiet = json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "add"}});
    let dropped = session.post(&mut conn, quiet.to_string().as_bytes());
    assert_eq!(dropped.head.status, 202, "{}", dropped.describe());
    assert!(dropped.body.is_empty(), "{}", dropped.describe());

    let echo = session.post(&mut conn, &mcp::echo(json!(3), "still here"));
    let answer = echo.messages().pop().expect("an echo answer");
    assert_eq!(mcp::result_text(&answer), "still here");
}

#[test]
fn hidden_tools_over_http_json_answers() {
    over_sessions(Upstream::Http);
}

#[test]
fn hidden_tools_over_http_sse_answers() {
    over_sessions(Upstream::HttpSse);
}

#[test]
fn hidden_tools_over_a_stdio_upstream() {
    over_sessions(Upstream::Stdio);
}

#[test]
fn a_session_answers_only_on_the_route_that_opened_it() {
    // `/open` (same upstream, no filter) must not become a way around `/mcp`'s filter.
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_route(DENY_ADD));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let add = json!({"name": "add", "arguments": {"a": 1, "b": 2}});
    let body = mcp::request(json!(5), "tools/call", add);
    let elsewhere = conn.request("POST", "/open", &session.post_headers(), &body);
    mcp::assert_error(&elsewhere, 404, -32001, &json!(5));
    let get = conn.request("GET", "/open", &session.get_headers(), b"");
    assert_eq!(get.head.status, 404, "{}", get.describe());
    // The session itself is fine on its own route.
    let echo = session.post(&mut conn, &mcp::echo(json!(6), "home"));
    assert_eq!(mcp::result_text(&echo.messages()[0]), "home");
    // Legacy: a stream opened on /sse is not reachable through /open/messages.
    let mut stream_conn = proxy.conn();
    let (_events, endpoint) = open_stream(&mut stream_conn);
    let other = endpoint.replacen("/messages", "/open/messages", 1);
    let answer = crate::legacy::post(&mut proxy.conn(), &other, &mcp::echo(json!(7), "x"));
    assert_eq!(answer.head.status, 404, "{}", answer.describe());
}

#[test]
fn allow_lists_keep_only_what_they_name() {
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_route("allow_tools = [\"ech?\"]"));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let list = session.post(&mut conn, &mcp::request(json!(1), "tools/list", json!({})));
    assert_eq!(names(&list.messages()[0]), ["echo"]);
}

/// A legacy HTTP+SSE client: the listing and the refusal arrive on the stream.
fn over_legacy_stream(upstream: Upstream) {
    let proxy = Proxy::start(Setup::one(upstream).with_route(DENY_ADD));
    let mut stream_conn = proxy.conn();
    let (mut events, endpoint): (Events<'_>, String) = open_stream(&mut stream_conn);
    let mut conn = proxy.conn();
    handshake(&mut events, &mut conn, &endpoint);
    post_accepted(
        &mut conn,
        &endpoint,
        &mcp::request(json!(1), "tools/list", json!({})),
    );
    assert_add_hidden(&next_message(&mut events, "the listing"));
    let add = json!({"name": "add", "arguments": {"a": 1, "b": 2}});
    post_accepted(
        &mut conn,
        &endpoint,
        &mcp::request(json!(2), "tools/call", add),
    );
    assert_unknown_tool(&next_message(&mut events, "the refusal"), &json!(2));
    post_accepted(&mut conn, &endpoint, &mcp::echo(json!(3), "legacy"));
    assert_eq!(
        mcp::result_text(&next_message(&mut events, "the echo")),
        "legacy"
    );
}

#[test]
fn hidden_tools_on_a_legacy_stream_over_http() {
    over_legacy_stream(Upstream::Http);
}

#[test]
fn hidden_tools_on_a_legacy_stream_over_http_sse_answers() {
    over_legacy_stream(Upstream::HttpSse);
}

#[test]
fn hidden_tools_on_a_legacy_stream_over_stdio() {
    over_legacy_stream(Upstream::Stdio);
}

/// A 2026-07-28 stateless client, translated onto the legacy upstream's sessions.
fn modern_client(upstream: Upstream) {
    let proxy = Proxy::start(Setup::one(upstream).with_route(DENY_ADD));
    let list = mcp::modern(json!(1), "tools/list", json!({}), None, json!({}));
    let answer = list.send(&mut proxy.conn());
    assert_add_hidden(&answer.messages().pop().expect("a listing"));
    let call = mcp::modern(
        json!(2),
        "tools/call",
        json!({"name": "add", "arguments": {"a": 1, "b": 2}}),
        Some("add"),
        json!({}),
    );
    let refused = call.send(&mut proxy.conn());
    assert_eq!(refused.head.status, 200, "{}", refused.describe());
    assert_unknown_tool(&refused.json(), &json!(2));
}

#[test]
fn hidden_tools_for_a_modern_client_on_a_legacy_http_upstream() {
    modern_client(Upstream::HttpLegacyEra);
}

#[test]
fn hidden_tools_for_a_modern_client_on_a_stdio_upstream() {
    modern_client(Upstream::Stdio);
}

#[test]
fn a_listing_too_large_to_judge_is_answered_with_an_error() {
    // The demo's listing is well over 1 KiB: held whole for the filter, it cannot be judged,
    // and the client is told so (502) rather than seeing its connection closed.
    let small = "deny_tools = [\"add*\"]\n\n[limits]\nmax_sse_event_bytes = \"1KiB\"";
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_route(small));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let list = session.post(&mut conn, &mcp::request(json!(4), "tools/list", json!({})));
    mcp::assert_error(&list, 502, -32010, &json!(4));
    // The connection stays usable.
    let echo = session.post(&mut conn, &mcp::echo(json!(5), "after"));
    assert_eq!(mcp::result_text(&echo.messages()[0]), "after");
}

/// A stdio child answering with the id it was sent: `initialize` as a 2024-11-05 server,
/// `tools/list` with `echo` and `add`, and `tools/call` with a result that also carries a
/// top-level `tools` array naming `add` (as some servers' results do).
const TOOLS_IN_CALL_RESULTS: &str = r#"
while IFS= read -r line; do
  id=$(printf '%s\n' "$line" | sed -n 's/.*"id":\([^,}]*\).*/\1/p')
  tools='[{"name":"echo"},{"name":"add"}]'
  case "$line" in
    *'"method":"initialize"'*) printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"protocolVersion\":\"2024-11-05\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"script\",\"version\":\"1\"}}}" ;;
    *'"method":"tools/list"'*) printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"tools\":$tools}}" ;;
    *'"method":"tools/call"'*) printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"content\":[],\"tools\":$tools}}" ;;
  esac
done
"#;

#[test]
fn on_a_legacy_stream_only_tools_list_answers_are_judged() {
    // `deny add*` hides `add` from the listing; the `tools/call` of the visible `echo` (so the
    // request side lets it through) is answered with a result naming `add` in its own `tools`
    // array: that answer is not a listing and reaches the client byte for byte, also under
    // the id an earlier listing was answered under.
    let proxy =
        Proxy::start(Setup::one(Upstream::Script(TOOLS_IN_CALL_RESULTS)).with_route(DENY_ADD));
    let mut stream_conn = proxy.conn();
    let (mut events, endpoint): (Events<'_>, String) = open_stream(&mut stream_conn);
    let mut conn = proxy.conn();
    handshake(&mut events, &mut conn, &endpoint);
    let echo = json!({"name": "echo", "arguments": {}});
    let sent = r#"{"jsonrpc":"2.0","id":2,"result":{"content":[],"tools":[{"name":"echo"},{"name":"add"}]}}"#;
    post_accepted(
        &mut conn,
        &endpoint,
        &mcp::request(json!(2), "tools/call", echo.clone()),
    );
    assert_eq!(events.expect_event("the call answer").data, sent);
    post_accepted(
        &mut conn,
        &endpoint,
        &mcp::request(json!(1), "tools/list", json!({})),
    );
    let listing = next_message(&mut events, "the listing");
    assert_eq!(names(&listing), ["echo"], "{listing}");
    // Id 1 again, now for a call: answered, the listing's id is forgotten.
    let again = sent.replace(r#""id":2"#, r#""id":1"#);
    post_accepted(
        &mut conn,
        &endpoint,
        &mcp::request(json!(1), "tools/call", echo),
    );
    assert_eq!(events.expect_event("the second call answer").data, again);
}
