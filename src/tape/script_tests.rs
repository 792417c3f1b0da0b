//! Tests of the replay script: matching, ids, progress tokens, the closest request, and tapes
//! whose content is hostile (non-object answers, huge tapes).

use std::path::Path;

use serde_json::json;

use super::*;
use crate::tape::fixture;

fn script() -> Script {
    Script::new(&Tape::parse(Path::new("t"), fixture::session(0).as_bytes()).unwrap())
}

#[test]
fn a_matching_request_gets_the_recorded_answer_with_its_own_id() {
    let s = script();
    let mut cursor = Cursor::default();
    let request = json!({"jsonrpc":"2.0","id":"abc","method":"tools/call",
        "params":{"arguments":{"steps":1},"name":"slow","_meta":{"progressToken":"tok"}}});
    let Reply::Recorded { notes, answer } = s.reply(&mut cursor, &request) else {
        panic!("no match");
    };
    assert_eq!(answer.1["id"], "abc");
    assert_eq!(answer.1["result"]["content"][0]["text"], "done");
    assert_eq!(answer.0, 3000);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].0, 1000);
    assert_eq!(notes[0].1["params"]["progressToken"], "tok");
}

#[test]
fn initialize_matches_by_method_and_repeats_answer_again() {
    let s = script();
    let mut cursor = Cursor::default();
    let init = json!({"jsonrpc":"2.0","id":7,"method":"initialize","params":{"clientInfo":{"name":"other"}}});
    for _ in 0..2 {
        let Reply::Recorded { answer, .. } = s.reply(&mut cursor, &init) else {
            panic!("no match");
        };
        assert_eq!(answer.1["result"]["serverInfo"]["name"], "shadowcat-demo");
        assert_eq!(answer.1["id"], 7);
    }
    assert!(s.initialize_result().is_some());
}

#[test]
fn an_unmatched_request_names_the_closest_recorded_one() {
    let s = script();
    let mut cursor = Cursor::default();
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"steps":2}}});
    let Reply::NoMatch(error) = s.reply(&mut cursor, &call) else {
        panic!("matched");
    };
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "closest recorded: tools/call {\"arguments\":{\"steps\":1},\"name\":\"slow\"}"
        ),
        "{message}"
    );
    assert_eq!(error["error"]["code"], NO_MATCH);
    let other = json!({"jsonrpc":"2.0","id":1,"method":"tools/lst"});
    let Reply::NoMatch(error) = s.reply(&mut cursor, &other) else {
        panic!("matched");
    };
    assert_eq!(error["error"]["data"]["closest"]["method"], "tools/list");
}

#[test]
fn canonical_sorts_keys_at_every_depth() {
    let value = json!({"b":1,"a":{"d":[{"z":1,"y":2}],"c":null}});
    assert_eq!(
        canonical(&value).to_string(),
        r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#
    );
}

#[test]
fn answers_play_as_the_client_got_them() {
    let changed = r#"{"t_us":20,"dir":"s2c","msg":{"jsonrpc":"2.0","id":7,"result":{"v":"server"}},"forwarded":{"jsonrpc":"2.0","id":7,"result":{"v":"rule"}}}"#;
    let text = format!(
        "{}\n{}\n{changed}\n",
        fixture::header("sha256:00", 0, 1),
        fixture::line(10, "c2s", r#"{"jsonrpc":"2.0","id":7,"method":"x"}"#)
    );
    let tape = Tape::parse(Path::new("t"), text.as_bytes()).unwrap();
    assert_eq!(tape.entries[1].msg["result"]["v"], "server");
    let Reply::Recorded { answer, .. } =
        Script::new(&tape).reply(&mut Cursor::default(), &json!({"id":1,"method":"x"}))
    else {
        panic!("no match");
    };
    assert_eq!(answer.1["result"]["v"], "rule");
}

#[test]
fn hostile_forwarded_values_never_panic() {
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n",
        fixture::header("sha256:00", 0, 1),
        fixture::line(10, "c2s", r#"{"jsonrpc":"2.0","id":7,"method":"x"}"#),
        r#"{"t_us":20,"dir":"s2c","msg":{"jsonrpc":"2.0","id":7,"result":{}},"forwarded":5}"#,
        fixture::line(
            30,
            "c2s",
            r#"{"jsonrpc":"2.0","id":8,"method":"y","params":{"_meta":{"progressToken":1}}}"#
        ),
        r#"{"t_us":40,"dir":"s2c","msg":{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1}},"forwarded":{"jsonrpc":"2.0","method":"notifications/progress","params":[1]}}"#,
        fixture::line(50, "s2c", r#"{"jsonrpc":"2.0","id":8,"result":{}}"#),
    );
    let tape = Tape::parse(Path::new("t"), text.as_bytes()).unwrap();
    let script = Script::new(&tape);
    let mut cursor = Cursor::default();
    // The non-object answer is left out: the request matches nothing.
    assert!(matches!(
        script.reply(&mut cursor, &json!({"id":1,"method":"x"})),
        Reply::NoMatch(_)
    ));
    let request = json!({"id":2,"method":"y","params":{"_meta":{"progressToken":"t"}}});
    let Reply::Recorded { notes, answer } = script.reply(&mut cursor, &request) else {
        panic!("no match");
    };
    assert!(
        notes.is_empty(),
        "a progress note without object params is not sent"
    );
    assert_eq!(answer.1["id"], 2);
}

#[test]
fn an_unmatched_request_costs_little_on_a_big_tape() {
    let mut text = format!("{}\n", fixture::header("sha256:00", 0, 1));
    let long = "x".repeat(600);
    for i in 0..3000 {
        let request = json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":format!("{long}{i}")}});
        text.push_str(&fixture::line(i * 10, "c2s", &request.to_string()));
        text.push('\n');
        let answer = json!({"jsonrpc":"2.0","id":i,"result":{}});
        text.push_str(&fixture::line(i * 10 + 5, "s2c", &answer.to_string()));
        text.push('\n');
    }
    let tape = Tape::parse(Path::new("t"), text.as_bytes()).unwrap();
    let script = Script::new(&tape);
    let mut cursor = Cursor::default();
    let started = std::time::Instant::now();
    for i in 0..20 {
        let miss = json!({"id":i,"method":"tools/call","params":{"name":format!("y{long}")}});
        assert!(matches!(
            script.reply(&mut cursor, &miss),
            Reply::NoMatch(_)
        ));
    }
    let hit = json!({"id":1,"method":"tools/call","params":{"name":format!("{long}2999")}});
    assert!(matches!(
        script.reply(&mut cursor, &hit),
        Reply::Recorded { .. }
    ));
    // Before: 3000 edit distances of 512x512 characters per miss (minutes in a debug build).
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
