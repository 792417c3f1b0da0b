//! Translation dispatch, 2026-07-28 clients onto legacy upstreams (the demo server speaks
//! sessions only): stateless requests to the embedded demo declared `era = "legacy"` and to
//! `demo-server --stdio` children are served on pooled upstream sessions, never minting a
//! client session; a sampling request from the child becomes an `input_required` round (MRTR)
//! that the client's retry completes; mirror headers that disagree with the body are refused.

use serde_json::{json, Value};

use crate::client::Conn;
use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp::{self, assert_error};

/// discover, tools/list and an echo call, stateless, each on a new connection.
fn basics(proxy: &Proxy) {
    let discover = mcp::modern(json!(1), "server/discover", json!({}), None, json!({}));
    let answer = discover.send(&mut proxy.conn());
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert!(
        answer.header("mcp-session-id").is_none(),
        "{}",
        answer.describe()
    );
    let message = answer.messages().pop().expect("a discover answer");
    assert_eq!(message["id"], json!(1), "{message}");
    let found = message.to_string();
    assert!(
        found.contains("shadowcat-demo"),
        "the upstream's serverInfo: {found}"
    );
    assert!(found.contains(mcp::MODERN), "2026-07-28 offered: {found}");

    let list = mcp::modern(json!(2), "tools/list", json!({}), None, json!({}));
    let tools = list
        .send(&mut proxy.conn())
        .messages()
        .pop()
        .expect("tools");
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{tools}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"echo"), "{tools}");

    for i in 0..4 {
        let call = mcp::modern(
            json!(10 + i),
            "tools/call",
            json!({"name": "echo", "arguments": {"message": format!("modern {i}")}}),
            Some("echo"),
            json!({}),
        );
        let answer = call.send(&mut proxy.conn());
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        let result = answer.messages().pop().expect("a call answer");
        assert_eq!(result["id"], json!(10 + i), "{result}");
        assert_eq!(mcp::result_text(&result), format!("modern {i}"));
        assert_eq!(result["result"]["resultType"], "complete", "{result}");
    }
    assert_eq!(proxy.metric("shadowcat_sessions_created_total"), 0.0);
    assert!(proxy.metric("shadowcat_modern_translated_total") >= 6.0);
    assert!(proxy.metric("shadowcat_translation_sessions_opened_total") >= 1.0);
}

#[test]
fn modern_client_on_legacy_http_upstream() {
    let proxy = Proxy::start(Setup::one(Upstream::HttpLegacyEra));
    basics(&proxy);
    proxy.stop();
}

#[test]
fn modern_client_on_stdio_upstream() {
    let proxy = Proxy::start(Setup::one(Upstream::Stdio));
    basics(&proxy);
    proxy.stop();
}

/// A `tools/call` of the stdio demo's `sample` tool by a 2026-07-28 client (id `id`) that
/// declares sampling.
fn sample_call(id: &str, extra: Value) -> mcp::ModernRequest {
    let mut params = json!({"name": "sample", "arguments": {"prompt": "2+2?"}});
    if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
        params.extend(extra);
    }
    mcp::modern(
        json!(id),
        "tools/call",
        params,
        Some("sample"),
        json!({"sampling": {}}),
    )
}

/// Sends the `sample` call on `conn` and checks its answer: an `input_required` round asking
/// for one sampling answer (returned).
pub(crate) fn sampling_round(conn: &mut Conn) -> Value {
    let answer = sample_call("first", json!({})).send(conn);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let round = answer.messages().pop().expect("an answer");
    assert_eq!(round["id"], "first", "{round}");
    assert_eq!(round["result"]["resultType"], "input_required", "{round}");
    let inputs = round["result"]["inputRequests"]
        .as_object()
        .unwrap_or_else(|| panic!("no inputRequests: {round}"));
    assert_eq!(inputs.len(), 1, "{round}");
    let ask = inputs.values().next().expect("one input request");
    assert_eq!(ask["method"], "sampling/createMessage", "{round}");
    assert_eq!(
        ask["params"]["messages"][0]["content"]["text"], "2+2?",
        "{round}"
    );
    round
}

/// The retry of `round` (same request, id `retry`, the answer "4" keyed as asked and the
/// sealed state) on `conn`, checked: the tool's result is "4".
pub(crate) fn sampling_retry(conn: &mut Conn, round: &Value) {
    let key = round["result"]["inputRequests"]
        .as_object()
        .and_then(|inputs| inputs.keys().next())
        .unwrap_or_else(|| panic!("no input request: {round}"));
    let mut responses = serde_json::Map::new();
    responses.insert(
        key.clone(),
        json!({"role": "assistant", "content": {"type": "text", "text": "4"}, "model": "test"}),
    );
    let state = &round["result"]["requestState"];
    assert!(state.is_string(), "no requestState: {round}");
    let retry = sample_call(
        "retry",
        json!({"inputResponses": Value::Object(responses), "requestState": state}),
    );
    let answer = retry.send(conn);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let result = answer.messages().pop().expect("the result");
    assert_eq!(result["id"], "retry", "{result}");
    assert_eq!(mcp::result_text(&result), "4", "{result}");
}

#[test]
fn sampling_from_a_stdio_child_becomes_an_input_required_round() {
    let proxy = Proxy::start(Setup::two(Upstream::Stdio));
    let round = sampling_round(&mut proxy.conn());
    // The retry on a new connection: with two shards it may land on the one not holding the
    // exchange.
    sampling_retry(&mut proxy.conn(), &round);
    assert_eq!(proxy.metric("shadowcat_input_required_total"), 1.0);

    // The same state again names an exchange no longer pending.
    let again = sample_call(
        "again",
        json!({"inputResponses": {}, "requestState": round["result"]["requestState"]}),
    );
    assert_error(&again.send(&mut proxy.conn()), 400, -32602, &json!("again"));
    proxy.stop();
}

#[test]
fn modern_mirror_headers_must_match_the_body() {
    let proxy = Proxy::start(Setup::one(Upstream::HttpLegacyEra));
    let call = mcp::modern(
        json!(1),
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "x"}}),
        Some("add"),
        json!({}),
    );
    assert_error(&call.send(&mut proxy.conn()), 400, -32020, &json!(1));
    let mut wrong_method = mcp::modern(json!(2), "tools/list", json!({}), None, json!({}));
    wrong_method.method = "tools/call".into();
    assert_error(
        &wrong_method.send(&mut proxy.conn()),
        400,
        -32020,
        &json!(2),
    );
    let future = mcp::request(
        json!(3),
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2027-01-01"}}),
    );
    let mut headers = mcp::fresh_headers();
    headers.push(("MCP-Protocol-Version", "2027-01-01"));
    headers.push(("Mcp-Method", "tools/list"));
    let answer = proxy.conn().request("POST", mcp::PATH, &headers, &future);
    assert_error(&answer, 400, -32022, &json!(3));
    assert_eq!(proxy.metric("shadowcat_modern_translated_total"), 0.0);
}
