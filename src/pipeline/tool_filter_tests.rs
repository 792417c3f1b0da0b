//! Unit tests of the `tool_filter` stage (request refusals, listing rewrites).

use super::*;
use crate::config::ToolFilter;

/// The route's lists as the stage sees them: the visibility question.
fn filter(allow: &[&str], deny: &[&str]) -> impl Fn(&str) -> bool {
    let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let tools = ToolFilter::build("r", &own(allow), &own(deny))
        .unwrap()
        .unwrap();
    move |name: &str| tools.visible(name)
}

fn names(message: &[u8]) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(message).unwrap();
    value["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

const LISTING: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}, {"name":"add","description":"a, b"},{"name":"secret_x"}],"nextCursor":"c1"}}"#;

#[test]
fn hidden_calls_are_refused_and_visible_ones_pass() {
    let f = filter(&["echo", "add*"], &[]);
    assert_eq!(
        check_call(&f, Method::ToolsCall, Some("secret"), false),
        Verdict::Refuse(Refusal::UnknownTool {
            name: "secret".into(),
            in_batch: false
        })
    );
    assert_eq!(
        check_call(&f, Method::ToolsCall, Some("add2"), false),
        Verdict::Continue
    );
    // Other methods and calls without a name are the upstream's to judge.
    assert_eq!(
        check_call(&f, Method::PromptsGet, Some("secret"), false),
        Verdict::Continue
    );
    assert_eq!(
        check_call(&f, Method::ToolsCall, None, false),
        Verdict::Continue
    );
}

#[test]
fn listing_loses_hidden_tools_and_keeps_every_other_byte() {
    let f = filter(&[], &["secret*"]);
    let out = hide_in_listing(&f, LISTING.as_bytes()).unwrap();
    assert_eq!(names(&out), ["echo", "add"]);
    let text = String::from_utf8(out).unwrap();
    // Kept tools are the upstream's bytes (spacing included); the rest of the message too.
    assert!(
        text.contains(r#"{"name":"echo","inputSchema":{"type":"object"}}, {"name":"add""#)
            || text.contains(r#"{"name":"echo","inputSchema":{"type":"object"}},{"name":"add""#),
        "{text}"
    );
    assert!(
        text.starts_with(r#"{"jsonrpc":"2.0","id":7,"result":{"tools":["#),
        "{text}"
    );
    assert!(text.ends_with(r#"],"nextCursor":"c1"}}"#), "{text}");
}

#[test]
fn nothing_hidden_or_not_a_listing_means_the_original_bytes() {
    let f = filter(&[], &["nope"]);
    assert_eq!(hide_in_listing(&f, LISTING.as_bytes()), None);
    let call =
        br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"\"tools\""}]}}"#;
    assert_eq!(hide_in_listing(&filter(&["x"], &[]), call), None);
    let error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"\"tools\""}}"#;
    assert_eq!(hide_in_listing(&filter(&["x"], &[]), error), None);
    assert_eq!(
        hide_in_listing(&filter(&["x"], &[]), b"not json \"tools\""),
        None
    );
}

#[test]
fn escaped_names_are_judged_by_their_value_and_allow_lists_can_empty_a_listing() {
    let listing =
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"\u0065cho"},{"name":"add"}]}}"#;
    let out = hide_in_listing(&filter(&["echo"], &[]), listing).unwrap();
    assert_eq!(names(&out), ["echo"]);
    let none = hide_in_listing(&filter(&["zzz"], &[]), listing).unwrap();
    assert!(names(&none).is_empty());
}

#[test]
fn an_escaped_member_name_is_still_a_listing() {
    let listing =
        br#"{"jsonrpc":"2.0","id":1,"result":{"t\u006fols":[{"name":"echo"},{"name":"add"}]}}"#;
    let out = hide_in_listing(&filter(&[], &["add"]), listing).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        value["result"]["tools"].as_array().unwrap().len(),
        1,
        "{value}"
    );
}

#[test]
fn listings_the_fast_parse_refuses_fail_closed() {
    let f = filter(&[], &["add"]);
    // Duplicate `tools`: clients take the last one, so does the filter.
    let twice = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"add"},{"name":"echo"}]}}"#;
    assert_eq!(names(&hide_in_listing(&f, twice).unwrap()), ["echo"]);
    // Invalid UTF-8 in a description.
    let mut latin1 =
        br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"add","description":"caf"#.to_vec();
    latin1.extend_from_slice(b"\xe9\"},{\"name\":\"echo\"}]}}");
    assert_eq!(names(&hide_in_listing(&f, &latin1).unwrap()), ["echo"]);
    // A tool without a readable name is not shown.
    let unnamed = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":7},{"name":"echo"}]}}"#;
    assert_eq!(names(&hide_in_listing(&f, unnamed).unwrap()), ["echo"]);
}

#[test]
fn batches_are_rewritten_element_by_element() {
    let batch = format!(r#"[{{"jsonrpc":"2.0","id":1,"result":{{}}}},{LISTING}]"#);
    let out = hide_in_listing(&filter(&["echo"], &[]), batch.as_bytes()).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value[0]["id"], 1);
    assert_eq!(value[1]["result"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(value[1]["result"]["nextCursor"], "c1");
}
