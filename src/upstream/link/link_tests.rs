//! Real-process tests for the link: a small python3 MCP-speaking child answers requests,
//! sends progress, server→client requests and list changes, or exits on demand. Each test
//! runs its own glommio executor; waits are bounded by timeouts, never slept on.

use std::rc::Rc;
use std::time::Duration;

use super::*;

/// A line-based child: `echo` answers with its params, `slow` sends progress and asks the
/// client a question first, `changes` announces a tool list change, `exit` exits with 3, `raw`
/// answers with the line it read, `flood` sends `count` progress notifications, then answers.
const CHILD: &str = r#"
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
waiting = {}
for line in sys.stdin:
    m = json.loads(line)
    method, mid = m.get("method"), m.get("id")
    if method is None and mid in waiting:
        orig = waiting.pop(mid)
        send({"jsonrpc": "2.0", "id": orig, "result": {"answer": m.get("result")}})
    elif method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "t", "version": "1"}}})
    elif method == "notifications/initialized":
        sys.stderr.write("initialized\n"); sys.stderr.flush()
    elif method == "echo":
        send({"jsonrpc": "2.0", "id": mid, "result": m.get("params")})
    elif method == "slow":
        token = m["params"]["_meta"]["progressToken"]
        send({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": 1}})
        waiting["q-%s" % mid] = mid
        send({"jsonrpc": "2.0", "id": "q-%s" % mid, "method": "sampling/createMessage", "params": {}})
    elif method == "changes":
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    elif method == "exit":
        sys.exit(3)
    elif method == "flood":
        token = m["params"]["_meta"]["progressToken"]
        for i in range(m["params"]["count"]):
            send({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": i}})
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    elif method == "raw":
        send({"jsonrpc": "2.0", "id": mid, "result": {"line": line.rstrip("\n")}})
"#;

use crate::upstream::test_support::run;

fn start(mode: StdioMode) -> Rc<Link> {
    let spec = ChildSpec {
        argv: vec!["python3".into(), "-c".into(), CHILD.into()],
        ..ChildSpec::default()
    };
    Link::start(
        &spec,
        LinkOptions {
            mode,
            max_line: 1 << 20,
            kill_grace: Duration::from_secs(2),
            upstream: "test".into(),
        },
    )
    .unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

/// Where the inspector finds the id and token of `message` (as the proxy passes them).
fn spans(message: &[u8]) -> crate::mcp::Spans {
    match crate::mcp::Inspector::new().inspect(message) {
        Ok(crate::mcp::Inspected::Single(info)) => info.spans,
        _ => crate::mcp::Spans::default(),
    }
}

async fn next(call: &Call) -> Option<Delivery> {
    glommio::timer::timeout(WAIT, async { Ok(call.next().await) })
        .await
        .expect("no delivery within the deadline")
}

/// Stops the child and waits (bounded) until it is reaped.
async fn close_and_reap(link: &Link) {
    link.close();
    glommio::timer::timeout(WAIT, async {
        link.wait_exited().await;
        Ok(())
    })
    .await
    .unwrap();
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn final_json(delivery: Option<Delivery>) -> serde_json::Value {
    match delivery {
        Some(Delivery::Final { bytes, is_error }) => {
            assert!(!is_error);
            json(&bytes)
        }
        other => panic!("expected the response, got {other:?}"),
    }
}

fn message_json(delivery: Option<Delivery>) -> serde_json::Value {
    match delivery {
        Some(Delivery::Message(bytes)) => json(&bytes),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn per_session_calls_get_progress_then_server_request_then_their_response() {
    run(async {
        let link = start(StdioMode::PerSession);
        let session = link.open_session().unwrap();
        let id = JsonRpcId::from("a");
        let token = JsonRpcId::Number(5);
        let call = link
            .call(
                session,
                &id,
                Some(&token),
                &spans(br#"{"jsonrpc":"2.0","id":"a","method":"slow","params":{"_meta":{"progressToken":5}}}"#), br#"{"jsonrpc":"2.0","id":"a","method":"slow","params":{"_meta":{"progressToken":5}}}"#,
            )
            .unwrap();
        let progress = message_json(next(&call).await);
        assert_eq!(progress["params"]["progressToken"], 5);
        let question = message_json(next(&call).await);
        assert_eq!(question["method"], "sampling/createMessage");
        assert_eq!(question["id"], "q-a");
        link.notify(
            session,
            br#"{"jsonrpc":"2.0","id":"q-a","result":{"text":"yes"}}"#,
            ClientMessage {
                response_to: Some(&JsonRpcId::from("q-a")),
                spans: spans(br#"{"jsonrpc":"2.0","id":"q-a","result":{"text":"yes"}}"#),
                ..ClientMessage::default()
            },
        )
        .unwrap();
        let answer = final_json(next(&call).await);
        assert_eq!(answer["id"], "a");
        assert_eq!(answer["result"]["answer"]["text"], "yes");
        close_and_reap(&link).await;
        assert!(!link.is_alive());
    });
}

#[test]
fn shared_sessions_with_equal_ids_get_their_own_answers_and_list_changes_reach_all() {
    run(async {
        let link = start(StdioMode::Shared);
        let init = link.shared_init(WAIT).await.unwrap();
        assert_eq!(json(&init)["serverInfo"]["name"], "t");
        let (a, b) = (link.open_session().unwrap(), link.open_session().unwrap());
        let id = JsonRpcId::Number(1);
        let call_a = link
            .call(
                a,
                &id,
                None,
                &spans(br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":{"who":"a"}}"#),
                br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":{"who":"a"}}"#,
            )
            .unwrap();
        let call_b = link
            .call(
                b,
                &id,
                None,
                &spans(br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":{"who":"b"}}"#),
                br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":{"who":"b"}}"#,
            )
            .unwrap();
        assert_ne!(call_a.upstream_id(), call_b.upstream_id());
        let (answer_a, answer_b) = (
            final_json(next(&call_a).await),
            final_json(next(&call_b).await),
        );
        assert_eq!(
            (answer_a["id"].clone(), answer_a["result"]["who"].clone()),
            (1.into(), "a".into())
        );
        assert_eq!(
            (answer_b["id"].clone(), answer_b["result"]["who"].clone()),
            (1.into(), "b".into())
        );

        let token = JsonRpcId::from("tok-a");
        let slow = link
            .call(
                a,
                &JsonRpcId::Number(2),
                Some(&token),
                &spans(br#"{"jsonrpc":"2.0","id":2,"method":"slow","params":{"_meta":{"progressToken":"tok-a"}}}"#), br#"{"jsonrpc":"2.0","id":2,"method":"slow","params":{"_meta":{"progressToken":"tok-a"}}}"#,
            )
            .unwrap();
        assert_eq!(
            message_json(next(&slow).await)["params"]["progressToken"],
            "tok-a"
        );
        // Its server request follows; take it so nothing of this call is left in flight.
        assert_eq!(
            message_json(next(&slow).await)["method"],
            "sampling/createMessage"
        );
        drop(slow);

        let changes = link
            .call(
                b,
                &JsonRpcId::Number(3),
                None,
                &spans(br#"{"jsonrpc":"2.0","id":3,"method":"changes"}"#),
                br#"{"jsonrpc":"2.0","id":3,"method":"changes"}"#,
            )
            .unwrap();
        final_json(next(&changes).await);
        for session in [a, b] {
            let inbox = link.take_inbox(session).unwrap();
            let got = glommio::timer::timeout(WAIT, async { Ok(inbox.recv().await) })
                .await
                .unwrap()
                .unwrap();
            assert_eq!(json(&got)["method"], "notifications/tools/list_changed");
            assert!(
                link.take_inbox(session).is_none(),
                "one GET stream per session"
            );
            link.return_inbox(session, inbox);
        }
        link.end_session(a);
        assert!(matches!(
            link.call(
                a,
                &id,
                None,
                &spans(br#"{"jsonrpc":"2.0","id":1,"method":"echo"}"#),
                br#"{"jsonrpc":"2.0","id":1,"method":"echo"}"#
            ),
            Err(LinkError::SessionEnded)
        ));
        assert!(link.is_alive(), "shared child outlives one session");
        link.close();
    });
}

#[test]
fn shared_server_requests_no_single_session_owns_are_refused() {
    run(async {
        let link = start(StdioMode::Shared);
        link.shared_init(WAIT).await.unwrap();
        let (a, b) = (link.open_session().unwrap(), link.open_session().unwrap());
        let token_a = JsonRpcId::Number(1);
        let slow = link
            .call(
                a,
                &JsonRpcId::Number(1),
                Some(&token_a),
                &spans(br#"{"jsonrpc":"2.0","id":1,"method":"slow","params":{"_meta":{"progressToken":1}}}"#), br#"{"jsonrpc":"2.0","id":1,"method":"slow","params":{"_meta":{"progressToken":1}}}"#,
            )
            .unwrap();
        // b's call is in flight too, and stays so (its answer waits for a's question).
        let held = link
            .call(b, &JsonRpcId::Number(1), Some(&JsonRpcId::Number(2)),
                &spans(br#"{"jsonrpc":"2.0","id":1,"method":"slow","params":{"_meta":{"progressToken":2}}}"#), br#"{"jsonrpc":"2.0","id":1,"method":"slow","params":{"_meta":{"progressToken":2}}}"#)
            .unwrap();
        // Each call's progress is its own; the questions are nobody's and get refused.
        assert_eq!(
            message_json(next(&slow).await)["params"]["progressToken"],
            1
        );
        assert_eq!(
            message_json(next(&held).await)["params"]["progressToken"],
            2
        );
        let answer = final_json(next(&slow).await);
        assert_eq!(
            answer["result"]["answer"],
            serde_json::Value::Null,
            "refused: {answer}"
        );
        link.close();
    });
}

#[test]
fn a_child_that_exits_fails_its_calls_with_the_exit_status() {
    run(async {
        let link = start(StdioMode::PerSession);
        let session = link.open_session().unwrap();
        let call = link
            .call(
                session,
                &JsonRpcId::Number(1),
                None,
                &spans(br#"{"jsonrpc":"2.0","id":1,"method":"exit"}"#),
                br#"{"jsonrpc":"2.0","id":1,"method":"exit"}"#,
            )
            .unwrap();
        assert!(next(&call).await.is_none());
        let reason = link.failure().unwrap();
        assert!(reason.contains("exit status: 3"), "{reason}");
        assert!(matches!(
            link.call(session, &JsonRpcId::Number(2), None, &spans(b"{}"), b"{}"),
            Err(LinkError::Gone(_))
        ));
    });
}

#[test]
fn a_cancelled_call_ends_without_an_answer() {
    run(async {
        let link = start(StdioMode::Shared);
        link.shared_init(WAIT).await.unwrap();
        let session = link.open_session().unwrap();
        let token = JsonRpcId::Number(9);
        let call = link
            .call(
                session,
                &JsonRpcId::from("c"),
                Some(&token),
                &spans(br#"{"jsonrpc":"2.0","id":"c","method":"slow","params":{"_meta":{"progressToken":9}}}"#), br#"{"jsonrpc":"2.0","id":"c","method":"slow","params":{"_meta":{"progressToken":9}}}"#,
            )
            .unwrap();
        message_json(next(&call).await);
        link.notify(
            session,
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}"#,
            ClientMessage {
                cancelled: Some(&JsonRpcId::from("c")),
                spans: spans(
                    br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}"#,
                ),
                ..ClientMessage::default()
            },
        )
        .unwrap();
        // The server request was already queued; after it the call ends with no response.
        while let Some(delivery) = next(&call).await {
            assert!(matches!(delivery, Delivery::Message(_)), "{delivery:?}");
        }
        assert!(link.is_alive());
        link.close();
    });
}

#[test]
fn shared_links_splice_ids_into_the_original_bytes_and_restore_them_as_written() {
    run(async {
        let link = start(StdioMode::Shared);
        link.shared_init(WAIT).await.unwrap();
        let session = link.open_session().unwrap();
        let message = br#"{ "method" : "raw", "params": {"id": "inner", "_meta": {"progressToken" :"t\u0031"}},"jsonrpc":"2.0","id" : "a\u0041" }"#;
        let found = spans(message);
        let call = link
            .call(
                session,
                &JsonRpcId::from("aA"),
                Some(&JsonRpcId::from("t1")),
                &found,
                message,
            )
            .unwrap();
        let upstream = call.upstream_id().clone();
        let bytes = match next(&call).await {
            Some(Delivery::Final { bytes, .. }) => bytes,
            other => panic!("expected the response, got {other:?}"),
        };
        // The child saw the client's bytes with only the id and token replaced...
        let mut seen = Vec::new();
        upstream.write_json(&mut seen);
        let seen = String::from_utf8(seen).unwrap();
        let expected = format!(
            r#"{{ "method" : "raw", "params": {{"id": "inner", "_meta": {{"progressToken" :{seen}}}}},"jsonrpc":"2.0","id" : {seen} }}"#
        );
        assert_eq!(json(&bytes)["result"]["line"], expected.as_str());
        // ...and the client gets its id back byte for byte, the child's bytes otherwise.
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(r#""id": "a\u0041""#), "{text}");
        link.close();
    });
}

/// A call whose messages are not taken (its client is not reading, or a rule holds one of
/// them) keeps `CALL_BACKLOG` of them; the rest are dropped and counted, and its answer
/// still arrives.
#[test]
fn a_call_not_taking_its_messages_keeps_its_backlog_and_its_answer() {
    run(async {
        let link = start(StdioMode::PerSession);
        let session = link.open_session().unwrap();
        let extra = 20;
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":"f","method":"flood","params":{{"count":{},"_meta":{{"progressToken":9}}}}}}"#,
            CALL_BACKLOG + extra
        );
        let token = JsonRpcId::Number(9);
        let id = JsonRpcId::from("f");
        let call = link
            .call(
                session,
                &id,
                Some(&token),
                &spans(request.as_bytes()),
                request.as_bytes(),
            )
            .unwrap();
        // Nothing is taken until the child's flood was read (a condition, polled).
        let deadline = std::time::Instant::now() + WAIT;
        while link.dropped() < extra as u64 {
            assert!(
                std::time::Instant::now() < deadline,
                "dropped {}",
                link.dropped()
            );
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        for n in 0..CALL_BACKLOG {
            let progress = message_json(next(&call).await);
            assert_eq!(
                progress["params"]["progress"], n,
                "in order, the first ones kept"
            );
        }
        assert_eq!(final_json(next(&call).await)["id"], "f");
        assert_eq!(link.dropped(), extra as u64);
        close_and_reap(&link).await;
    });
}
