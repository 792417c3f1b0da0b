//! Unit tests of `RouteStages`: the ordered lists (what `config check` prints is what runs),
//! the phase runner over them, and the configured stages' request side (what the transports
//! call once per message).

use super::checks::test_head::head;
use super::*;
use crate::mcp::{Inspector, ProtocolVersion};
use crate::pipeline::intercept::{Outgoing, Sent};

fn stages(deny: &[&str]) -> RouteStages {
    let deny: Vec<String> = deny.iter().map(|s| (*s).to_owned()).collect();
    RouteStages {
        tools: ToolFilter::build("r", &[], &deny).unwrap().map(Rc::new),
        ..RouteStages::default()
    }
}

fn names(stages: &RouteStages, flow: Flow) -> Vec<&'static str> {
    stages.list(flow).map(Stage::name).collect()
}

/// Runs `phase` of `flow` on `head` (and `facts`), as the proxy does.
fn run(
    stages: &RouteStages,
    (flow, phase): (Flow, Phase),
    head: &crate::http::RequestHead,
    facts: Option<&Facts>,
    session: Option<Option<ProtocolVersion>>,
) -> Result<Found, Refusal> {
    let mut found = Found::default();
    let input = Input {
        head,
        facts,
        session,
    };
    stages.run(flow, phase, &input, &mut found).map(|()| found)
}

#[test]
fn every_list_is_in_phase_order() {
    for era in [RouteEra::Dual, RouteEra::Modern] {
        for flow in [Flow::Post, Flow::Bodyless] {
            let mut s = RouteStages::for_era(era);
            s.tools = stages(&["add"]).tools;
            let phases: Vec<Phase> = s.list(flow).map(Stage::phase).collect();
            assert!(phases.is_sorted(), "{era:?} {flow:?}: {phases:?}");
            assert_eq!(s.list(flow).next(), Some(Stage::HostOrigin));
        }
    }
}

#[test]
fn the_printed_lists_are_the_lists_that_run() {
    let plain = RouteStages::default();
    assert_eq!(
        names(&plain, Flow::Post),
        [
            "host_origin",
            "route",
            "method",
            "accept",
            "content_type",
            "body_limit",
            "inspect",
            "era",
            "protocol_version",
            "session",
            "batch",
            "session_limit"
        ]
    );
    assert_eq!(
        names(&plain, Flow::Bodyless),
        [
            "host_origin",
            "route",
            "method",
            "accept",
            "protocol_version",
            "session"
        ]
    );
    let filtered = stages(&["add"]);
    assert_eq!(names(&filtered, Flow::Post).last(), Some(&"tool_filter"));
    assert_eq!(
        names(&filtered, Flow::Bodyless).last(),
        Some(&"tool_filter")
    );
    // A modern-only route refuses GET/DELETE at `method`: nothing after it runs.
    let mut modern = RouteStages::for_era(RouteEra::Modern);
    modern.tools = filtered.tools.clone();
    assert_eq!(
        names(&modern, Flow::Bodyless),
        ["host_origin", "route", "method"]
    );
}

#[test]
fn a_post_head_phase_runs_accept_then_content_type() {
    let s = RouteStages::default();
    let both = ("Accept", "application/json, text/event-stream");
    let json = ("Content-Type", "application/json");
    let post = (Flow::Post, Phase::Head);
    assert_eq!(
        run(&s, post, &head("POST", &[both, json]), None, None),
        Ok(Found::default())
    );
    // Both wrong: `accept` comes first.
    assert_eq!(
        run(
            &s,
            post,
            &head("POST", &[("Content-Type", "text/plain")]),
            None,
            None
        ),
        Err(Refusal::NotAcceptable {
            needed: "application/json and text/event-stream"
        })
    );
    assert_eq!(
        run(&s, post, &head("POST", &[both]), None, None),
        Err(Refusal::UnsupportedMediaType)
    );
}

#[test]
fn a_bodyless_request_runs_accept_and_protocol_version() {
    let s = RouteStages::default();
    let sse = ("Accept", "text/event-stream");
    let head_phase = (Flow::Bodyless, Phase::Head);
    let facts_phase = (Flow::Bodyless, Phase::Facts);
    assert!(run(&s, head_phase, &head("GET", &[sse]), None, None).is_ok());
    assert_eq!(
        run(&s, head_phase, &head("GET", &[]), None, None),
        Err(Refusal::NotAcceptable {
            needed: "text/event-stream"
        })
    );
    // No content type is asked of a GET, and a DELETE accepts anything.
    assert!(run(&s, head_phase, &head("DELETE", &[]), None, None).is_ok());
    let v = ("MCP-Protocol-Version", "2025-06-18");
    assert_eq!(
        run(&s, facts_phase, &head("DELETE", &[v]), None, None),
        Ok(Found {
            modern: false,
            version: Some(ProtocolVersion::V2025_06_18)
        })
    );
    let bad = ("MCP-Protocol-Version", "2024-13-01");
    assert_eq!(
        run(&s, facts_phase, &head("GET", &[sse, bad]), None, None),
        Err(Refusal::BadProtocolVersion)
    );
}

#[test]
fn the_session_phase_holds_batches_to_the_session_version() {
    let s = RouteStages::default();
    let batch = facts(
        Inspector::new()
            .inspect(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
            .unwrap(),
    );
    let phase = (Flow::Post, Phase::Session);
    let h = head("POST", &[]);
    assert_eq!(
        run(&s, phase, &h, Some(&batch), None),
        Err(Refusal::BatchNotAllowed)
    );
    assert!(run(
        &s,
        phase,
        &h,
        Some(&batch),
        Some(Some(ProtocolVersion::V2025_03_26))
    )
    .is_ok());
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
    assert!(matches!(
        none.response(br#"{"result":{"tools":[{"name":"add"}]}}"#),
        Outgoing::Now(Sent::Original)
    ));
    assert!(!none.rewrites_answer(Method::ToolsList, &[]));
    assert!(stages(&["add"]).rewrites_answer(Method::ToolsList, &[]));
    assert!(!stages(&["add"]).rewrites_answer(Method::ToolsCall, &[]));
}

/// The response side judges only answers to `tools/list`: a transport runs it when
/// `rewrites_answer` says the request (or an element of its batch) is one, and on a message that
/// is no listing it gives back nothing, so the original bytes go on.
#[test]
fn an_answer_to_another_request_passes_byte_for_byte() {
    let s = stages(&["secret"]);
    let call = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo"}}"#;
    let call = facts(Inspector::new().inspect(call.as_bytes()).unwrap());
    assert!(!s.rewrites_answer(call.method, &call.elements));
    let batch = format!(r#"[{CALL_ADD},{{"jsonrpc":"2.0","id":5,"method":"ping"}}]"#);
    let batch = facts(Inspector::new().inspect(batch.as_bytes()).unwrap());
    assert!(!s.rewrites_answer(batch.method, &batch.elements));

    // Its result carries `tools` arrays naming the hidden tool, in its content and its
    // structured content: not a listing, so not judged even where the side runs.
    let result = br#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"{\"tools\":[{\"name\":\"secret\"}]}"}],"structuredContent":{"tools":[{"name":"secret"},{"name":"echo"}]}}}"#;
    assert!(matches!(s.response(result), Outgoing::Now(Sent::Original)));
    assert!(matches!(
        s.response(&[b"[", &result[..], b"]"].concat()),
        Outgoing::Now(Sent::Original)
    ));

    // The same tools in a `tools/list` answer are cut: the stage is live on this route.
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;
    let list = facts(Inspector::new().inspect(list.as_bytes()).unwrap());
    assert!(s.rewrites_answer(list.method, &list.elements));
    let listing =
        br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"secret"},{"name":"echo"}]}}"#;
    let cut = s
        .response(listing)
        .into_changed()
        .expect("a listing loses its hidden tool");
    assert_eq!(
        cut,
        br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"echo"}]}}"#
    );
}

/// A listing answer naming the hidden tool `secret` under `id` (a JSON value's text).
fn listing(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[{{"name":"secret"}},{{"name":"echo"}}]}}}}"#
    )
}

/// In a batch's answer only the elements answering its `tools/list` requests are judged
/// (matched by id, string and number ids apart); a `tools/call` answer whose top-level
/// `result.tools` names the hidden tool keeps its bytes, and so does a server request.
#[test]
fn a_batch_answer_is_judged_only_where_it_answers_tools_list() {
    let s = stages(&["secret"]);
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":"1","method":"tools/call","params":{"name":"echo"}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}]"#;
    let batch = facts(Inspector::new().inspect(batch.as_bytes()).unwrap());
    let judge = s
        .for_answer(batch.method, &batch.elements)
        .expect("the batch holds a tools/list");
    assert_eq!(judge.listing_ids(&batch.elements), [JsonRpcId::Number(1)]);

    let server_request = r#"{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"tools":[{"name":"secret"}]},"result":{"tools":[{"name":"secret"}]}}"#;
    let answer = format!(
        "[{}, {},{},{server_request}]",
        listing("\"1\""),
        listing("1"),
        listing("2")
    );
    let cut = judge
        .response(answer.as_bytes())
        .into_changed()
        .expect("id 1 is a listing");
    let expected = format!(
        r#"[{},{{"jsonrpc":"2.0","id":1,"result":{{"tools":[{{"name":"echo"}}]}}}},{},{server_request}]"#,
        listing("\"1\""),
        listing("2")
    );
    assert_eq!(String::from_utf8(cut).unwrap(), expected);

    // Without a tools/list element in the answer, the bytes go on.
    let others = format!("[{},{}]", listing("\"1\""), listing("2"));
    assert!(matches!(
        judge.response(others.as_bytes()),
        Outgoing::Now(Sent::Original)
    ));

    // No tools/list in the batch, or a single request of another method: nothing to judge.
    let call = format!(r#"[{CALL_ADD}]"#);
    let call = facts(Inspector::new().inspect(call.as_bytes()).unwrap());
    assert!(s.for_answer(call.method, &call.elements).is_none());
    assert!(s.for_answer(Method::ToolsCall, &[]).is_none());
    assert!(RouteStages::default()
        .for_answer(Method::ToolsList, &[])
        .is_none());
    // A single tools/list: its answer is judged whole, whatever its id.
    let single = s.for_answer(Method::ToolsList, &[]).unwrap();
    assert!(single
        .response(listing("\"x\"").as_bytes())
        .into_changed()
        .is_some());
}

/// Forward mode's form: every answer with a readable id is shown to the judge (so pending ids
/// are forgotten even when the answer is no listing); requests and notifications are not.
#[test]
fn response_to_asks_about_every_answer_and_cuts_the_accepted_ones() {
    let s = stages(&["secret"]);
    let error = r#"{"jsonrpc":"2.0","id":"e","error":{"code":-1,"message":"no"}}"#;
    let note =
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1}}"#;
    let message = format!("[{},{error},{note},{}]", listing("7"), listing("8"));
    let mut asked = Vec::new();
    let cut = s
        .response_to(message.as_bytes(), &mut |id| {
            asked.push(id.clone());
            *id == JsonRpcId::Number(8)
        })
        .expect("id 8 is accepted");
    assert_eq!(
        asked,
        [
            JsonRpcId::Number(7),
            JsonRpcId::from("e"),
            JsonRpcId::Number(8)
        ]
    );
    let expected = format!(
        r#"[{},{error},{note},{{"jsonrpc":"2.0","id":8,"result":{{"tools":[{{"name":"echo"}}]}}}}]"#,
        listing("7")
    );
    assert_eq!(String::from_utf8(cut).unwrap(), expected);
    // Duplicate keys: the id clients read (the last one) is the one judged.
    let twice = r#"{"jsonrpc":"2.0","id":1,"id":2,"result":{"tools":[{"name":"secret"}]}}"#;
    let mut seen = None;
    assert!(s
        .response_to(twice.as_bytes(), &mut |id| {
            seen = Some(id.clone());
            true
        })
        .is_some());
    assert_eq!(seen, Some(JsonRpcId::Number(2)));
    assert_eq!(
        RouteStages::default().response_to(listing("1").as_bytes(), &mut |_| true),
        None
    );
}

#[test]
fn config_check_prints_each_routes_lists() {
    let config = crate::config::from_toml_str(
        r#"
[upstreams.tools]
url = "http://127.0.0.1:9000/mcp"

[listeners.main]
bind = "127.0.0.1:8080"

[[listeners.main.routes]]
path = "/mcp"
upstream = "tools"
deny_tools = ["add"]

[[listeners.main.routes]]
path = "/modern"
upstream = "tools"
era = "modern"
"#,
        "test",
    )
    .unwrap();
    let text = describe(&config);
    let route = RouteStages::build(&config.listeners[0].routes[0]);
    let post: Vec<_> = route.list(Flow::Post).map(Stage::name).collect();
    assert!(
        text.contains(&format!(
            "#   main POST /mcp -> tools: {}, upstream:http",
            post.join(", ")
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "#   main GET/DELETE /mcp -> tools: host_origin, route, method, accept, \
             protocol_version, session, tool_filter, upstream:http"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "#   main GET/DELETE /modern -> tools: host_origin, route, method (405: POST only)\n"
        ),
        "{text}"
    );
}

#[test]
fn config_check_lists_intercept_before_the_adapter_when_rules_exist() {
    let text = |rules: &str| {
        let config = crate::config::from_toml_str(
            &format!("[upstreams.up]\nurl = \"http://127.0.0.1:9000/mcp\"\n{rules}"),
            "test",
        )
        .unwrap();
        describe(&config)
    };
    let with = text("[[intercept.rules]]\ntool = \"x\"\naction = \"block\"\n");
    assert!(
        with.contains("session_limit, intercept, upstream:http"),
        "{with}"
    );
    assert!(with.contains("GET/DELETE /mcp -> up: host_origin, route, method, accept, protocol_version, session, upstream:http ("), "{with}");
    assert!(!text("").contains("intercept"));
}
