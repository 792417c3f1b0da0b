//! The `intercept` stage (`[[intercept.rules]]`) on the request path: `block` and `mock`
//! answered by the proxy (the demo's `add` would have answered a sum had the call reached it),
//! `modify` of a request's params and of an answer's result, over Streamable HTTP sessions
//! (JSON and SSE answers, a stdio child) and on a legacy HTTP+SSE stream; answers held by a
//! response `delay` and `pause` (modified through the admin API) over each upstream kind.

use serde_json::{json, Value};

use crate::client::Events;
use crate::harness::{Proxy, Setup, Upstream};
use crate::legacy::{handshake, next_message, open_stream, post_accepted};
use crate::mcp;

/// The rules: top-level tables, appended after `[admin]`'s lines.
const RULES: &str = "\n[[intercept.rules]]\ntool = \"add\"\n\
    when = [{ pointer = \"/params/arguments/a\", equals = 1 }]\n\
    action = \"block\"\ncode = -32042\nmessage = \"no adding\"\n\
    [[intercept.rules]]\ntool = \"add\"\naction = \"mock\"\nresult = { content = [{ type = \"text\", text = \"mocked\" }] }\n\
    [[intercept.rules]]\ntool = \"echo\"\naction = \"modify\"\npatch = { arguments = { message = \"rewritten\" } }\n\
    [[intercept.rules]]\ndirection = \"response\"\ntool = \"echo\"\naction = \"modify\"\npatch = { isError = false }\n";

fn add(id: u32, a: i64) -> Vec<u8> {
    mcp::request(
        json!(id),
        "tools/call",
        json!({"name": "add", "arguments": {"a": a, "b": 2}}),
    )
}

fn assert_blocked(message: &Value, id: u32) {
    assert_eq!(message["id"], json!(id), "{message}");
    assert_eq!(
        message["error"],
        json!({"code": -32042, "message": "no adding"}),
        "{message}"
    );
}

fn assert_mocked(message: &Value, id: u32) {
    assert_eq!(message["id"], json!(id), "{message}");
    assert_eq!(mcp::result_text(message), "mocked", "{message}");
}

fn over_sessions(upstream: Upstream) {
    let proxy = Proxy::start(Setup::one(upstream).with_admin(RULES));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let blocked = session.post(&mut conn, &add(1, 1));
    assert_eq!(blocked.head.status, 200, "{}", blocked.describe());
    assert_blocked(&blocked.json(), 1);
    let mocked = session.post(&mut conn, &add(2, 5));
    assert_eq!(mocked.head.status, 200, "{}", mocked.describe());
    assert_mocked(&mocked.json(), 2);
    let echo = session.post(&mut conn, &mcp::echo(json!(3), "original"));
    let answer = echo.messages().pop().expect("an echo answer");
    assert_eq!(mcp::result_text(&answer), "rewritten");
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
}

#[test]
fn block_mock_modify_over_http_json_answers() {
    over_sessions(Upstream::Http);
}

#[test]
fn block_mock_modify_over_http_sse_answers() {
    over_sessions(Upstream::HttpSse);
}

#[test]
fn block_mock_modify_over_a_stdio_upstream() {
    over_sessions(Upstream::Stdio);
}

#[test]
fn block_mock_modify_on_a_legacy_stream() {
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_admin(RULES));
    let mut stream_conn = proxy.conn();
    let (mut events, endpoint): (Events<'_>, String) = open_stream(&mut stream_conn);
    let mut conn = proxy.conn();
    handshake(&mut events, &mut conn, &endpoint);
    post_accepted(&mut conn, &endpoint, &add(1, 1));
    assert_blocked(&next_message(&mut events, "the block"), 1);
    post_accepted(&mut conn, &endpoint, &add(2, 5));
    assert_mocked(&next_message(&mut events, "the mock"), 2);
    post_accepted(&mut conn, &endpoint, &mcp::echo(json!(3), "legacy"));
    assert_eq!(
        mcp::result_text(&next_message(&mut events, "the echo")),
        "rewritten"
    );
}

#[test]
fn a_stateless_2026_request_is_mocked_too() {
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_admin(RULES));
    let answer = mcp::modern_call(json!(9), "add").send(&mut proxy.conn());
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_mocked(&answer.json(), 9);
}

/// A 2025-03-26 session (batches allowed): its id.
fn batch_session(conn: &mut crate::client::Conn) -> String {
    let init = mcp::request(
        json!(0),
        "initialize",
        json!({"protocolVersion": "2025-03-26", "capabilities": {},
               "clientInfo": {"name": "request-path-tests", "version": "0"}}),
    );
    let answer = conn.request("POST", mcp::PATH, &mcp::fresh_headers(), &init);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    answer
        .header("mcp-session-id")
        .expect("a session")
        .to_owned()
}

#[test]
fn batches_are_modified_per_element_and_blocked_whole() {
    // A stdio child gets each element (stdio/batch.rs), so what reaches it can be counted.
    let proxy = Proxy::start(Setup::one(Upstream::Stdio).with_admin(RULES));
    let mut conn = proxy.conn();
    let sid = batch_session(&mut conn);
    let headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Mcp-Session-Id", sid.as_str()),
        ("MCP-Protocol-Version", "2025-03-26"),
    ];
    let two = |a: Vec<u8>, b: Vec<u8>| {
        format!(
            "[{},{}]",
            String::from_utf8(a).unwrap(),
            String::from_utf8(b).unwrap()
        )
    };
    let modified = conn.request(
        "POST",
        mcp::PATH,
        &headers,
        two(mcp::echo(json!(1), "a"), mcp::echo(json!(2), "b")).as_bytes(),
    );
    assert_eq!(modified.head.status, 200, "{}", modified.describe());
    let texts: Vec<String> = modified
        .messages()
        .iter()
        .flat_map(|m| m.as_array().cloned().unwrap_or_else(|| vec![m.clone()]))
        .map(|m| mcp::result_text(&m).to_owned())
        .collect();
    assert_eq!(texts, ["rewritten", "rewritten"], "{}", modified.describe());
    let blocked = conn.request(
        "POST",
        mcp::PATH,
        &headers,
        two(mcp::echo(json!(3), "c"), add(4, 1)).as_bytes(),
    );
    assert_eq!(blocked.head.status, 200, "{}", blocked.describe());
    let body = blocked.json();
    let errors = body.as_array().expect("an array of answers");
    assert_eq!(errors.len(), 2, "{body}");
    assert!(
        errors.iter().all(|e| e["error"]["code"] == json!(-32042)),
        "{body}"
    );
}

/// A response rule that can select only `add`'s answers: every other answer takes the
/// pass-through relay, so an echo answer larger than `max_sse_event_bytes` (4 MiB) comes through
/// whole (the buffering relay refused it with 502 for every request while any response rule
/// was configured).
#[test]
fn an_answer_no_response_rule_can_select_is_not_buffered() {
    const NARROW: &str = "\n[limits]\nmax_body_bytes = \"8MiB\"\n\n\
        [[intercept.rules]]\ndirection = \"response\"\ntool = \"add\"\naction = \"modify\"\npatch = { isError = false }\n";
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_admin(NARROW));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let big = "x".repeat(5 << 20);
    let echo = session.post(&mut conn, &mcp::echo(json!(1), &big));
    assert_eq!(echo.head.status, 200, "{}", echo.head.status);
    let answer = echo.messages().pop().expect("an echo answer");
    assert_eq!(mcp::result_text(&answer).len(), big.len());
}

/// The paused messages the admin API lists (polled until `count` show up: a condition).
fn paused(admin: &mut crate::client::Conn, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let listed = admin
            .request("GET", "/api/intercept/paused", &[], b"")
            .json();
        let items = listed["paused"].as_array().cloned().unwrap_or_default();
        if items.len() >= count {
            return items;
        }
        assert!(std::time::Instant::now() < deadline, "no pause: {listed}");
    }
}

/// Sends `echo(7, "held")` of `session` on a connection of its own and waits until a rule
/// pauses it (or its answer): that connection, one to the admin API, and the paused entry.
fn hold_echo(
    proxy: &Proxy,
    session: &mcp::Session,
) -> (crate::client::Conn, crate::client::Conn, Value) {
    let mut held = proxy.conn();
    held.send(
        "POST",
        mcp::PATH,
        &session.post_headers(),
        &mcp::echo(json!(7), "held"),
    );
    let mut admin = crate::client::Conn::connect(proxy.admin);
    let entry = paused(&mut admin, 1).remove(0);
    (held, admin, entry)
}

/// The operator's `verb` (`resume`, `modify`, `block`) on the paused `entry`, taken.
fn decide(admin: &mut crate::client::Conn, entry: &Value, verb: &str, body: &[u8]) {
    let id = entry["id"].as_str().expect("an id");
    let path = format!("/api/intercept/paused/{id}/{verb}");
    let decided = admin.request("POST", &path, &[], body);
    assert_eq!(decided.head.status, 200, "{}", decided.describe());
}

/// A session deleted while its request is paused: resumed, the request does not go upstream
/// without a session; it is answered 404 (-32001), as a request on an unknown session is.
#[test]
fn a_paused_request_whose_session_ended_is_answered_404() {
    const PAUSE: &str =
        "\n[[intercept.rules]]\ntool = \"echo\"\naction = \"pause\"\ntimeout = \"30s\"\n";
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_admin(PAUSE));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let (mut held, mut admin, entry) = hold_echo(&proxy, &session);
    let deleted = conn.request("DELETE", mcp::PATH, &session.get_headers(), b"");
    assert_eq!(deleted.head.status, 200, "{}", deleted.describe());
    decide(&mut admin, &entry, "resume", b"");
    let answer = held.response("POST");
    assert_eq!(answer.head.status, 404, "{}", answer.describe());
    assert_eq!(
        answer.json()["error"]["code"],
        json!(-32001),
        "{}",
        answer.describe()
    );
    assert_eq!(answer.json()["id"], json!(7));
}

/// Response-side holds: an answer whose text is "held" is paused (the admin API lists it as a
/// response and modifies its result); any other echo answer is delayed 200 ms.
const HOLD_ANSWERS: &str = "\n[[intercept.rules]]\ndirection = \"response\"\ntool = \"echo\"\n\
    when = [{ pointer = \"/result/content/0/text\", equals = \"held\" }]\n\
    action = \"pause\"\ntimeout = \"30s\"\n\
    [[intercept.rules]]\ndirection = \"response\"\ntool = \"echo\"\naction = \"delay\"\ndelay = \"200ms\"\n";

fn answers_held(upstream: Upstream) {
    let setup = Setup::one(upstream).with_admin(HOLD_ANSWERS);
    let proxy = Proxy::start(setup.with_upstream("max_in_flight = 1"));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let started = std::time::Instant::now();
    let delayed = session.post(&mut conn, &mcp::echo(json!(2), "late"));
    let delayed = delayed.messages().pop().expect("an echo answer");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert_eq!(mcp::result_text(&delayed), "late");
    let (mut held, mut admin, entry) = hold_echo(&proxy, &session);
    assert_eq!(entry["direction"], "response", "{entry}");
    assert_eq!(entry["message"]["id"], json!(7), "{entry}");
    // The held answer is complete upstream: it gave its one `max_in_flight` slot back.
    let meanwhile = session.post(&mut conn, &mcp::echo(json!(3), "meanwhile"));
    assert_eq!(meanwhile.head.status, 200, "{}", meanwhile.describe());
    let meanwhile = meanwhile.messages().pop().expect("an echo answer");
    assert_eq!(mcp::result_text(&meanwhile), "meanwhile");
    let patch = br#"{"content":[{"type":"text","text":"changed while held"}]}"#;
    decide(&mut admin, &entry, "modify", patch);
    let answer = held.response("POST");
    let answer = answer.messages().pop().expect("the held answer");
    assert_eq!(answer["id"], json!(7), "{answer}");
    assert_eq!(mcp::result_text(&answer), "changed while held");
}

/// JSON and SSE answers of an HTTP upstream, a stdio child's answers; with `max_in_flight = 1`,
/// another call passes while one answer is held.
#[test]
fn answers_held_over_every_upstream_kind() {
    for upstream in [Upstream::Http, Upstream::HttpSse, Upstream::Stdio] {
        answers_held(upstream);
    }
}

/// A client that pipelines its next request behind a held answer and then hangs up: the
/// hang-up is seen while the answer is held (the pipelined bytes are read ahead and kept), and
/// its pause leaves the list at once rather than at its timeout.
#[test]
fn a_pipelining_client_hanging_up_ends_its_held_answer() {
    for upstream in [Upstream::Http, Upstream::HttpSse, Upstream::Stdio] {
        let proxy = Proxy::start(Setup::one(upstream).with_admin(HOLD_ANSWERS));
        let mut conn = proxy.conn();
        let session = mcp::open_session(&mut conn);
        let (mut held, mut admin, _) = hold_echo(&proxy, &session);
        let next = mcp::request(json!(8), "tools/list", json!({}));
        held.send("POST", mcp::PATH, &session.post_headers(), &next);
        drop(held);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let listed = admin
                .request("GET", "/api/intercept/paused", &[], b"")
                .json();
            if listed["paused"].as_array().is_some_and(Vec::is_empty) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{upstream:?}: the pause outlived its client: {listed}"
            );
        }
    }
}
