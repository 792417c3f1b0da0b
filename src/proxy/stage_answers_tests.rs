//! A POST's facts-phase stages (`era`, `protocol_version`) as the proxy answers them: every
//! mirrored-header mismatch is `-32020`, an unknown `_meta` version `-32022`, legacy requests
//! keep their old path; each refusal through `ProxyError::refused` and the answer funnel.

use crate::config::RouteEra;
use crate::http::RequestHead;
use crate::mcp::Inspector;
use crate::pipeline::checks::{MCP_METHOD, MCP_NAME, PROTOCOL_VERSION};
use crate::pipeline::{facts, Facts, Flow, Found, Input, Phase, RouteStages};
use crate::proxy::error::{Mismatch, ProxyError};
use crate::proxy::respond::error_response;

/// How the facts phase classified a POST.
#[derive(Debug, PartialEq, Eq)]
enum Era {
    Legacy,
    Modern,
}

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#;

fn head(headers: &[(&str, &str)]) -> RequestHead {
    crate::pipeline::checks::test_head::head("POST", headers)
}

fn body_facts(body: &str) -> Facts {
    facts(Inspector::new().inspect(body.as_bytes()).unwrap())
}

fn tools_call(name: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"{name}","arguments":{{}},{META}}}}}"#
    )
}

/// The headers a conforming 2026-07-28 client sends for `method` (+ `Mcp-Name`).
fn modern_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", method),
    ];
    if let Some(name) = name {
        h.push(("Mcp-Name", name));
    }
    h
}

fn run(headers: &[(&str, &str)], body: &str, route: RouteEra) -> Result<Era, ProxyError> {
    let (head, facts) = (head(headers), body_facts(body));
    let input = Input {
        head: &head,
        facts: Some(&facts),
        session: None,
    };
    let mut found = Found::default();
    RouteStages::for_era(route)
        .run(Flow::Post, Phase::Facts, &input, &mut found)
        .map_err(|refusal| ProxyError::refused(refusal, facts.id().cloned()))?;
    Ok(if found.modern {
        Era::Modern
    } else {
        Era::Legacy
    })
}

/// Status, code, id and data of the answer for `err`.
fn answer(err: &ProxyError) -> (u16, serde_json::Value) {
    let mut out = Vec::new();
    let status = error_response(&mut out, err, true);
    let text = String::from_utf8(out).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap())
}

fn assert_mismatch(result: Result<Era, ProxyError>, header: &str, problem: Mismatch) {
    let err = result.unwrap_err();
    match &err {
        ProxyError::HeaderMismatch {
            header: got,
            problem: why,
            ..
        } => {
            assert_eq!((*got, *why), (header, problem), "{err:?}");
        }
        other => panic!("expected a header mismatch on {header}, got {other:?}"),
    }
    let (status, body) = answer(&err);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32020);
    assert_eq!(body["id"], 7);
    assert!(
        body["error"]["message"].as_str().unwrap().contains(header),
        "{body}"
    );
}

#[test]
fn a_conforming_modern_request_is_modern_on_both_route_kinds() {
    let body = tools_call("echo");
    let headers = modern_headers("tools/call", Some("echo"));
    assert_eq!(run(&headers, &body, RouteEra::Dual).unwrap(), Era::Modern);
    assert_eq!(run(&headers, &body, RouteEra::Modern).unwrap(), Era::Modern);
    let list = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{{{META}}}}}"#);
    assert_eq!(
        run(&modern_headers("tools/list", None), &list, RouteEra::Dual).unwrap(),
        Era::Modern
    );
}

#[test]
fn legacy_requests_stay_legacy_on_dual_routes() {
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
    assert_eq!(run(&[], init, RouteEra::Dual).unwrap(), Era::Legacy);
    // An unsupported version in initialize is the upstream's to negotiate.
    let init_future = init.replace("2025-06-18", "2099-01-01");
    assert_eq!(run(&[], &init_future, RouteEra::Dual).unwrap(), Era::Legacy);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert_eq!(
        run(
            &[
                ("Mcp-Session-Id", "abc"),
                ("MCP-Protocol-Version", "2025-06-18")
            ],
            list,
            RouteEra::Dual
        )
        .unwrap(),
        Era::Legacy
    );
    // A session request that also carries the 2026 `_meta` is still a session request.
    let body = tools_call("echo");
    assert_eq!(
        run(&[("Mcp-Session-Id", "abc")], &body, RouteEra::Dual).unwrap(),
        Era::Legacy
    );
    // Notifications never need the mirrored headers.
    let note = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":1,"progress":1,{META}}}}}"#
    );
    assert_eq!(run(&[], &note, RouteEra::Dual).unwrap(), Era::Legacy);
}

#[test]
fn a_legacy_request_with_an_unknown_version_header_keeps_its_400() {
    let list = r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#;
    let err = run(
        &[("MCP-Protocol-Version", "1999-01-01")],
        list,
        RouteEra::Dual,
    )
    .unwrap_err();
    assert!(
        matches!(err, ProxyError::BadProtocolVersion { .. }),
        "{err:?}"
    );
    let (status, body) = answer(&err);
    assert_eq!(status, 400);
    assert_eq!(body["id"], "a");
    let message = body["error"]["message"].as_str().unwrap();
    for version in crate::mcp::SUPPORTED_SESSIONFUL {
        assert!(message.contains(version.as_str()), "{message}");
    }
}

#[test]
fn each_missing_header_is_a_mismatch() {
    let body = tools_call("echo");
    let all = modern_headers("tools/call", Some("echo"));
    for (skip, header) in [(0, PROTOCOL_VERSION), (1, MCP_METHOD), (2, MCP_NAME)] {
        // Without the version header the body's `_meta` still makes the request modern.
        let mut headers = all.clone();
        headers.remove(skip);
        assert_mismatch(
            run(&headers, &body, RouteEra::Dual),
            header,
            Mismatch::Missing,
        );
    }
}

#[test]
fn each_differing_header_is_a_mismatch() {
    let body = tools_call("echo");
    let cases = [
        (("MCP-Protocol-Version", "2025-11-25"), PROTOCOL_VERSION),
        (("Mcp-Method", "tools/list"), MCP_METHOD),
        (("Mcp-Method", "Tools/Call"), MCP_METHOD),
        (("Mcp-Name", "Echo"), MCP_NAME),
        (("Mcp-Name", "other"), MCP_NAME),
    ];
    for ((name, value), header) in cases {
        let mut headers: Vec<(&str, &str)> = modern_headers("tools/call", Some("echo"))
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .collect();
        headers.push((name, value));
        assert_mismatch(
            run(&headers, &body, RouteEra::Dual),
            header,
            Mismatch::Differs,
        );
    }
}

#[test]
fn a_repeated_header_is_a_mismatch() {
    let body = tools_call("echo");
    let mut headers = modern_headers("tools/call", Some("echo"));
    headers.push(("Mcp-Name", "echo"));
    assert_mismatch(
        run(&headers, &body, RouteEra::Dual),
        MCP_NAME,
        Mismatch::Duplicate,
    );
}

#[test]
fn header_names_are_case_insensitive() {
    let body = tools_call("echo");
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("MCP-METHOD", "tools/call"),
        ("mCp-NaMe", "echo"),
    ];
    assert_eq!(run(&headers, &body, RouteEra::Dual).unwrap(), Era::Modern);
}

#[test]
fn mcp_name_mirrors_name_or_uri_per_method() {
    let prompt = format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"prompts/get","params":{{"name":"greet",{META}}}}}"#
    );
    let read = format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{{"uri":"file:///a b.txt",{META}}}}}"#
    );
    assert_eq!(
        run(
            &modern_headers("prompts/get", Some("greet")),
            &prompt,
            RouteEra::Dual
        )
        .unwrap(),
        Era::Modern
    );
    assert_mismatch(
        run(
            &modern_headers("prompts/get", Some("other")),
            &prompt,
            RouteEra::Dual,
        ),
        MCP_NAME,
        Mismatch::Differs,
    );
    assert_mismatch(
        run(
            &modern_headers("prompts/get", None),
            &prompt,
            RouteEra::Dual,
        ),
        MCP_NAME,
        Mismatch::Missing,
    );
    // A uri with a space is not header-safe as is: it travels Base64-wrapped.
    let encoded = "=?base64?ZmlsZTovLy9hIGIudHh0?=";
    assert_eq!(
        run(
            &modern_headers("resources/read", Some(encoded)),
            &read,
            RouteEra::Dual
        )
        .unwrap(),
        Era::Modern
    );
    assert_eq!(
        run(
            &modern_headers("resources/read", Some("file:///a b.txt")),
            &read,
            RouteEra::Dual
        )
        .unwrap(),
        Era::Modern
    );
    assert_mismatch(
        run(
            &modern_headers("resources/read", Some("=?base64?ZmlsZQ==?=")),
            &read,
            RouteEra::Dual,
        ),
        MCP_NAME,
        Mismatch::Differs,
    );
    assert_mismatch(
        run(
            &modern_headers("resources/read", Some("=?base64?!!!!?=")),
            &read,
            RouteEra::Dual,
        ),
        MCP_NAME,
        Mismatch::Differs,
    );
    // Methods without a name need no Mcp-Name; one sent anyway is not checked.
    let list = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{{{META}}}}}"#);
    assert_eq!(
        run(
            &modern_headers("tools/list", Some("x")),
            &list,
            RouteEra::Dual
        )
        .unwrap(),
        Era::Modern
    );
}

#[test]
fn unknown_methods_mirror_their_text() {
    let body = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"vendor/thing","params":{{{META}}}}}"#);
    assert_eq!(
        run(&modern_headers("vendor/thing", None), &body, RouteEra::Dual).unwrap(),
        Era::Modern
    );
    assert_mismatch(
        run(&modern_headers("vendor/other", None), &body, RouteEra::Dual),
        MCP_METHOD,
        Mismatch::Differs,
    );
}

#[test]
fn a_modern_version_header_without_meta_is_a_mismatch() {
    let list = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
    assert_mismatch(
        run(&modern_headers("tools/list", None), list, RouteEra::Dual),
        PROTOCOL_VERSION,
        Mismatch::BodyMissing,
    );
}

#[test]
fn unknown_meta_versions_get_32022_with_the_supported_list() {
    let body = tools_call("echo").replace("2026-07-28", "2027-03-01");
    for (route, supported) in [
        (
            RouteEra::Dual,
            serde_json::json!([
                "2024-11-05",
                "2025-03-26",
                "2025-06-18",
                "2025-11-25",
                "2026-07-28"
            ]),
        ),
        (RouteEra::Modern, serde_json::json!(["2026-07-28"])),
    ] {
        let headers = [
            ("MCP-Protocol-Version", "2027-03-01"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
        ];
        let err = run(&headers, &body, route).unwrap_err();
        assert!(
            matches!(err, ProxyError::UnsupportedVersion { .. }),
            "{err:?}"
        );
        let (status, answer) = answer(&err);
        assert_eq!(status, 400);
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["error"]["code"], -32022);
        assert_eq!(answer["error"]["data"]["supported"], supported);
        assert_eq!(answer["error"]["data"]["requested"], "2027-03-01");
    }
    // A legacy version in `_meta` under a 2026 header is not served statelessly either.
    let old = tools_call("echo").replace("2026-07-28", "2025-06-18");
    let err = run(
        &modern_headers("tools/call", Some("echo")),
        &old,
        RouteEra::Dual,
    )
    .unwrap_err();
    assert!(
        matches!(err, ProxyError::UnsupportedVersion { .. }),
        "{err:?}"
    );
}

#[test]
fn modern_routes_refuse_legacy_requests_and_ignore_session_ids() {
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
    let err = run(&[], init, RouteEra::Modern).unwrap_err();
    let (status, body) = answer(&err);
    assert_eq!(status, 400);
    assert_eq!(body["id"], 1);
    assert_eq!(body["error"]["code"], -32022);
    assert_eq!(
        body["error"]["data"]["supported"],
        serde_json::json!(["2026-07-28"])
    );
    assert_eq!(body["error"]["data"]["requested"], "2025-06-18");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("only 2026-07-28"));
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    assert!(run(&[("Mcp-Session-Id", "abc")], list, RouteEra::Modern).is_err());
    assert!(run(&[], list, RouteEra::Modern).is_err());
    // A modern request with a stray session id is served statelessly.
    let mut headers = modern_headers("tools/call", Some("echo"));
    headers.push(("Mcp-Session-Id", "abc"));
    assert_eq!(
        run(&headers, &tools_call("echo"), RouteEra::Modern).unwrap(),
        Era::Modern
    );
    // Session-less notifications pass to the upstream.
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(run(&[], note, RouteEra::Modern).unwrap(), Era::Legacy);
}
