//! The MRTR state machine: classification, capability checks, minted requests, answers.

use serde_json::value::RawValue;

use super::*;

fn caps(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

const INPUT_REQUIRED: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"answer":{"method":"sampling/createMessage","params":{"maxTokens":5,"messages":[]}},"roots":{"method":"roots/list"}},"requestState":"st-1"}}"#;

fn input() -> InputRequired {
    match classify(INPUT_REQUIRED).expect("parsed") {
        Final::InputRequired(input) => input,
        Final::Done => panic!("not input_required"),
    }
}

#[test]
fn complete_results_and_errors_are_done() {
    assert!(matches!(
        classify(br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#),
        Ok(Final::Done)
    ));
    assert!(matches!(
        classify(br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}}"#),
        Ok(Final::Done)
    ));
    assert!(matches!(
        classify(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}"#),
        Ok(Final::Done)
    ));
    assert!(classify(
        br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":3}}"#
    )
    .is_err());
}

#[test]
fn a_round_sends_minted_requests_and_collects_answers() {
    let input = input();
    assert_eq!(input.state.as_deref().map(RawValue::get), Some(r#""st-1""#));
    let mut rounds = Rounds::default();
    let mut n = 0;
    let out = rounds
        .start(
            input,
            &caps(r#"{"sampling":{},"roots":{"listChanged":true}}"#),
            || {
                n += 1;
                format!("m-{n}")
            },
        )
        .expect("started");
    assert_eq!(rounds.round(), 1);
    assert_eq!(out.len(), 2);
    // Keys in order: "answer" then "roots".
    assert_eq!(out[0].id, JsonRpcId::from("m-1"));
    let first: serde_json::Value = serde_json::from_slice(&out[0].message).expect("json");
    assert_eq!(
        first,
        serde_json::json!({"jsonrpc":"2.0","id":"m-1","method":"sampling/createMessage","params":{"maxTokens":5,"messages":[]}})
    );
    let second: serde_json::Value = serde_json::from_slice(&out[1].message).expect("json");
    assert_eq!(
        second,
        serde_json::json!({"jsonrpc":"2.0","id":"m-2","method":"roots/list"})
    );
    // Unknown ids are ignored; the round is complete once both are answered.
    assert_eq!(rounds.answer(&JsonRpcId::from("zzz"), b"{}"), Ok(false));
    assert_eq!(
        rounds.answer(
            &JsonRpcId::from("m-2"),
            br#"{"jsonrpc":"2.0","id":"m-2","result":{"roots":[]}}"#
        ),
        Ok(false)
    );
    assert_eq!(
        rounds.answer(
            &JsonRpcId::from("m-1"),
            br#"{"jsonrpc":"2.0","id":"m-1","result":{"model":"x"}}"#
        ),
        Ok(true)
    );
    let answers: Vec<(&str, &str)> = rounds
        .answers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.get()))
        .collect();
    assert_eq!(
        answers,
        vec![("roots", r#"{"roots":[]}"#), ("answer", r#"{"model":"x"}"#)]
    );
    assert_eq!(rounds.state().map(RawValue::get), Some(r#""st-1""#));
}

#[test]
fn undeclared_capabilities_stop_before_anything_is_sent() {
    let mut rounds = Rounds::default();
    let stop = rounds
        .start(input(), &caps(r#"{"sampling":{}}"#), || "x".into())
        .expect_err("roots missing");
    assert_eq!(
        stop,
        Stop::Undeclared {
            method: "roots/list".into(),
            capability: Some("roots")
        }
    );
    let mut rounds = Rounds::default();
    let ping = InputRequired {
        requests: vec![(
            "p".into(),
            InputRequest {
                method: "ping".into(),
                params: None,
            },
        )],
        state: None,
    };
    assert_eq!(
        rounds
            .start(ping, &caps(r#"{"sampling":{}}"#), || "x".into())
            .expect_err("not allowed"),
        Stop::Undeclared {
            method: "ping".into(),
            capability: None
        }
    );
    assert!(!declared(&caps(r#"{"sampling":null}"#), "sampling"));
}

#[test]
fn client_errors_and_empty_rounds_stop() {
    let mut rounds = Rounds::default();
    rounds
        .start(input(), &caps(r#"{"sampling":{},"roots":{}}"#), || {
            "m".into()
        })
        .expect("started");
    let stop = rounds.answer(
        &JsonRpcId::from("m"),
        br#"{"jsonrpc":"2.0","id":"m","error":{"code":-1,"message":"no"}}"#,
    );
    assert!(matches!(stop, Err(Stop::ClientError(_))));
    let mut rounds = Rounds::default();
    let empty = InputRequired {
        requests: Vec::new(),
        state: None,
    };
    assert_eq!(
        rounds
            .start(empty, &caps("{}"), || "m".into())
            .expect_err("empty"),
        Stop::Empty
    );
}

#[test]
fn rounds_are_bounded() {
    let mut rounds = Rounds::default();
    for _ in 0..MAX_ROUNDS {
        let state_only = InputRequired {
            requests: Vec::new(),
            state: Some(caps(r#""s""#)),
        };
        assert!(rounds
            .start(state_only, &caps("{}"), || "m".into())
            .expect("round")
            .is_empty());
    }
    let state_only = InputRequired {
        requests: Vec::new(),
        state: Some(caps(r#""s""#)),
    };
    assert_eq!(
        rounds
            .start(state_only, &caps("{}"), || "m".into())
            .expect_err("bounded"),
        Stop::TooManyRounds
    );
}
