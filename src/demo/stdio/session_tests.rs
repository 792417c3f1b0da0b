//! Tests for the stdio session: each kind of line and what it produces, without I/O.
//!
//! Not here: threads, framing and end of input (`serve_tests.rs`).

use serde_json::{json, Value};

use super::*;

const INIT_ASKING: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{},"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}"#;
const INIT_PLAIN: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn written(action: Action) -> Value {
    match action {
        Action::Write(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes))),
        other => panic!("expected a write, got {other:?}"),
    }
}

fn session(init: &str) -> StdioSession {
    let mut session = StdioSession::default();
    let reply = written(session.handle(init.as_bytes()));
    assert_eq!(reply["id"], 0);
    assert_eq!(reply["result"]["serverInfo"]["name"], "shadowcat-demo");
    session
}

fn call(session: &mut StdioSession, line: &str) -> Value {
    written(session.handle(line.as_bytes()))
}

#[test]
fn initialize_answers_without_a_session_and_requests_need_none() {
    let mut s = session(INIT_PLAIN);
    s.handle(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let echo = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":"e1","method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
    );
    assert_eq!(
        echo,
        json!({"jsonrpc":"2.0","id":"e1","result":{"content":[{"type":"text","text":"hi"}]}})
    );
    let add = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":40}}}"#,
    );
    assert_eq!(add["result"]["structuredContent"], json!({"sum": 42}));
    let ping = call(&mut s, r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    assert_eq!(ping["result"], json!({}));
    let read = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"demo://readme"}}"#,
    );
    assert_eq!(read["result"]["contents"][0]["uri"], "demo://readme");
    let prompt = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"greet","arguments":{"name":"Ann"}}}"#,
    );
    assert!(prompt["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("Ann"));
}

#[test]
fn tools_list_adds_the_asking_tools() {
    let mut s = session(INIT_PLAIN);
    let list = call(&mut s, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "add", "slow", "confirm", "sample"]);
    let bad = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":[]}"#,
    );
    assert_eq!(bad["error"]["code"], -32602);
}

#[test]
fn errors_carry_the_right_codes_and_ids() {
    let mut s = session(INIT_PLAIN);
    let unknown = call(&mut s, r#"{"jsonrpc":"2.0","id":7,"method":"nope/nope"}"#);
    assert_eq!(unknown["id"], 7);
    assert_eq!(unknown["error"]["code"], -32601);
    let parse = call(&mut s, "{not json");
    assert_eq!(parse["id"], Value::Null);
    assert_eq!(parse["error"]["code"], -32700);
    let tool = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"nope"}}"#,
    );
    assert_eq!(tool["error"]["code"], -32602);
    assert_eq!(tool["id"], 8);
    let invalid = call(&mut s, r#"{"jsonrpc":"1.0","id":9,"method":"ping"}"#);
    assert_eq!(invalid["error"]["code"], -32600);
    let too_long: Value = serde_json::from_slice(&StdioSession::too_long()).unwrap();
    assert_eq!(too_long["error"]["code"], -32700);
}

#[test]
fn notifications_and_stray_responses_get_nothing() {
    let mut s = session(INIT_PLAIN);
    for line in [
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":99,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":"x","error":{"code":1,"message":"m"}}"#,
    ] {
        assert_eq!(s.handle(line.as_bytes()), Action::Nothing, "{line}");
    }
}

#[test]
fn slow_becomes_a_script_with_progress_then_the_result() {
    let mut s = session(INIT_PLAIN);
    let action = s.handle(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"steps":2,"delay_ms":1},"_meta":{"progressToken":"p"}}}"#);
    let Action::Script { call, steps } = action else {
        panic!("expected a script: {action:?}")
    };
    assert_eq!(call, "1");
    let messages: Vec<Value> = steps
        .iter()
        .filter_map(|step| match step {
            SseStep::Message(bytes) => Some(serde_json::from_slice(bytes).unwrap()),
            SseStep::Delay(_) => None,
        })
        .collect();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["method"], "notifications/progress");
    assert_eq!(messages[1]["params"]["progress"], 2);
    assert_eq!(messages[2]["id"], 1);
}

#[test]
fn confirm_asks_the_client_and_returns_its_answer() {
    let mut s = session(INIT_ASKING);
    let ask = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"confirm","arguments":{"message":"Sure?"}}}"#,
    );
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["params"]["message"], "Sure?");
    assert_eq!(
        ask["params"]["requestedSchema"]["properties"]["confirm"]["type"],
        "boolean"
    );
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"action":"accept","content":{{"confirm":true}}}}}}"#,
        ask["id"]
    );
    let result = call(&mut s, &answer);
    assert_eq!(result["id"], "c");
    let text = result["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"action":"accept","content":{"confirm":true}})
    );
    // The same answer again finds nobody waiting.
    assert_eq!(s.handle(answer.as_bytes()), Action::Nothing);
}

#[test]
fn sample_returns_the_model_text_and_errors_become_tool_errors() {
    let mut s = session(INIT_ASKING);
    let ask = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sample","arguments":{"prompt":"2+2?"}}}"#,
    );
    assert_eq!(ask["method"], "sampling/createMessage");
    assert_eq!(ask["params"]["messages"][0]["content"]["text"], "2+2?");
    assert_eq!(ask["params"]["maxTokens"], 100);
    let second = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sample"}}"#,
    );
    assert_ne!(second["id"], ask["id"]);
    // Answers may come in any order.
    let refused = call(
        &mut s,
        &format!(
            r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-1,"message":"user said no"}}}}"#,
            second["id"]
        ),
    );
    assert_eq!(refused["id"], 2);
    assert_eq!(refused["result"]["isError"], true);
    assert!(refused["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("user said no"));
    let answered = call(
        &mut s,
        &format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{{"role":"assistant","content":{{"type":"text","text":"4"}},"model":"m"}}}}"#,
            ask["id"]
        ),
    );
    assert_eq!(answered["id"], 1);
    assert_eq!(
        answered["result"],
        json!({"content":[{"type":"text","text":"4"}]})
    );
}

#[test]
fn asking_needs_the_declared_capability_and_good_arguments() {
    let mut s = session(INIT_PLAIN);
    for name in ["confirm", "sample"] {
        let result = call(
            &mut s,
            &format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{name}"}}}}"#
            ),
        );
        assert_eq!(result["result"]["isError"], true, "{name}");
        assert!(result["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("did not declare"));
    }
    let mut s = session(INIT_ASKING);
    let bad = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"confirm","arguments":{"message":5}}}"#,
    );
    assert_eq!(bad["result"]["isError"], true);
    let bad = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sample","arguments":[]}}"#,
    );
    assert_eq!(bad["result"]["isError"], true);
}

#[test]
fn unanswered_questions_fail_at_end_of_input_in_order() {
    let mut s = session(INIT_ASKING);
    for id in [10, 11] {
        call(
            &mut s,
            &format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"confirm"}}}}"#
            ),
        );
    }
    let abandoned: Vec<Value> = s
        .abandon()
        .iter()
        .map(|bytes| serde_json::from_slice(bytes).unwrap())
        .collect();
    assert_eq!(abandoned.len(), 2);
    assert_eq!(abandoned[0]["id"], 10);
    assert_eq!(abandoned[1]["id"], 11);
    assert!(abandoned
        .iter()
        .all(|reply| reply["result"]["isError"] == true));
    assert!(s.abandon().is_empty());
}

#[test]
fn pending_questions_are_bounded() {
    let mut s = session(INIT_ASKING);
    let line = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"confirm"}}"#;
    for _ in 0..MAX_PENDING_ASKS {
        assert_eq!(call(&mut s, line)["method"], "elicitation/create");
    }
    let refused = call(&mut s, line);
    assert_eq!(refused["result"]["isError"], true);
}

#[test]
fn cancellation_names_the_call_and_drops_a_waiting_question() {
    let mut s = session(INIT_ASKING);
    let cancel = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id},"reason":"x"}}}}"#
        )
    };
    // Not a question: passed on for the scripts (string and number ids keep their JSON type).
    assert_eq!(s.handle(cancel("7").as_bytes()), Action::Cancel("7".into()));
    assert_eq!(
        s.handle(cancel("\"a\"").as_bytes()),
        Action::Cancel("\"a\"".into())
    );
    let Action::Script { call: script, .. } = s.handle(
        br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"slow","arguments":{"steps":1,"delay_ms":0}}}"#,
    ) else {
        panic!("expected a script")
    };
    assert_eq!(script, "\"a\"");
    // A waiting question is dropped: no result now, none at end of input, a late answer ignored.
    let ask = call(
        &mut s,
        r#"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":"confirm"}}"#,
    );
    assert_eq!(s.handle(cancel("\"q\"").as_bytes()), Action::Nothing);
    assert!(s.abandon().is_empty());
    let late = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"action":"decline"}}}}"#,
        ask["id"]
    );
    assert_eq!(s.handle(late.as_bytes()), Action::Nothing);
    // Malformed cancellations are ignored.
    assert_eq!(
        s.handle(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#),
        Action::Nothing
    );
}
