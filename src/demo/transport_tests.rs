//! Request-level tests of the transport rules: headers, sessions, body errors, reply shapes, DELETE and GET.

use serde_json::json;

use super::test_support::*;
use super::*;

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

fn initialize_body(version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":"init","method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
    )
}

fn error_of(body: &serde_json::Value) -> (i64, &str) {
    (
        body["error"]["code"].as_i64().unwrap(),
        body["error"]["message"].as_str().unwrap(),
    )
}

#[test]
fn initialize_mints_a_session_and_negotiates() {
    let demo = demo(false);
    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let DemoReply::Json {
            status: 200,
            body,
            session_id: Some(session),
        } = demo.post(post(None, &initialize_body(asked)))
        else {
            panic!("initialize did not answer JSON with a session");
        };
        assert!(session_id::verify(session.as_bytes(), SECRET));
        let body = json(&body);
        assert_eq!(body["id"], json!("init"));
        assert_eq!(body["result"]["protocolVersion"], answered);
        assert_eq!(body["result"]["serverInfo"]["name"], "shadowcat-demo");
        assert_eq!(
            body["result"]["serverInfo"]["version"],
            env!("CARGO_PKG_VERSION")
        );
        let capabilities = &body["result"]["capabilities"];
        assert_eq!(capabilities["tools"], json!({"listChanged": false}));
        assert!(capabilities["resources"].is_object() && capabilities["prompts"].is_object());
        assert!(capabilities["logging"].is_object());
        assert!(body["result"]["instructions"].is_string());
    }
}

#[test]
fn initialize_ignores_session_and_version_headers() {
    let demo = demo(false);
    let body = initialize_body("2025-06-18");
    let request = PostRequest {
        session_id: Some(b"stale"),
        protocol_version: Some(b"1900-01-01"),
        ..post(None, &body)
    };
    assert!(matches!(
        demo.post(request),
        DemoReply::Json {
            session_id: Some(_),
            ..
        }
    ));
}

#[test]
fn initialize_needs_a_protocol_version() {
    let demo = demo(false);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":5}}"#;
    let reply = single_message(demo.post(post(None, body)));
    assert_eq!(
        error_of(&reply),
        (-32602, "Invalid params: protocolVersion must be a string")
    );
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#;
    assert_eq!(
        error_of(&single_message(demo.post(post(None, body)))).0,
        -32602
    );
}

#[test]
fn sse_mode_streams_every_request_reply() {
    let demo = demo(true);
    let DemoReply::Sse {
        session_id: Some(session),
        steps,
    } = demo.post(post(None, &initialize_body("2025-11-25")))
    else {
        panic!("initialize did not stream");
    };
    assert!(matches!(steps.as_slice(), [SseStep::Message(_)]));
    let ping = demo.post(post(Some(&session), PING));
    assert!(matches!(
        &ping,
        DemoReply::Sse {
            session_id: None,
            ..
        }
    ));
    assert_eq!(single_message(ping)["result"], json!({}));
    let unknown = r#"{"jsonrpc":"2.0","id":2,"method":"nope"}"#;
    let reply = demo.post(post(Some(&session), unknown));
    assert!(matches!(reply, DemoReply::Sse { .. }));
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert!(matches!(
        demo.post(post(Some(&session), initialized)),
        DemoReply::Accepted
    ));
    assert_eq!(status_reply(demo.post(post(None, PING))).0, 400);
}

#[test]
fn ids_are_echoed_with_their_type() {
    let demo = demo(false);
    let session = session(&demo);
    for id in [
        r#""1""#,
        "1",
        "-3",
        "1.5",
        r#""""#,
        r#""ü\n\"""#,
        "18446744073709551615",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let reply = single_message(demo.post(post(Some(&session), &body)));
        assert_eq!(reply["id"], json(id.as_bytes()), "{id}");
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"nope"}}"#);
        let reply = single_message(demo.post(post(Some(&session), &body)));
        assert_eq!(reply["id"], json(id.as_bytes()), "{id}");
    }
}

#[test]
fn accept_and_content_type_are_checked_first() {
    let demo = demo(false);
    let session = session(&demo);
    // (Accept, Content-Type, expected status); every refusal carries -32000 and id null.
    type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, u16);
    let cases: [Case<'_>; 6] = [
        (None, Some(JSON), 406),
        (Some(b"application/json"), Some(JSON), 406),
        (Some(b"text/event-stream"), Some(JSON), 406),
        (Some(b"text/event-stream"), None, 406),
        (Some(ACCEPT), None, 415),
        (Some(ACCEPT), Some(b"text/plain"), 415),
    ];
    for (accept, content_type, status) in cases {
        let request = PostRequest {
            accept,
            content_type,
            ..post(Some(&session), PING)
        };
        let (got, body) = status_reply(demo.post(request));
        let body = body.unwrap();
        assert_eq!(
            (got, error_of(&body).0),
            (status, -32000),
            "{accept:?} {content_type:?}"
        );
        assert_eq!(body["id"], json!(null));
    }
    let request = PostRequest {
        content_type: Some(b"application/json; charset=utf-8"),
        ..post(Some(&session), PING)
    };
    assert_eq!(single_message(demo.post(request))["result"], json!({}));
}

#[test]
fn bad_bodies_get_400() {
    let demo = demo(false);
    let session = session(&demo);
    let cases = [
        ("{not json", -32700, json!(null)),
        ("", -32700, json!(null)),
        (r#"{"jsonrpc":"2.0","id":7}"#, -32600, json!(7)),
        (
            r#"{"jsonrpc":"1.0","id":"x","method":"ping"}"#,
            -32600,
            json!("x"),
        ),
        ("[]", -32600, json!(null)),
        ("[{not json", -32700, json!(null)),
    ];
    for (body, code, id) in cases {
        let (status, reply) = status_reply(demo.post(post(Some(&session), body)));
        let reply = reply.unwrap();
        assert_eq!((status, error_of(&reply).0), (400, code), "{body}");
        assert_eq!(reply["id"], id, "{body}");
    }
}

#[test]
fn sessions_are_required_and_verified() {
    let demo = demo(false);
    let (status, body) = status_reply(demo.post(post(None, PING)));
    assert_eq!(status, 400);
    assert_eq!(
        error_of(&body.unwrap()),
        (-32000, "Bad Request: missing session")
    );

    let session = session(&demo);
    let mut tampered = session.clone().into_bytes();
    tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let foreign = test_support::session(&DemoMcp::new(DemoOptions {
        sse: false,
        secret: SECRET ^ 1,
    }));
    for bad in [tampered.as_str(), foreign.as_str(), "", "not-a-session"] {
        let (status, body) = status_reply(demo.post(post(Some(bad), PING)));
        let body = body.unwrap();
        assert_eq!(status, 404, "{bad}");
        assert_eq!(error_of(&body), (-32001, "Session not found"));
        assert_eq!(body["id"], json!(null));
    }
    let notification = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(status_reply(demo.post(post(None, notification))).0, 400);
    assert_eq!(
        status_reply(demo.post(post(Some(&tampered), notification))).0,
        404
    );
}

#[test]
fn protocol_version_header_must_be_supported() {
    let demo = demo(false);
    let session = session(&demo);
    for (version, ok) in [
        ("2025-03-26", true),
        ("2025-11-25", true),
        ("2026-07-28", false),
        ("junk", false),
    ] {
        let request = PostRequest {
            protocol_version: Some(version.as_bytes()),
            ..post(Some(&session), PING)
        };
        let reply = demo.post(request);
        if ok {
            assert_eq!(single_message(reply)["result"], json!({}));
        } else {
            let (status, body) = status_reply(reply);
            assert_eq!(status, 400);
            assert_eq!(
                error_of(&body.unwrap()),
                (-32000, "Bad Request: Unsupported protocol version")
            );
        }
    }
}

#[test]
fn notifications_and_responses_are_accepted() {
    let demo = demo(false);
    let session = session(&demo);
    for body in [
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#,
        r#"{"jsonrpc":"2.0","id":5,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":5,"error":{"code":-1,"message":"x"}}"#,
    ] {
        assert!(
            matches!(demo.post(post(Some(&session), body)), DemoReply::Accepted),
            "{body}"
        );
    }
}

#[test]
fn delete_checks_the_session_and_forgets_nothing() {
    let demo = demo(false);
    let session = session(&demo);
    assert_eq!(status_reply(demo.delete(None)).0, 400);
    assert_eq!(status_reply(demo.delete(Some(b"0123.bad"))).0, 404);
    assert_eq!(
        status_reply(demo.delete(Some(session.as_bytes()))),
        (200, None)
    );
    // Stateless: a deleted id still verifies (documented in README.md).
    assert_eq!(
        single_message(demo.post(post(Some(&session), PING)))["result"],
        json!({})
    );
}

#[test]
fn get_is_not_allowed() {
    let demo = demo(false);
    let session = session(&demo);
    for session_id in [None, Some(session.as_bytes())] {
        let DemoReply::Status {
            status: 405,
            body: Some(body),
            allow: Some(allow),
        } = demo.get(session_id)
        else {
            panic!("GET was not refused with 405");
        };
        assert_eq!(allow, ALLOWED_METHODS);
        assert_eq!(error_of(&json(&body)).0, -32000);
    }
}

#[test]
fn debug_output_hides_the_secret() {
    let text = format!("{:?}", demo(false));
    assert!(
        !text.contains(&SECRET.to_string()) && text.contains("redacted"),
        "{text}"
    );
}
