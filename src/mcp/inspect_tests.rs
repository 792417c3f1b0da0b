//! Tests for `inspect.rs`: message shapes of every MCP method family, ids, batches, malformed input,
//! validation failures, reuse of one inspector.

use super::*;
use crate::mcp::version::ProtocolVersion;
use crate::mcp::write_error;

fn single(body: &str) -> MessageInfo {
    match Inspector::new().inspect(body.as_bytes()) {
        Ok(Inspected::Single(info)) => info,
        other => panic!("{body}: expected a single message, got {other:?}"),
    }
}

fn failure(body: &[u8]) -> Error {
    match Inspector::new().inspect(body) {
        Err(err) => err,
        Ok(ok) => panic!(
            "{}: expected an error, got {ok:?}",
            String::from_utf8_lossy(body)
        ),
    }
}

fn invalid(body: &str) -> (Option<JsonRpcId>, InvalidReason) {
    match failure(body.as_bytes()) {
        Error::InvalidRequest { id, reason } => (id, reason),
        other => panic!("{body}: expected InvalidRequest, got {other:?}"),
    }
}

fn bad_param(body: &str) -> (Option<JsonRpcId>, ParamField) {
    match failure(body.as_bytes()) {
        Error::InvalidParams { id, field } => (id, field),
        other => panic!("{body}: expected InvalidParams, got {other:?}"),
    }
}

fn is_parse_error(body: &[u8]) -> bool {
    matches!(failure(body), Error::Parse { .. })
}

fn request(id: &str, method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
}

fn notification(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params}}}"#)
}

// ---- requests ------------------------------------------------------------------------------

#[test]
fn initialize_request_reports_protocol_version() {
    let info = single(&request(
        "0",
        "initialize",
        r#"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}"#,
    ));
    assert_eq!(info.kind, Kind::Request);
    assert_eq!(info.id, Some(JsonRpcId::Number(0)));
    assert_eq!(info.method, Some(Method::Initialize));
    assert_eq!(
        info.protocol_version,
        Some(ClaimedVersion::Known(ProtocolVersion::V2025_06_18))
    );
}

#[test]
fn initialize_with_unknown_version_keeps_the_text() {
    let info = single(&request(
        "1",
        "initialize",
        r#"{"protocolVersion":"2030-01-01"}"#,
    ));
    assert_eq!(
        info.protocol_version,
        Some(ClaimedVersion::Unknown("2030-01-01".into()))
    );
}

#[test]
fn initialize_params_version_wins_over_meta() {
    let params = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"protocolVersion":"2025-03-26"}"#;
    let info = single(&request("1", "initialize", params));
    assert_eq!(
        info.protocol_version.and_then(|v| v.known()),
        Some(ProtocolVersion::V2025_03_26)
    );
}

#[test]
fn tools_call_reports_name_and_progress_token() {
    let info = single(&request(
        r#""call-1""#,
        "tools/call",
        r#"{"name":"echo","arguments":{"name":"not this one","x":[1,{"name":2}]},"_meta":{"progressToken":"p-9"}}"#,
    ));
    assert_eq!(info.method, Some(Method::ToolsCall));
    assert_eq!(info.id, Some(JsonRpcId::from("call-1")));
    assert_eq!(info.tool_name(), Some("echo"));
    assert_eq!(info.prompt_name(), None);
    assert_eq!(info.mcp_name(), Some("echo"));
    assert_eq!(info.progress_token, Some(JsonRpcId::from("p-9")));
}

#[test]
fn progress_token_may_be_an_integer() {
    let info = single(&request(
        "5",
        "tools/call",
        r#"{"_meta":{"progressToken":-42},"name":"slow"}"#,
    ));
    assert_eq!(info.progress_token, Some(JsonRpcId::Number(-42)));
}

#[test]
fn tool_name_escapes_are_decoded() {
    let info = single(&request(
        "5",
        "tools/call",
        r#"{"name":"ec\u0068o\n\"x\""}"#,
    ));
    assert_eq!(info.tool_name(), Some("echo\n\"x\""));
}

#[test]
fn prompts_get_reports_prompt_name() {
    let info = single(&request(
        "2",
        "prompts/get",
        r#"{"name":"greeting","arguments":{}}"#,
    ));
    assert_eq!(info.target, Some(Target::Prompt("greeting".into())));
    assert_eq!(info.tool_name(), None);
    assert_eq!(info.mcp_name(), Some("greeting"));
}

#[test]
fn resource_methods_report_uri() {
    let read = single(&request(
        "3",
        "resources/read",
        r#"{"uri":"file:///a.txt"}"#,
    ));
    assert_eq!(read.resource_uri(), Some("file:///a.txt"));
    assert_eq!(read.mcp_name(), Some("file:///a.txt"));
    let subscribe = single(&request(
        "4",
        "resources/subscribe",
        r#"{"uri":"file:///b"}"#,
    ));
    assert_eq!(subscribe.resource_uri(), Some("file:///b"));
    assert_eq!(
        subscribe.mcp_name(),
        None,
        "Mcp-Name mirrors only tools/call, prompts/get, resources/read"
    );
    let unsubscribe = single(&request(
        "5",
        "resources/unsubscribe",
        r#"{"uri":"file:///b"}"#,
    ));
    assert_eq!(unsubscribe.method, Some(Method::ResourcesUnsubscribe));
    assert_eq!(unsubscribe.resource_uri(), Some("file:///b"));
}

#[test]
fn name_and_uri_are_read_only_for_their_methods() {
    let info = single(&request(
        "1",
        "completion/complete",
        r#"{"name":"x","uri":"y"}"#,
    ));
    assert_eq!(info.target, None);
    let info = single(&request("1", "tools/list", r#"{"name":5}"#));
    assert_eq!(
        info.target, None,
        "a non-string name is only an error where the proxy reads it"
    );
}

#[test]
fn modern_request_reports_meta_protocol_version() {
    let params = r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"cursor":"abc"}"#;
    let info = single(&request("7", "tools/list", params));
    assert_eq!(info.method, Some(Method::ToolsList));
    assert_eq!(
        info.protocol_version,
        Some(ClaimedVersion::Known(ProtocolVersion::V2026_07_28))
    );
}

#[test]
fn every_known_request_method_without_params() {
    let methods = [
        Method::Ping,
        Method::ToolsList,
        Method::ResourcesList,
        Method::ResourcesTemplatesList,
        Method::PromptsList,
        Method::CompletionComplete,
        Method::LoggingSetLevel,
        Method::SamplingCreateMessage,
        Method::ElicitationCreate,
        Method::RootsList,
        Method::TasksGet,
        Method::TasksResult,
        Method::TasksList,
        Method::TasksCancel,
        Method::TasksUpdate,
        Method::ServerDiscover,
        Method::SubscriptionsListen,
    ];
    for method in methods {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#,
            method.as_str()
        );
        let info = single(&body);
        assert_eq!(
            (info.kind, info.method),
            (Kind::Request, Some(method)),
            "{body}"
        );
        assert_eq!(info.target, None);
    }
}

#[test]
fn unknown_method_is_other_with_its_text() {
    let info = single(&request("1", "vendor/doThing", "{}"));
    assert_eq!(info.method, Some(Method::Other));
    assert_eq!(info.unknown_method.as_deref(), Some("vendor/doThing"));
    assert_eq!(info.method_name(), Some("vendor/doThing"));
    let known = single(&request("1", "ping", "{}"));
    assert_eq!(
        (known.unknown_method.as_deref(), known.method_name()),
        (None, Some("ping"))
    );
}

#[test]
fn params_as_array_is_accepted_without_facts() {
    let info = single(&request("1", "tools/call", r#"["echo"]"#));
    assert_eq!((info.kind, info.target), (Kind::Request, None));
}

// ---- notifications -------------------------------------------------------------------------

#[test]
fn notifications_have_no_id() {
    for method in [
        "notifications/initialized",
        "notifications/tools/list_changed",
        "notifications/roots/list_changed",
    ] {
        let info = single(&format!(r#"{{"jsonrpc":"2.0","method":"{method}"}}"#));
        assert_eq!(info.kind, Kind::Notification);
        assert_eq!(info.id, None);
        assert!(info.method.is_some_and(Method::is_notification), "{method}");
    }
}

#[test]
fn cancelled_reports_request_id_of_either_type() {
    let info = single(&notification(
        "notifications/cancelled",
        r#"{"requestId":"abc","reason":"user"}"#,
    ));
    assert_eq!(info.method, Some(Method::NotificationsCancelled));
    assert_eq!(info.cancelled_request_id, Some(JsonRpcId::from("abc")));
    let info = single(&notification(
        "notifications/cancelled",
        r#"{"requestId":12}"#,
    ));
    assert_eq!(info.cancelled_request_id, Some(JsonRpcId::Number(12)));
    let info = single(&notification(
        "notifications/cancelled",
        r#"{"reason":"task"}"#,
    ));
    assert_eq!(info.cancelled_request_id, None, "optional since 2025-11-25");
}

#[test]
fn progress_notification_reports_its_token() {
    let info = single(&notification(
        "notifications/progress",
        r#"{"progressToken":7,"progress":0.5,"total":1}"#,
    ));
    assert_eq!(info.method, Some(Method::NotificationsProgress));
    assert_eq!(info.progress_token, Some(JsonRpcId::Number(7)));
    let info = single(&notification(
        "notifications/progress",
        r#"{"progressToken":"tok","progress":1}"#,
    ));
    assert_eq!(info.progress_token, Some(JsonRpcId::from("tok")));
}

#[test]
fn request_id_is_not_read_outside_cancelled() {
    let info = single(&notification(
        "notifications/message",
        r#"{"requestId":1,"level":"info","data":"x"}"#,
    ));
    assert_eq!(info.cancelled_request_id, None);
}

#[test]
fn subscription_ack_is_a_notification() {
    let info = single(&notification(
        "notifications/subscriptions/acknowledged",
        r#"{"_meta":{"io.modelcontextprotocol/subscriptionId":7},"notifications":{"toolsListChanged":true}}"#,
    ));
    assert_eq!(
        info.method,
        Some(Method::NotificationsSubscriptionsAcknowledged)
    );
    assert_eq!(info.kind, Kind::Notification);
}

// ---- responses -----------------------------------------------------------------------------

#[test]
fn result_response() {
    let info =
        single(r#"{"jsonrpc":"2.0","id":"x","result":{"content":[{"type":"text","text":"hi"}]}}"#);
    assert_eq!(info.kind, Kind::Response);
    assert_eq!(info.id, Some(JsonRpcId::from("x")));
    assert_eq!((info.method, info.protocol_version), (None, None));
}

#[test]
fn initialize_result_reports_negotiated_version() {
    let info = single(
        r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#,
    );
    assert_eq!(
        info.protocol_version,
        Some(ClaimedVersion::Known(ProtocolVersion::V2025_11_25))
    );
}

#[test]
fn non_object_results_are_fine() {
    for result in ["null", "[]", "1", r#""s""#] {
        let info = single(&format!(r#"{{"jsonrpc":"2.0","id":1,"result":{result}}}"#));
        assert_eq!(info.kind, Kind::Response);
    }
}

#[test]
fn error_responses_with_id_null_or_absent() {
    let with_id = single(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope"}}"#);
    assert_eq!(
        (with_id.kind, with_id.id, with_id.error_code),
        (
            Kind::ErrorResponse,
            Some(JsonRpcId::Number(3)),
            Some(-32601)
        )
    );
    let null_id =
        single(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#);
    assert_eq!((null_id.id, null_id.error_code), (None, Some(-32700)));
    let no_id = single(r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"bad"}}"#);
    assert_eq!((no_id.kind, no_id.id), (Kind::ErrorResponse, None));
}

#[test]
fn error_member_must_be_an_object_with_integer_code() {
    for error in [
        r#""boom""#,
        "{}",
        r#"{"code":"1"}"#,
        r#"{"code":1.5}"#,
        "null",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"error":{error}}}"#);
        assert_eq!(
            invalid(&body),
            (Some(JsonRpcId::Number(1)), InvalidReason::BadError),
            "{body}"
        );
    }
}

#[test]
fn response_shape_violations() {
    let both = r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":""}}"#;
    assert_eq!(invalid(both).1, InvalidReason::BothResultAndError);
    let method_and_result = r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#;
    assert_eq!(
        invalid(method_and_result).1,
        InvalidReason::MethodWithResult
    );
    let method_and_error = r#"{"jsonrpc":"2.0","id":1,"method":"ping","error":{"code":1}}"#;
    assert_eq!(invalid(method_and_error).1, InvalidReason::MethodWithResult);
    assert_eq!(
        invalid(r#"{"jsonrpc":"2.0","id":1}"#),
        (Some(JsonRpcId::Number(1)), InvalidReason::NoMethodOrResult)
    );
    assert_eq!(
        invalid(r#"{"jsonrpc":"2.0","result":{}}"#),
        (None, InvalidReason::BadId)
    );
    assert_eq!(
        invalid(r#"{"jsonrpc":"2.0","id":null,"result":{}}"#),
        (None, InvalidReason::BadId)
    );
    assert_eq!(
        invalid(r#"{"jsonrpc":"2.0","id":true,"error":{"code":1}}"#),
        (None, InvalidReason::BadId)
    );
}

#[path = "inspect_input_tests.rs"]
mod input;
