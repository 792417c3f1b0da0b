//! Unit tests of `RouteStages`' request side (what the transports call once per message).

use super::*;
use crate::mcp::Inspector;

fn stages(deny: &[&str]) -> RouteStages {
    let deny: Vec<String> = deny.iter().map(|s| (*s).to_owned()).collect();
    RouteStages {
        tools: ToolFilter::build("r", &[], &deny).unwrap().map(Rc::new),
    }
}

fn verdict(stages: &RouteStages, body: &str) -> Verdict {
    let inspected = Inspector::new().inspect(body.as_bytes()).unwrap();
    stages.request(&facts(inspected))
}

const CALL_ADD: &str = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"add"}}"#;

#[test]
fn a_hidden_call_is_refused_a_hidden_notification_dropped() {
    let s = stages(&["add"]);
    assert_eq!(
        verdict(&s, CALL_ADD),
        Verdict::Refuse(Refusal::UnknownTool {
            name: "add".into(),
            in_batch: false
        })
    );
    let notification = r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"add"}}"#;
    assert_eq!(verdict(&s, notification), Verdict::Drop);
    let echo = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo"}}"#;
    assert_eq!(verdict(&s, echo), Verdict::Continue);
}

#[test]
fn a_batch_calling_a_hidden_tool_is_refused_whole() {
    let s = stages(&["add"]);
    let batch = format!(r#"[{{"jsonrpc":"2.0","id":1,"method":"ping"}},{CALL_ADD}]"#);
    assert_eq!(
        verdict(&s, &batch),
        Verdict::Refuse(Refusal::UnknownTool {
            name: "add".into(),
            in_batch: true
        })
    );
}

#[test]
fn a_route_without_stages_lets_everything_through() {
    let none = RouteStages::default();
    assert!(none.is_empty());
    assert_eq!(verdict(&none, CALL_ADD), Verdict::Continue);
    assert_eq!(
        none.response(br#"{"result":{"tools":[{"name":"add"}]}}"#),
        None
    );
    assert!(!none.rewrites_answer(Method::ToolsList, &[]));
    assert!(stages(&["add"]).rewrites_answer(Method::ToolsList, &[]));
    assert!(!stages(&["add"]).rewrites_answer(Method::ToolsCall, &[]));
}
