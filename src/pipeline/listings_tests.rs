//! Unit tests of [`ListingWatch`]: only answers to pending `tools/list` requests are judged,
//! each id once; everything else keeps its bytes; the pending set is bounded and fails closed.

use super::*;
use crate::config::ToolFilter;
use crate::pipeline::intercept::{Outgoing, Sent};

fn watch(deny: &[&str]) -> ListingWatch {
    let deny: Vec<String> = deny.iter().map(|s| (*s).to_owned()).collect();
    let tools = ToolFilter::build("r", &[], &deny).unwrap();
    ListingWatch::new(RouteStages::with_tools(tools))
}

fn listing(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[{{"name":"echo"}},{{"name":"add"}}]}}}}"#
    )
}

/// Whether `message` is a listing of `echo` alone (`add` cut).
fn only_echo(message: &[u8]) -> bool {
    let value: serde_json::Value = serde_json::from_slice(message).unwrap();
    value["result"]["tools"] == serde_json::json!([{"name": "echo"}])
}

#[test]
fn only_the_answer_to_a_pending_listing_is_cut_and_only_once() {
    let w = watch(&["add"]);
    let one = JsonRpcId::Number(1);
    assert_eq!(w.expect(Method::ToolsList, Some(&one)), Some(one.clone()));
    // Another request's answer under another id, with a `tools` array: its own bytes.
    assert!(matches!(
        w.judge(listing("2").as_bytes()),
        Outgoing::Now(Sent::Original)
    ));
    // The string id "1" is not the number 1.
    assert!(matches!(
        w.judge(listing("\"1\"").as_bytes()),
        Outgoing::Now(Sent::Original)
    ));
    let cut = w
        .judge(listing("1").as_bytes())
        .into_changed()
        .expect("the listing is judged");
    assert!(only_echo(&cut));
    // Answered: a later answer reusing id 1 (say, a tools/call) keeps its bytes.
    assert!(matches!(
        w.judge(listing("1").as_bytes()),
        Outgoing::Now(Sent::Original)
    ));
}

#[test]
fn other_messages_pass_untouched_while_a_listing_is_pending() {
    let w = watch(&["add"]);
    w.expect(Method::ToolsList, Some(&JsonRpcId::Number(1)));
    let changed = br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;
    assert!(matches!(w.judge(changed), Outgoing::Now(Sent::Original)));
    let request = br#"{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"tools":[{"name":"add"}]}}"#;
    assert!(matches!(w.judge(request), Outgoing::Now(Sent::Original)));
    // Still pending: the listing that follows is cut.
    assert!(only_echo(
        &w.judge(listing("1").as_bytes()).into_changed().unwrap()
    ));
}

#[test]
fn an_error_answer_forgets_its_id() {
    let w = watch(&["add"]);
    w.expect(Method::ToolsList, Some(&JsonRpcId::Number(3)));
    let error = br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"boom"}}"#;
    assert!(matches!(w.judge(error), Outgoing::Now(Sent::Original)));
    assert!(matches!(
        w.judge(listing("3").as_bytes()),
        Outgoing::Now(Sent::Original)
    ));
}

#[test]
fn other_methods_notifications_and_unfiltered_routes_note_nothing() {
    let w = watch(&["add"]);
    assert_eq!(
        w.expect(Method::ToolsCall, Some(&JsonRpcId::Number(1))),
        None
    );
    assert_eq!(w.expect(Method::ToolsList, None), None);
    assert!(matches!(
        w.judge(listing("1").as_bytes()),
        Outgoing::Now(Sent::Original)
    ));
    let open = ListingWatch::new(RouteStages::default());
    assert_eq!(
        open.expect(Method::ToolsList, Some(&JsonRpcId::Number(1))),
        None
    );
    assert!(matches!(
        open.judge(listing("1").as_bytes()),
        Outgoing::Now(Sent::Original)
    ));
}

#[test]
fn a_request_that_never_went_out_is_forgotten() {
    let w = watch(&["add"]);
    let id = w
        .expect(Method::ToolsList, Some(&JsonRpcId::Number(4)))
        .unwrap();
    w.forget(&id);
    assert!(matches!(
        w.judge(listing("4").as_bytes()),
        Outgoing::Now(Sent::Original)
    ));
}

#[test]
fn too_many_pending_listings_judge_every_answer_from_then_on() {
    let w = watch(&["add"]);
    for n in 0..MAX_PENDING {
        let id = JsonRpcId::Number(i64::try_from(n).unwrap());
        assert!(w.expect(Method::ToolsList, Some(&id)).is_some());
    }
    let over = JsonRpcId::Number(-1);
    assert_eq!(w.expect(Method::ToolsList, Some(&over)), None);
    // Fails closed: any answer is judged, the untracked listing included, twice over.
    for _ in 0..2 {
        assert!(only_echo(
            &w.judge(listing("-1").as_bytes()).into_changed().unwrap()
        ));
        assert!(only_echo(
            &w.judge(listing("\"x\"").as_bytes()).into_changed().unwrap()
        ));
    }
    assert!(w.pending.borrow().is_empty(), "the ids are dropped");
}
