//! Request-level tests of every method: results, JSON-RPC errors, and the `slow` tool's SSE script.

use std::time::Duration;

use serde_json::{json, Value};

use super::test_support::*;
use super::*;

fn tool(name: &str, arguments: &str) -> Value {
    call(
        "tools/call",
        &format!(r#"{{"name":"{name}","arguments":{arguments}}}"#),
    )
}

fn tool_error_text(response: &Value) -> &str {
    assert_eq!(response["result"]["isError"], json!(true), "{response}");
    response["result"]["content"][0]["text"].as_str().unwrap()
}

fn rpc_error(response: &Value) -> (i64, &str) {
    assert!(response.get("result").is_none(), "{response}");
    (
        response["error"]["code"].as_i64().unwrap(),
        response["error"]["message"].as_str().unwrap(),
    )
}

#[test]
fn ping_answers_empty() {
    assert_eq!(
        call("ping", "{}"),
        json!({"jsonrpc":"2.0","id":1,"result":{}})
    );
}

#[test]
fn tools_list_describes_three_tools() {
    let tools = call("tools/list", "{}")["result"]["tools"].clone();
    assert_eq!(names(&tools, "name"), ["echo", "add", "slow"]);
    assert_eq!(tools[0]["inputSchema"]["required"], json!(["message"]));
    assert_eq!(
        tools[1]["outputSchema"]["properties"]["sum"]["type"],
        "number"
    );
    assert_eq!(
        tools[2]["inputSchema"]["properties"]["steps"]["maximum"],
        1000
    );
}

#[test]
fn echo_returns_the_message() {
    for message in ["hello", "", "quote\" nl\n tab\t ü 😀 \u{1}"] {
        let arguments = json!({ "message": message }).to_string();
        let response = tool("echo", &arguments);
        assert_eq!(
            response["result"],
            json!({"content":[{"type":"text","text":message}]}),
            "{message:?}"
        );
    }
}

#[test]
fn echo_refuses_bad_arguments_as_tool_errors() {
    for arguments in [
        "{}",
        r#"{"message":5}"#,
        r#"{"message":null}"#,
        r#"{"message":["x"]}"#,
    ] {
        let response = tool("echo", arguments);
        assert_eq!(
            tool_error_text(&response),
            "Invalid arguments for tool echo: message must be a string"
        );
    }
    let response = tool("echo", "[1]");
    assert_eq!(
        tool_error_text(&response),
        "Invalid arguments for tool echo: arguments must be an object"
    );
    let response = call("tools/call", r#"{"name":"echo"}"#);
    assert!(tool_error_text(&response).contains("message must be a string"));
}

#[test]
fn add_sums_with_structured_content() {
    for (a, b, sum) in [
        ("1", "2", json!(3)),
        ("-1.5", "0.25", json!(-1.25)),
        ("0", "0", json!(0)),
    ] {
        let response = tool("add", &format!(r#"{{"a":{a},"b":{b}}}"#));
        let result = &response["result"];
        assert_eq!(result["structuredContent"], json!({ "sum": sum }));
        let text = result["content"][0]["text"].as_str().unwrap();
        assert_eq!(json(text.as_bytes()), json!({ "sum": sum }));
        assert!(result.get("isError").is_none());
    }
    for arguments in [
        r#"{"a":1}"#,
        r#"{"a":"1","b":2}"#,
        r#"{"a":1e308,"b":1e308}"#,
    ] {
        let response = tool("add", arguments);
        assert!(tool_error_text(&response).starts_with("Invalid arguments for tool add: "));
    }
}

#[test]
fn unknown_or_unnamed_tools_are_invalid_params() {
    assert_eq!(
        rpc_error(&tool("nope", "{}")),
        (-32602, "Unknown tool: nope")
    );
    let response = call("tools/call", r#"{"arguments":{}}"#);
    assert_eq!(
        rpc_error(&response),
        (-32602, "Invalid params: name must be a string")
    );
}

/// Runs `slow` with `arguments` and `meta` on a server in `sse` mode; returns the script.
fn slow_script(sse: bool, arguments: &str, meta: &str) -> Vec<SseStep> {
    let demo = demo(sse);
    let session = session(&demo);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{{"name":"slow","arguments":{arguments},"_meta":{meta}}}}}"#
    );
    match demo.post(post(Some(&session), &body)) {
        DemoReply::Sse {
            session_id: None,
            steps,
        } => steps,
        other => panic!("slow did not stream: {other:?}"),
    }
}

#[test]
fn slow_with_progress_token_streams_progress_then_result() {
    for sse in [false, true] {
        for token in [json!("tok"), json!(42)] {
            let meta = json!({ "progressToken": token }).to_string();
            let script = slow_script(sse, r#"{"steps":4,"delay_ms":25}"#, &meta);
            assert_eq!(script.len(), 2 * 4 + 1);
            let mut last_progress = 0;
            for (at, step) in script.iter().enumerate() {
                match (at % 2, at == script.len() - 1, step) {
                    (_, true, SseStep::Message(body)) => {
                        let response = json(body);
                        assert_eq!(response["id"], json!("s"));
                        assert_eq!(response["result"]["content"][0]["text"], "Finished 4 steps");
                    }
                    (0, false, SseStep::Delay(delay)) => {
                        assert_eq!(*delay, Duration::from_millis(25))
                    }
                    (1, false, SseStep::Message(body)) => {
                        let notification = json(body);
                        assert_eq!(notification["method"], "notifications/progress");
                        assert!(notification.get("id").is_none());
                        let params = &notification["params"];
                        assert_eq!(params["progressToken"], token);
                        assert_eq!(params["total"], 4);
                        let progress = params["progress"].as_u64().unwrap();
                        assert!(progress > last_progress, "progress must increase");
                        last_progress = progress;
                        assert_eq!(params["message"], format!("step {progress} of 4"));
                    }
                    other => panic!("unexpected step at {at}: {other:?}"),
                }
            }
            assert_eq!(last_progress, 4);
        }
    }
}

#[test]
fn slow_without_token_waits_once_then_answers() {
    let script = slow_script(false, "{}", "{}");
    assert_eq!(script.len(), 2);
    assert_eq!(script[0], SseStep::Delay(Duration::from_millis(5 * 100)));
    let SseStep::Message(body) = &script[1] else {
        panic!("result missing");
    };
    assert_eq!(
        json(body)["result"]["content"][0]["text"],
        "Finished 5 steps"
    );
}

#[test]
fn slow_with_zero_delay_has_no_pauses() {
    // Also the largest script a call may ask for: 1000 progress messages and the result.
    let script = slow_script(
        false,
        r#"{"steps":1000,"delay_ms":0}"#,
        r#"{"progressToken":1}"#,
    );
    assert_eq!(script.len(), 1001);
    assert!(script
        .iter()
        .all(|step| matches!(step, SseStep::Message(_))));
    assert_eq!(slow_script(false, r#"{"delay_ms":0}"#, "{}").len(), 1);
}

#[test]
fn slow_bounds_are_enforced() {
    for (arguments, problem) in [
        (r#"{"steps":0}"#, "steps must be an integer from 1 to 1000"),
        (
            r#"{"steps":1001}"#,
            "steps must be an integer from 1 to 1000",
        ),
        (
            r#"{"steps":2.5}"#,
            "steps must be an integer from 1 to 1000",
        ),
        (
            r#"{"delay_ms":10001}"#,
            "delay_ms must be an integer from 0 to 10000",
        ),
        (
            r#"{"delay_ms":"5"}"#,
            "delay_ms must be an integer from 0 to 10000",
        ),
    ] {
        let response = tool("slow", arguments);
        assert_eq!(
            tool_error_text(&response),
            format!("Invalid arguments for tool slow: {problem}")
        );
    }
}

#[test]
fn resources_list_read_and_templates() {
    let listed = call("resources/list", "{}")["result"]["resources"].clone();
    assert_eq!(names(&listed, "uri"), ["demo://readme", "demo://stats"]);
    assert_eq!(
        call("resources/templates/list", "{}")["result"],
        json!({"resourceTemplates":[]})
    );

    let readme =
        call("resources/read", r#"{"uri":"demo://readme"}"#)["result"]["contents"][0].clone();
    assert_eq!(readme["mimeType"], "text/plain");
    assert!(readme["text"]
        .as_str()
        .unwrap()
        .contains("benchmarks measure the proxy"));
    let stats =
        call("resources/read", r#"{"uri":"demo://stats"}"#)["result"]["contents"][0].clone();
    assert_eq!(stats["uri"], "demo://stats");
    assert_eq!(stats["mimeType"], "application/json");
    assert_eq!(json(stats["text"].as_str().unwrap().as_bytes())["tools"], 3);
}

#[test]
fn resources_read_errors() {
    let response = call("resources/read", r#"{"uri":"demo://nope"}"#);
    assert_eq!(rpc_error(&response), (-32002, "Resource not found"));
    assert_eq!(response["error"]["data"], json!({"uri":"demo://nope"}));
    let response = call("resources/read", "{}");
    assert_eq!(
        rpc_error(&response),
        (-32602, "Invalid params: uri must be a string")
    );
}

#[test]
fn prompts_list_and_get() {
    let prompts = call("prompts/list", "{}")["result"]["prompts"].clone();
    assert_eq!(prompts[0]["name"], "greet");
    assert_eq!(
        prompts[0]["arguments"][0],
        json!({"name":"name","description":"Who to greet","required":true})
    );

    let response = call(
        "prompts/get",
        r#"{"name":"greet","arguments":{"name":"Ada \"L\""}}"#,
    );
    let message = &response["result"]["messages"][0];
    assert_eq!(message["role"], "user");
    assert_eq!(
        message["content"],
        json!({"type":"text","text":"Please greet Ada \"L\" warmly."})
    );
}

#[test]
fn prompts_get_errors() {
    for (params, message) in [
        (
            r#"{"name":"greet"}"#,
            "Invalid params: arguments.name is required",
        ),
        (
            r#"{"name":"greet","arguments":{}}"#,
            "Invalid params: arguments.name is required",
        ),
        (
            r#"{"name":"greet","arguments":{"name":1}}"#,
            "Invalid params: arguments.name must be a string",
        ),
        (
            r#"{"name":"greet","arguments":"x"}"#,
            "Invalid params: arguments must be an object",
        ),
        (r#"{"name":"nope"}"#, "Unknown prompt: nope"),
        (r#"{}"#, "Invalid params: name must be a string"),
    ] {
        assert_eq!(
            rpc_error(&call("prompts/get", params)),
            (-32602, message),
            "{params}"
        );
    }
}

#[test]
fn logging_set_level() {
    assert_eq!(crate::mcp::LOG_LEVELS.len(), 8);
    for level in crate::mcp::LOG_LEVELS {
        let params = format!(r#"{{"level":"{level}"}}"#);
        assert_eq!(call("logging/setLevel", &params)["result"], json!({}));
    }
    for params in [r#"{"level":"verbose"}"#, r#"{"level":3}"#, "{}"] {
        assert_eq!(
            rpc_error(&call("logging/setLevel", params)).0,
            -32602,
            "{params}"
        );
    }
}

#[test]
fn unknown_methods_and_non_object_params() {
    assert_eq!(
        rpc_error(&call("nope/nope", "{}")),
        (-32601, "Method not found: nope/nope")
    );
    assert_eq!(rpc_error(&call("nope/nope", "[1]")).0, -32601);
    assert_eq!(rpc_error(&call("completion/complete", "{}")).0, -32601);
    for method in [
        "ping",
        "tools/list",
        "tools/call",
        "resources/read",
        "prompts/get",
        "logging/setLevel",
    ] {
        let response = call(method, "[1]");
        assert_eq!(
            rpc_error(&response),
            (-32602, "Invalid params: params must be an object"),
            "{method}"
        );
    }
}
