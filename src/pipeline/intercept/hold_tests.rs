//! Response-side holds: which messages a `delay` or `pause` rule holds, and what each
//! decision makes of the held message.

use std::rc::Rc;

use serde_json::{json, Value};

use super::*;
use crate::config::intercept::{Action, RawIntercept};

fn scope(rules: &str) -> Rc<AnswerScope> {
    let raw: RawIntercept = toml::from_str(rules).unwrap();
    let rules = Rc::new(InterceptRules::compile(&raw.rules).unwrap());
    let seen = Seen {
        way: Direction::Response,
        method: Some("tools/call"),
        tool: Some("echo"),
        principal: "alice",
        session: Some("abc123"),
        route: "/mcp",
    };
    AnswerScope::new(&rules, &seen).unwrap()
}

const RULES: &str = r#"
    [[rules]]
    direction = "response"
    method = "notifications/progress"
    action = "pause"
    timeout = "5s"
    [[rules]]
    direction = "both"
    tool = "echo"
    action = "delay"
    delay = "50ms"
"#;

const ANSWER: &[u8] = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#;
const PROGRESS: &[u8] =
    br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#;

fn held(scope: &Rc<AnswerScope>, message: &[u8]) -> AnswerHold {
    match scope.judge(message) {
        Outgoing::Hold(hold) => hold,
        Outgoing::Now(sent) => panic!("not held: {sent:?}"),
    }
}

fn json_of(sent: &Sent) -> Value {
    serde_json::from_slice(sent.changed().unwrap()).unwrap()
}

#[test]
fn delay_and_pause_hold_the_message_they_select() {
    let scope = scope(RULES);
    let progress = held(&scope, PROGRESS);
    assert!(matches!(
        progress.rule().unwrap().action,
        Action::Pause { .. }
    ));
    assert_eq!(progress.scope().tool(), Some("echo"));
    let answer = held(&scope, ANSWER);
    assert!(matches!(answer.rule().unwrap().action, Action::Delay(_)));
    // Another notification passes: the delay rule names a tool, which only answers have.
    let log = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#;
    assert!(matches!(scope.judge(log), Outgoing::Now(Sent::Original)));
}

#[test]
fn decisions_resume_modify_or_block_a_held_answer() {
    let scope = scope(RULES);
    let resumed = held(&scope, ANSWER).decide(&Action::Continue, ANSWER);
    assert_eq!(resumed, Sent::Original);
    assert_eq!(resumed.bytes(ANSWER), Some(ANSWER));
    assert_eq!(resumed.forwarded(), None);
    let patch = Action::Modify(json!({"isError": true}));
    let modified = held(&scope, ANSWER).decide(&patch, ANSWER);
    assert_eq!(
        json_of(&modified)["result"],
        json!({"content": [], "isError": true})
    );
    let block = Action::Block {
        code: -32042,
        message: "no".into(),
    };
    let blocked = held(&scope, ANSWER).decide(&block, ANSWER);
    let error = json_of(&blocked);
    assert_eq!(error["id"], 7);
    assert_eq!(error["error"]["code"], -32042);
    assert_eq!(error["error"]["message"], "no");
}

#[test]
fn a_blocked_notification_is_dropped_and_a_modified_one_patched() {
    let scope = scope(RULES);
    let block = Action::Block {
        code: -1,
        message: "x".into(),
    };
    let dropped = held(&scope, PROGRESS).decide(&block, PROGRESS);
    assert_eq!(dropped, Sent::Dropped);
    assert_eq!(dropped.bytes(PROGRESS), None);
    assert_eq!(dropped.forwarded(), Some(None));
    let patch = Action::Modify(json!({"message": "seen"}));
    let modified = held(&scope, PROGRESS).decide(&patch, PROGRESS);
    assert_eq!(
        json_of(&modified)["params"],
        json!({"progress": 1, "message": "seen"})
    );
}

/// A message an earlier stage changed (the tool filter) is held as changed: resuming sends
/// the changed bytes, and a decision applies to them.
#[test]
fn a_hold_over_a_changed_message_keeps_the_change() {
    let scope = scope(RULES);
    let filtered = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"cut":true}}"#.to_vec();
    let Outgoing::Hold(hold) = scope.judge(&filtered).over(Some(filtered.clone())) else {
        panic!("not held");
    };
    assert_eq!(hold.message(ANSWER), &filtered[..]);
    assert_eq!(
        hold.decide(&Action::Continue, ANSWER),
        Sent::Changed(filtered.clone())
    );
    let Outgoing::Hold(hold) = scope.judge(&filtered).over(Some(filtered.clone())) else {
        panic!("not held");
    };
    let patch = Action::Modify(json!({"more": 1}));
    let modified = hold.decide(&patch, ANSWER);
    assert_eq!(json_of(&modified)["result"]["cut"], true);
    assert_eq!(json_of(&modified)["result"]["more"], 1);
    // Decided at once, an unchanged outcome over a change is the change.
    assert_eq!(
        Outgoing::PASS.over(Some(filtered.clone())).into_changed(),
        Some(filtered)
    );
}
