//! Request-level tests of JSON-RPC batches: answered in order under 2025-03-26 (and without a
//! version header), refused under 2025-06-18, errors per entry, streams and SSE replies.

use serde_json::{json, Value};

use super::test_support::*;
use super::*;

fn versioned<'a>(session: &'a str, version: Option<&'a str>, body: &'a str) -> PostRequest<'a> {
    PostRequest {
        protocol_version: version.map(str::as_bytes),
        ..post(Some(session), body)
    }
}

/// The JSON array of a 200 JSON reply.
fn json_array(reply: DemoReply) -> Vec<Value> {
    match reply {
        DemoReply::Json {
            status: 200,
            body,
            session_id: None,
        } => match json(&body) {
            Value::Array(entries) => entries,
            other => panic!("expected an array, got {other}"),
        },
        other => panic!("expected a JSON reply, got {other:?}"),
    }
}

/// The messages of an SSE reply, in order, and how many pauses it holds.
fn sse_messages(reply: DemoReply) -> (Vec<Value>, usize) {
    let DemoReply::Sse { steps, .. } = reply else {
        panic!("expected an SSE reply, got {reply:?}");
    };
    let pauses = steps
        .iter()
        .filter(|step| matches!(step, SseStep::Delay(_)))
        .count();
    let messages = steps
        .iter()
        .filter_map(|step| match step {
            SseStep::Message(body) => Some(json(body)),
            SseStep::Delay(_) => None,
        })
        .collect();
    (messages, pauses)
}

const PING_AND_LIST: &str = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},
    {"jsonrpc":"2.0","method":"notifications/initialized"},
    {"jsonrpc":"2.0","id":"two","method":"tools/list"}]"#;

#[test]
fn a_2025_03_26_batch_gets_one_array_of_answers_in_order() {
    let demo = demo(false);
    let session = session(&demo);
    for version in [None, Some("2025-03-26")] {
        let answers = json_array(demo.post(versioned(&session, version, PING_AND_LIST)));
        assert_eq!(
            answers.len(),
            2,
            "{version:?}: the notification gets no answer"
        );
        assert_eq!(answers[0], json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        assert_eq!(answers[1]["id"], json!("two"));
        assert!(answers[1]["result"]["tools"].is_array(), "{}", answers[1]);
    }
}

#[test]
fn batches_are_refused_from_2025_06_18_on() {
    let demo = demo(false);
    let session = session(&demo);
    for version in ["2024-11-05", "2025-06-18", "2025-11-25"] {
        let (status, reply) =
            status_reply(demo.post(versioned(&session, Some(version), PING_AND_LIST)));
        let reply = reply.unwrap();
        assert_eq!(status, 400, "{version}");
        assert_eq!(reply["error"]["code"], json!(-32600));
        assert_eq!(
            reply["error"]["message"],
            json!("Invalid Request: batches are not supported in this protocol version")
        );
    }
}

#[test]
fn a_batch_needs_a_session() {
    let demo = demo(false);
    let (status, _) = status_reply(demo.post(post(None, PING_AND_LIST)));
    assert_eq!(status, 400);
    let (status, _) = status_reply(demo.post(post(Some("not-a-session"), PING_AND_LIST)));
    assert_eq!(status, 404);
}

#[test]
fn bad_entries_get_their_own_errors() {
    let demo = demo(false);
    let session = session(&demo);
    let body = r#"[7, {"jsonrpc":"2.0","id":3}, {"jsonrpc":"2.0","id":4,"method":"nope"},
        {"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":"2025-03-26"}},
        [], {"jsonrpc":"2.0","id":6,"method":"ping"}]"#;
    let answers = json_array(demo.post(post(Some(&session), body)));
    let codes: Vec<(Value, Value)> = answers
        .iter()
        .map(|a| (a["id"].clone(), a["error"]["code"].clone()))
        .collect();
    assert_eq!(
        codes,
        [
            (json!(null), json!(-32600)),
            (json!(3), json!(-32600)),
            (json!(4), json!(-32601)),
            (json!(5), json!(-32600)),
            (json!(null), json!(-32600)),
            (json!(6), json!(null)),
        ]
    );
    assert_eq!(
        answers[3]["error"]["message"],
        json!("Invalid Request: initialize must not be part of a batch")
    );
    assert_eq!(answers[5]["result"], json!({}));
}

#[test]
fn a_batch_of_notifications_is_accepted() {
    let demo = demo(false);
    let session = session(&demo);
    let body = r#"[{"jsonrpc":"2.0","method":"notifications/initialized"},
        {"jsonrpc":"2.0","id":"asked","result":{}}]"#;
    assert!(matches!(
        demo.post(post(Some(&session), body)),
        DemoReply::Accepted
    ));
}

#[test]
fn a_streaming_call_makes_the_batch_one_sse_stream() {
    let demo = demo(false);
    let session = session(&demo);
    let body = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},
        {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow",
            "arguments":{"steps":2,"delay_ms":1},"_meta":{"progressToken":"p"}}},
        {"jsonrpc":"2.0","id":3,"method":"ping"}]"#;
    let (messages, pauses) = sse_messages(demo.post(post(Some(&session), body)));
    assert_eq!(pauses, 2);
    let shape: Vec<Value> = messages
        .iter()
        .map(|m| m.get("id").cloned().unwrap_or_else(|| m["method"].clone()))
        .collect();
    assert_eq!(
        shape,
        [
            json!(1),
            json!("notifications/progress"),
            json!("notifications/progress"),
            json!(2),
            json!(3)
        ]
    );
}

#[test]
fn an_sse_server_answers_a_batch_on_one_stream() {
    let demo = demo(true);
    let session = session(&demo);
    let (messages, pauses) = sse_messages(demo.post(post(Some(&session), PING_AND_LIST)));
    assert_eq!(pauses, 0);
    let ids: Vec<&Value> = messages.iter().map(|m| &m["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!("two")]);
}

#[test]
fn a_batch_is_bounded_in_messages_and_in_steps() {
    let demo = demo(false);
    let session = session(&demo);
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let largest = format!("[{}]", vec![ping; 1024].join(","));
    assert_eq!(
        json_array(demo.post(post(Some(&session), &largest))).len(),
        1024
    );
    // Refused as soon as the 1025th entry is seen, however long the array goes on.
    let too_large = format!("[{}]", vec!["1"; 100_000].join(","));
    let (status, reply) = status_reply(demo.post(post(Some(&session), &too_large)));
    assert_eq!(status, 400);
    assert_eq!(
        reply.unwrap()["error"]["message"],
        json!("Invalid Request: a batch holds at most 1024 messages")
    );

    // Three `slow` calls of 1000 steps with progress (2001 steps each): the third is refused.
    let slow = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"slow",
            "arguments":{{"steps":1000,"delay_ms":1}},"_meta":{{"progressToken":"p{id}"}}}}}}"#
        )
    };
    let body = format!("[{},{},{}]", slow(1), slow(2), slow(3));
    let (messages, pauses) = sse_messages(demo.post(post(Some(&session), &body)));
    assert_eq!(pauses, 2000);
    let last = messages.last().unwrap();
    assert_eq!(
        (&last["id"], &last["error"]["code"]),
        (&json!(3), &json!(-32602))
    );
    assert_eq!(messages.len(), 2 * 1001 + 1);
}
