//! The bytes of translated requests: `_meta` added, other values byte for byte, retries, ids,
//! listen bodies, the header value encoding.

use serde_json::value::RawValue;

use super::*;
use crate::mcp::JsonRpcId;

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

#[test]
fn meta_fields_are_added_and_the_rest_is_kept() {
    let caps = raw(r#"{"sampling":{}}"#);
    let info = raw(r#"{"name":"c","version":"1"}"#);
    let meta = ClientMeta {
        capabilities: &caps,
        client_info: &info,
        log_level: Some("debug"),
    };
    let client = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"big":123456789012345678901234567890,"f":1.50},"_meta":{"progressToken":"p1"}}}"#;
    let out = upstream_body(client, &meta, None).expect("rewritten");
    let text = std::str::from_utf8(&out).expect("utf8");
    // Untouched values keep their exact text (no float or big-integer rewriting).
    assert!(
        text.contains(r#""arguments":{"big":123456789012345678901234567890,"f":1.50}"#),
        "{text}"
    );
    let v = json(&out);
    assert_eq!(v["id"], 7);
    assert_eq!(v["method"], "tools/call");
    let m = &v["params"]["_meta"];
    assert_eq!(m["progressToken"], "p1");
    assert_eq!(m[META_VERSION], "2026-07-28");
    assert_eq!(m[META_CAPABILITIES]["sampling"], serde_json::json!({}));
    assert_eq!(m[META_CLIENT_INFO]["name"], "c");
    assert_eq!(m[META_LOG_LEVEL], "debug");
}

#[test]
fn requests_without_params_get_them() {
    let caps = raw("{}");
    let info = raw(r#"{"name":"c","version":"1"}"#);
    let meta = ClientMeta {
        capabilities: &caps,
        client_info: &info,
        log_level: None,
    };
    let v = json(
        &upstream_body(
            br#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#,
            &meta,
            None,
        )
        .expect("ok"),
    );
    assert_eq!(v["id"], "a");
    assert!(v["params"]["_meta"].get(META_LOG_LEVEL).is_none());
    assert_eq!(v["params"]["_meta"][META_VERSION], "2026-07-28");
    assert!(upstream_body(b"[1,2]", &meta, None).is_err());
}

#[test]
fn a_retry_has_a_new_id_the_responses_and_the_state_verbatim() {
    let caps = raw("{}");
    let info = raw(r#"{"name":"c","version":"1"}"#);
    let meta = ClientMeta {
        capabilities: &caps,
        client_info: &info,
        log_level: None,
    };
    let id = raw(r#""shadowcat-retry-2""#);
    let state = raw(r#""s\u00e9aled==""#);
    let responses = vec![(
        "answer".to_owned(),
        raw(r#"{"role":"assistant","content":{"type":"text","text":"42"}}"#),
    )];
    let retry = Retry {
        id: &id,
        responses: &responses,
        state: Some(&state),
    };
    let client = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ask","requestState":"forged"}}"#;
    let out = upstream_body(client, &meta, Some(&retry)).expect("ok");
    let text = std::str::from_utf8(&out).expect("utf8");
    assert!(text.contains(r#""requestState":"s\u00e9aled==""#), "{text}");
    let v = json(&out);
    assert_eq!(v["id"], "shadowcat-retry-2");
    assert_eq!(v["params"]["name"], "ask");
    assert_eq!(
        v["params"]["inputResponses"]["answer"]["content"]["text"],
        "42"
    );
}

#[test]
fn with_id_restores_the_client_id() {
    let out = with_id(
        br#"{"jsonrpc":"2.0","id":"shadowcat-retry-1","result":{"x":1}}"#,
        &JsonRpcId::Number(5),
    )
    .expect("ok");
    let v = json(&out);
    assert_eq!(v["id"], 5);
    assert_eq!(v["result"]["x"], 1);
}

#[test]
fn shapes() {
    assert_eq!(
        shape(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
        Shape::Response
    );
    assert_eq!(
        shape(br#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":""}}"#),
        Shape::Response
    );
    assert_eq!(
        shape(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#),
        Shape::Notification
    );
    assert_eq!(
        shape(br#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#),
        Shape::Request
    );
    assert_eq!(shape(b"nope"), Shape::Other);
}

#[test]
fn listen_notifications_lose_the_subscription_id() {
    let out = strip_subscription_id(br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"subscriptionId":"l-1"}}}"#).expect("ok");
    assert_eq!(
        json(&out),
        serde_json::json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}})
    );
    let out = strip_subscription_id(br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://b","_meta":{"subscriptionId":"l-1","k":1}}}"#).expect("ok");
    assert_eq!(
        json(&out)["params"],
        serde_json::json!({"uri":"a://b","_meta":{"k":1}})
    );
    let plain = br#"{"jsonrpc":"2.0","method":"x"}"#;
    assert!(matches!(
        strip_subscription_id(plain).expect("ok"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn listen_body_names_what_is_asked() {
    let v = json(&listen_body("l-1", true, false, true, &["a://1", "b\"2"]));
    assert_eq!(v["id"], "l-1");
    assert_eq!(v["method"], "subscriptions/listen");
    assert_eq!(
        v["params"]["notifications"],
        serde_json::json!({"toolsListChanged":true,"resourcesListChanged":true,"resourceSubscriptions":["a://1","b\"2"]})
    );
    let v = json(&listen_body("l-2", false, false, false, &["x"]));
    assert_eq!(
        v["params"]["notifications"],
        serde_json::json!({"resourceSubscriptions":["x"]})
    );
}

#[test]
fn header_values_use_base64_when_not_header_safe() {
    assert_eq!(header_value("echo"), "echo");
    assert_eq!(header_value("file:///a b.txt"), "file:///a b.txt");
    assert_eq!(header_value("héllo"), "=?base64?aMOpbGxv?=");
    assert_eq!(header_value(" lead"), "=?base64?IGxlYWQ=?=");
    assert_eq!(header_value("=?base64?x?="), "=?base64?PT9iYXNlNjQ/eD89?=");
    assert_eq!(header_value("a\nb"), "=?base64?YQpi?=");
    assert_eq!(header_value("ab"), "ab");
}

#[test]
fn the_head_carries_the_computed_param_headers_and_never_the_clients_nor_its_credentials() {
    let raw = "POST /mcp HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer t\r\n\
               Cookie: c=1\r\nOrigin: http://localhost\r\nAccept-Encoding: gzip\r\n\
               Content-Encoding: identity\r\nX-API-Key: client-key\r\nX-Tenant: client\r\n\
               X-Trace: 7\r\nMCP-PARAM-Region: forged\r\nmcp-param-other: x\r\n\r\n";
    let (client, _) = crate::http::parse_request(raw.as_bytes(), &crate::http::Limits::default())
        .expect("parsed")
        .expect("complete");
    let mut out = Vec::new();
    let params = vec![(
        "Mcp-Param-Region".to_owned(),
        "=?base64?WsO8cmljaA==?=".to_owned(),
    )];
    let config = crate::config::from_toml_str(
        "[upstreams.a]\nurl = \"http://127.0.0.1:1/mcp\"\nheaders = { X-Tenant = \"proxy\" }\n",
        "t.toml",
    )
    .expect("config");
    let configured = &config.upstreams[0].headers;
    let url = crate::config::UpstreamUrl {
        tls: false,
        host: "up".into(),
        port: 1,
        path: "/mcp".into(),
        authority: "up:1".into(),
        addrs: Vec::new(),
    };
    request_head_with(
        &mut out,
        (&url, configured),
        &client,
        "tools/call",
        Some("route"),
        &params,
        2,
    );
    let text = String::from_utf8(out).expect("ascii");
    // The client's credentials never reach an upstream (DESIGN §3.7); nor do its Origin and
    // Accept-Encoding (the proxy reads the answer, uncompressed); other end-to-end headers do.
    for gone in [
        "Bearer",
        "Cookie",
        "Origin",
        "gzip",
        "Content-Encoding",
        "client",
    ] {
        assert!(!text.contains(gone), "{gone} forwarded: {text}");
    }
    // A configured header replaces the client's of the same name.
    assert!(
        text.starts_with("POST /mcp HTTP/1.1\r\nHost: up:1\r\nX-Tenant: proxy\r\n"),
        "{text}"
    );
    assert!(text.contains("X-Trace: 7\r\n"), "{text}");
    assert!(text.contains("Mcp-Name: route\r\nMcp-Param-Region: =?base64?WsO8cmljaA==?=\r\n"));
    assert!(!text.to_ascii_lowercase().contains("forged"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("mcp-param-other"),
        "{text}"
    );
}
