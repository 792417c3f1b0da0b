use std::rc::Rc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::config::intercept::{RawIntercept, RawRule};
use crate::mcp::Inspector;
use crate::pipeline::facts;

fn compile(toml_text: &str) -> InterceptRules {
    let raw: RawIntercept = toml::from_str(toml_text).unwrap();
    InterceptRules::compile(&raw.rules).unwrap()
}

fn base() -> Seen<'static> {
    Seen {
        way: Direction::Request,
        method: None,
        tool: None,
        principal: "alice",
        session: Some("abc123"),
        route: "/mcp",
    }
}

fn judge<'r>(rules: &'r InterceptRules, body: &str) -> RequestStep<'r> {
    let facts = facts(Inspector::new().inspect(body.as_bytes()).unwrap());
    judge_request(rules, base(), &facts, body.as_bytes())
}

fn call(id: u32, tool: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
    .to_string()
}

fn answer_json(step: RequestStep<'_>) -> Value {
    match step {
        RequestStep::Answer(bytes) => serde_json::from_slice(&bytes).unwrap(),
        other => panic!("not an answer: {other:?}"),
    }
}

/// The changed message a step forwards at once.
fn forwarded(step: RequestStep<'_>) -> Value {
    match step {
        RequestStep::Forward {
            body: Some(body),
            delay: None,
        } => serde_json::from_slice(&body).unwrap(),
        other => panic!("not a changed message: {other:?}"),
    }
}

const RULES: &str = r#"
[[rules]]
tool = "delete_*"
action = "block"
code = -32001
message = "no deletes"
[[rules]]
tool = "echo"
when = [{ pointer = "/params/arguments/message", equals = "mock" }]
action = "mock"
result = { content = [{ type = "text", text = "mocked" }] }
[[rules]]
tool = "echo"
when = [{ pointer = "/params/arguments/message", regex = "^up" }]
action = "modify"
patch = { arguments = { message = "UP", extra = 1 } }
[[rules]]
tool = "echo"
action = "continue"
[[rules]]
method = "tools/*"
action = "delay"
delay = "5ms"
[[rules]]
method = "ping"
principal = "bob"
action = "block"
[[rules]]
method = "ping"
session = "sha256:*"
action = "pause"
"#;

#[test]
fn first_match_wins_and_acts() {
    let rules = compile(RULES);
    let blocked = answer_json(judge(&rules, &call(1, "delete_all", json!({}))));
    assert_eq!(
        blocked,
        json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32001, "message": "no deletes"}})
    );
    let mocked = answer_json(judge(&rules, &call(2, "echo", json!({"message": "mock"}))));
    assert_eq!(mocked["result"]["content"][0]["text"], "mocked");
    assert_eq!(mocked["id"], 2);
    let body = forwarded(judge(
        &rules,
        &call(3, "echo", json!({"message": "up we go"})),
    ));
    assert_eq!(
        body["params"]["arguments"],
        json!({"message": "UP", "extra": 1})
    );
    assert_eq!(body["params"]["name"], "echo");
    // `continue` stops the search: the delay rule after it is not reached.
    assert!(matches!(
        judge(&rules, &call(4, "echo", json!({"message": "x"}))),
        RequestStep::Forward {
            body: None,
            delay: None
        }
    ));
    assert!(matches!(
        judge(&rules, &call(5, "add", json!({}))),
        RequestStep::Forward {
            body: None,
            delay: Some(d)
        } if d == Duration::from_millis(5)
    ));
}

#[test]
fn principal_session_and_route_globs() {
    let rules = compile(RULES);
    let ping = r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#;
    // alice is not bob; the session glob matches the id's hash.
    assert!(matches!(judge(&rules, ping), RequestStep::Pause(rule) if &*rule.name == "#6"));
    let facts = facts(Inspector::new().inspect(ping.as_bytes()).unwrap());
    let bob = Seen {
        principal: "bob",
        ..base()
    };
    assert!(matches!(
        judge_request(&rules, bob, &facts, ping.as_bytes()),
        RequestStep::Answer(_)
    ));
    let no_session = Seen {
        session: None,
        ..base()
    };
    assert!(matches!(
        judge_request(&rules, no_session, &facts, ping.as_bytes()),
        RequestStep::Forward { body: None, .. }
    ));
    let routed = compile("[[rules]]\nroute = \"/other\"\naction = \"block\"\n");
    assert!(matches!(
        judge(&routed, ping),
        RequestStep::Forward { body: None, .. }
    ));
}

#[test]
fn session_hash_globs_match_the_audit_spelling() {
    let hash = crate::audit::session_hash("abc123");
    let exact = format!("[[rules]]\nsession = \"{hash}\"\naction = \"block\"\n");
    let rules = compile(&exact);
    assert!(matches!(
        judge(&rules, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
        RequestStep::Answer(_)
    ));
    let other = compile("[[rules]]\nsession = \"sha256:0000*\"\naction = \"block\"\n");
    assert!(
        matches!(
            judge(&other, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            RequestStep::Forward { body: None, .. }
        ) || hash.starts_with("sha256:0000")
    );
}

#[test]
fn notifications_blocked_or_mocked_are_dropped() {
    let rules = compile("[[rules]]\nmethod = \"notifications/*\"\naction = \"block\"\n");
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert!(matches!(judge(&rules, note), RequestStep::Drop));
}

#[test]
fn batches_are_judged_per_element() {
    let rules = compile(RULES);
    let batch = format!(
        "[{},{}]",
        call(1, "echo", json!({"message": "up"})),
        call(2, "add", json!({}))
    );
    match judge(&rules, &batch) {
        RequestStep::Forward {
            body: Some(body),
            delay,
        } => {
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body[0]["params"]["arguments"]["message"], "UP");
            assert_eq!(body[1]["params"]["name"], "add");
            assert_eq!(delay, Some(Duration::from_millis(5)));
        }
        other => panic!("{other:?}"),
    }
    let blocked = format!(
        "[{},{}]",
        call(1, "echo", json!({"message": "x"})),
        call(2, "delete_me", json!({}))
    );
    let answer = answer_json(judge(&rules, &blocked));
    assert_eq!(answer.as_array().unwrap().len(), 2);
    assert_eq!(answer[1]["error"]["code"], -32001);
}

#[test]
fn no_rule_for_requests_forwards_untouched() {
    let rules = compile("[[rules]]\ndirection = \"response\"\naction = \"block\"\n");
    assert!(matches!(
        judge(&rules, &call(1, "echo", json!({}))),
        RequestStep::Forward {
            body: None,
            delay: None
        }
    ));
}

#[test]
fn merge_patch_follows_rfc_7396() {
    // RFC 7396 appendix A, a selection.
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!({"a": "b"}), json!({"a": "b"})),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
    ];
    for (mut target, patch, wanted) in cases {
        merge_patch(&mut target, &patch);
        assert_eq!(target, wanted, "patch {patch}");
    }
}

fn scope(rules: &str, method: &str, tool: Option<&str>) -> Rc<AnswerScope> {
    let rules = Rc::new(compile(rules));
    let seen = Seen {
        way: Direction::Response,
        method: Some(method),
        tool,
        ..base()
    };
    AnswerScope::new(&rules, &seen).unwrap()
}

#[test]
fn answers_are_judged_by_their_request() {
    let rules = r#"
    [[rules]]
    direction = "response"
    tool = "echo"
    action = "modify"
    patch = { isError = true }
    [[rules]]
    direction = "response"
    tool = "add"
    action = "block"
    code = -32099
    [[rules]]
    direction = "both"
    method = "notifications/progress"
    action = "modify"
    patch = { message = "seen" }
    "#;
    let echo = scope(rules, "tools/call", Some("echo"));
    let answer = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#;
    let changed: Value =
        serde_json::from_slice(&echo.judge(answer).into_changed().unwrap()).unwrap();
    assert_eq!(changed["result"], json!({"content": [], "isError": true}));
    let progress =
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#;
    let changed: Value =
        serde_json::from_slice(&echo.judge(progress).into_changed().unwrap()).unwrap();
    assert_eq!(changed["params"], json!({"progress": 1, "message": "seen"}));
    let add = scope(rules, "tools/call", Some("add"));
    let blocked: Value =
        serde_json::from_slice(&add.judge(answer).into_changed().unwrap()).unwrap();
    assert_eq!(blocked["error"]["code"], -32099);
    assert_eq!(blocked["id"], 7);
    // A notification is never replaced by block: it keeps its bytes.
    let other = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#;
    assert!(matches!(add.judge(other), Outgoing::Now(Sent::Original)));
    // A batch of answers is not judged.
    assert!(matches!(
        add.judge(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}]"),
        Outgoing::Now(Sent::Original)
    ));
}

#[test]
fn no_response_rule_means_no_scope() {
    let rules = Rc::new(compile("[[rules]]\naction = \"block\"\n"));
    assert!(AnswerScope::new(&rules, &base()).is_none());
    let raw: Vec<RawRule> = Vec::new();
    assert!(InterceptRules::compile(&raw).unwrap().is_empty());
}

/// The client's answer to a server request (its `method` is `None`) is never judged as a
/// request: a catch-all `block` or `mock` would answer it with the id of the client's own
/// pending request while the server never gets its answer.
#[test]
fn client_answers_always_go_on() {
    for rules in [
        "[[rules]]\naction = \"block\"",
        "[[rules]]\nmethod = \"*\"\naction = \"block\"",
        "[[rules]]\naction = \"mock\"\nresult = {}",
        "[[rules]]\nmethod = \"*\"\naction = \"pause\"",
    ] {
        let rules = compile(rules);
        for body in [
            r#"{"jsonrpc":"2.0","id":0,"result":{"role":"assistant","content":{"type":"text","text":"hi"}}}"#,
            r#"{"jsonrpc":"2.0","id":"s-1","error":{"code":-1,"message":"user declined"}}"#,
        ] {
            assert!(
                matches!(
                    judge(&rules, body),
                    RequestStep::Forward {
                        body: None,
                        delay: None
                    }
                ),
                "{body}"
            );
        }
    }
}

/// A response rule builds an answer scope (and so the buffering relay) only for the requests
/// whose answers or stream messages it may select.
#[test]
fn answer_scope_only_where_a_response_rule_may_select() {
    let scope = |toml: &str, method: &str, tool: Option<&str>| {
        let rules = Rc::new(compile(toml));
        let seen = Seen {
            way: Direction::Response,
            method: Some(method),
            tool,
            ..base()
        };
        AnswerScope::new(&rules, &seen).is_some()
    };
    let echo =
        "[[rules]]\ndirection = \"response\"\ntool = \"echo\"\naction = \"modify\"\npatch = {}";
    assert!(scope(echo, "tools/call", Some("echo")));
    assert!(!scope(echo, "tools/call", Some("big")));
    assert!(!scope(echo, "resources/read", None));
    let list = "[[rules]]\ndirection = \"response\"\nmethod = \"tools/*\"\naction = \"modify\"\npatch = {}";
    assert!(scope(list, "tools/list", None));
    assert!(!scope(list, "resources/read", None));
    // Server messages on the stream: progress, server requests, custom methods, any method.
    for method in [
        "notifications/*",
        "sampling/createMessage",
        "x-vendor/ping",
        "*",
    ] {
        let toml = format!(
            "[[rules]]\ndirection = \"response\"\nmethod = \"{method}\"\naction = \"modify\"\npatch = {{}}"
        );
        assert!(scope(&toml, "resources/read", None), "{method}");
    }
    // Route, principal and session globs exclude.
    for narrow in [
        "route = \"/other\"",
        "principal = \"bob\"",
        "session = \"zzz*\"",
    ] {
        let toml = format!(
            "[[rules]]\ndirection = \"response\"\n{narrow}\naction = \"modify\"\npatch = {{}}"
        );
        assert!(!scope(&toml, "tools/call", Some("echo")), "{narrow}");
    }
}

/// A `block` that stops a batch still sends on the client's answers to server requests (the
/// server waits for them) and the notifications no `block` rule selected; the others are
/// dropped with its requests.
#[test]
fn a_blocked_batch_still_sends_the_client_answers() {
    let rules = compile(
        "[[rules]]\ntool = \"delete_*\"\naction = \"block\"\ncode = -32001\n\
         [[rules]]\nmethod = \"notifications/progress\"\naction = \"block\"\n",
    );
    let answer = r#"{"jsonrpc":"2.0","id":"s-1","result":{"role":"assistant"}}"#;
    let refusal = r#"{"jsonrpc":"2.0","id":"s-2","error":{"code":-1,"message":"no"}}"#;
    let note = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#;
    let mixed = format!(
        "[{},{answer},{note},{refusal}]",
        call(1, "delete_me", json!({}))
    );
    match judge(&rules, &mixed) {
        RequestStep::Split {
            answer: errors,
            forward,
        } => {
            let errors: Value = serde_json::from_slice(&errors).unwrap();
            assert_eq!(
                errors,
                json!([{"jsonrpc": "2.0", "id": 1,
                "error": {"code": -32001, "message": "blocked by shadowcat interception"}}])
            );
            let forward: Value = serde_json::from_slice(&forward).unwrap();
            let wanted: Value = serde_json::from_str(&format!("[{answer},{refusal}]")).unwrap();
            assert_eq!(forward, wanted);
        }
        other => panic!("{other:?}"),
    }
    // No request left to answer: the answers go on alone.
    assert_eq!(
        forwarded(judge(&rules, &format!("[{answer},{note}]"))),
        serde_json::from_str::<Value>(&format!("[{answer}]")).unwrap()
    );
    // A notification no `block` rule selected goes on with them (the upstream would otherwise
    // never learn of a cancellation).
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#;
    let with_cancel = format!(
        "[{},{note},{cancel},{answer}]",
        call(1, "delete_me", json!({}))
    );
    match judge(&rules, &with_cancel) {
        RequestStep::Split { forward, .. } => {
            assert_eq!(forward, format!("[{cancel},{answer}]").as_bytes());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        forwarded(judge(&rules, &format!("[{note},{cancel}]"))),
        serde_json::from_str::<Value>(&format!("[{cancel}]")).unwrap()
    );
    // The answers go on as the client wrote them: key order, spacing, big integers kept.
    let odd = r#"{"result":{"n":123456789012345678901234567890, "z":1,"a":2},"id":"s-3","jsonrpc":"2.0"}"#;
    match judge(
        &rules,
        &format!("[{} , {odd}]", call(1, "delete_me", json!({}))),
    ) {
        RequestStep::Split { forward, .. } => assert_eq!(forward, format!("[{odd}]").as_bytes()),
        other => panic!("{other:?}"),
    }
    // Nothing to answer, nothing to send.
    assert!(matches!(
        judge(&rules, &format!("[{note},{note}]")),
        RequestStep::Drop
    ));
}

/// A stream that answers no request (a GET stream) is judged message by message with no
/// method or tool of its own: notifications and server requests by their method, and its
/// scope follows the rule set's generation.
#[test]
fn a_stream_scope_judges_each_message_by_its_own_method() {
    let toml = "[[rules]]\ndirection = \"response\"\nmethod = \"notifications/message\"\n\
                action = \"modify\"\npatch = { data = \"seen\" }\n\
                [[rules]]\ndirection = \"response\"\nmethod = \"ping\"\naction = \"block\"\n";
    let rules = Rc::new(compile(toml));
    let stream = base();
    let scope = AnswerScope::new(&rules, &stream);
    assert!(scope.is_some());
    let live = LiveAnswers::new(1, scope);
    let log = br#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#;
    let changed: Value = serde_json::from_slice(&live.judge(log).into_changed().unwrap()).unwrap();
    assert_eq!(changed["params"], json!({"level": "info", "data": "seen"}));
    // Block applies to answers only: a server request keeps its bytes.
    let ping = br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
    assert!(matches!(live.judge(ping), Outgoing::Now(Sent::Original)));
    let progress = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
    assert!(matches!(
        live.judge(progress),
        Outgoing::Now(Sent::Original)
    ));
    // The same generation keeps the scope; a newer one is taken, also one judging nothing.
    assert!(live.renew(1, || unreachable!("same generation")));
    assert!(!live.renew(2, || None));
    assert!(matches!(live.judge(log), Outgoing::Now(Sent::Original)));
    let later = Rc::new(compile(toml));
    assert!(live.renew(3, || AnswerScope::new(&later, &stream)));
    assert!(live.judge(log).into_changed().is_some());
    // A rule that names a tool never selects a stream's message.
    let tool = Rc::new(compile(
        "[[rules]]\ndirection = \"response\"\ntool = \"echo\"\naction = \"modify\"\npatch = {}",
    ));
    assert!(AnswerScope::new(&tool, &stream).is_none());
}
