//! The tape backend's HTTP behaviour: sessions minted per `initialize`, each with its own
//! cursor; JSON answers, SSE with scaled pauses; the GET stream once; errors as statuses.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::tape::fixture;

fn backend(speed_millionths: u64) -> TapeBackend {
    let path = std::env::temp_dir().join(format!(
        "shadowcat-tape-backend-{}-{speed_millionths}.tape.jsonl",
        std::process::id()
    ));
    let unsolicited = fixture::line(
        1_500,
        "s2c",
        r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#,
    );
    std::fs::write(&path, format!("{}{unsolicited}\n", fixture::session(0))).unwrap();
    let backend = TapeBackend::new(&ReplaySource {
        tape: PathBuf::from(&path),
        speed_millionths,
    });
    let _ = std::fs::remove_file(&path);
    backend
}

fn json(reply: &DemoReply) -> Value {
    match reply {
        DemoReply::Json { body, .. } => serde_json::from_slice(body).unwrap(),
        other => panic!("not JSON: {other:?}"),
    }
}

fn session(backend: &TapeBackend) -> String {
    let reply = backend.post(
        None,
        br#"{"jsonrpc":"2.0","id":"i","method":"initialize","params":{}}"#,
    );
    let DemoReply::Json {
        session_id: Some(id),
        ..
    } = &reply
    else {
        panic!("{reply:?}");
    };
    assert_eq!(json(&reply)["id"], "i");
    id.clone()
}

#[test]
fn each_initialize_mints_its_own_session() {
    let b = backend(1_000_000);
    let (one, two) = (session(&b), session(&b));
    assert_ne!(one, two);
    let list = br#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#;
    let answer = json(&b.post(Some(one.as_bytes()), list));
    assert_eq!(answer["id"], 5);
    assert_eq!(answer["result"]["tools"][0]["name"], "echo");
    assert!(matches!(
        b.post(
            Some(one.as_bytes()),
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
        ),
        DemoReply::Accepted
    ));
    assert!(matches!(
        b.delete(Some(one.as_bytes())),
        DemoReply::Status { status: 200, .. }
    ));
    assert!(matches!(
        b.post(Some(one.as_bytes()), list),
        DemoReply::Status { status: 404, .. }
    ));
    assert!(matches!(
        b.post(None, list),
        DemoReply::Status { status: 400, .. }
    ));
    assert!(matches!(
        b.post(Some(two.as_bytes()), b"[1]"),
        DemoReply::Status { status: 400, .. }
    ));
}

#[test]
fn recorded_notifications_come_on_sse_with_scaled_pauses() {
    let b = backend(2_000_000);
    let id = session(&b);
    let call = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow","arguments":{"steps":1},"_meta":{"progressToken":"p"}}}"#;
    let DemoReply::Sse { steps, .. } = b.post(Some(id.as_bytes()), call) else {
        panic!("not SSE");
    };
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[0], SseStep::Delay(Duration::from_micros(500)));
    assert_eq!(steps[2], SseStep::Delay(Duration::from_micros(1500)));
    let SseStep::Message(last) = &steps[3] else {
        panic!("no answer last");
    };
    assert_eq!(serde_json::from_slice::<Value>(last).unwrap()["id"], 9);
}

#[test]
fn the_get_stream_carries_unsolicited_notifications_once() {
    let b = backend(0);
    let id = session(&b);
    let DemoReply::Sse { steps, .. } = b.get(Some(id.as_bytes())) else {
        panic!("no stream");
    };
    assert!(matches!(&steps[..], [SseStep::Message(_)]));
    assert!(matches!(
        b.get(Some(id.as_bytes())),
        DemoReply::Status { status: 405, .. }
    ));
    assert!(matches!(
        b.get(Some(b"nope")),
        DemoReply::Status { status: 404, .. }
    ));
}

#[test]
fn ping_is_answered_even_when_not_on_the_tape() {
    let b = backend(1_000_000);
    let one = session(&b);
    let ping = br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
    let answer = json(&b.post(Some(one.as_bytes()), ping));
    assert_eq!(
        answer,
        serde_json::json!({"jsonrpc":"2.0","id":"p","result":{}})
    );
}

#[test]
fn the_least_recently_used_session_goes_first_and_an_unmatched_initialize_keeps_none() {
    let mut b = backend(1_000_000);
    b.max_sessions = 2;
    let (one, two) = (session(&b), session(&b));
    let list = br#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#;
    assert!(matches!(
        b.post(Some(one.as_bytes()), list),
        DemoReply::Json { .. }
    ));
    let three = session(&b);
    assert!(matches!(
        b.post(Some(two.as_bytes()), list),
        DemoReply::Status { status: 404, .. }
    ));
    for live in [&one, &three] {
        assert!(matches!(
            b.post(Some(live.as_bytes()), list),
            DemoReply::Json { .. }
        ));
    }
    let empty = TapeBackend {
        script: Box::new(Script::empty()),
        ..backend(1_000_000)
    };
    let reply = empty.post(None, br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#);
    assert!(
        matches!(
            reply,
            DemoReply::Json {
                session_id: None,
                ..
            }
        ),
        "{reply:?}"
    );
    assert!(empty.sessions.borrow().is_empty());
}

#[test]
fn a_tape_in_parts_plays_whole() {
    let dir = std::env::temp_dir().join(format!("shadowcat-tape-parts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("20261207T111800.000000Z-0011223344556677.tape.jsonl");
    let second = dir.join("20261207T111800.000000Z-0011223344556677.2.tape.jsonl");
    std::fs::write(&first, fixture::session(0)).unwrap();
    let part2 = format!(
        "{}\n{}\n{}\n",
        fixture::header("sha256:00112233445566778899aabbccddeeff", 0, 2),
        fixture::line(
            50_000,
            "c2s",
            r#"{"jsonrpc":"2.0","id":9,"method":"resources/list"}"#
        ),
        fixture::line(
            50_100,
            "s2c",
            r#"{"jsonrpc":"2.0","id":9,"result":{"resources":[]}}"#
        )
    );
    std::fs::write(&second, part2).unwrap();
    let b = TapeBackend::new(&ReplaySource {
        tape: first,
        speed_millionths: 1_000_000,
    });
    let _ = std::fs::remove_dir_all(&dir);
    let one = session(&b);
    let answer = json(&b.post(
        Some(one.as_bytes()),
        br#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#,
    ));
    assert_eq!(answer["result"]["resources"], serde_json::json!([]));
}
