//! Tests for `message.rs`: classification, error kinds and borrowing.

use super::*;

fn request(body: &str) -> (RequestId<'_>, Cow<'_, str>, Result<Params<'_>, NotAnObject>) {
    match parse(body.as_bytes()) {
        Ok(Message::Request { id, method, params }) => (id, method, params),
        other => panic!("not a request: {other:?}"),
    }
}

fn rejected(body: &str) -> Rejected<'_> {
    match parse(body.as_bytes()) {
        Err(rejected) => rejected,
        Ok(message) => panic!("accepted: {message:?}"),
    }
}

#[test]
fn requests_keep_id_type_and_borrow_strings() {
    let (id, method, _) = request(r#"{"jsonrpc":"2.0","id":"abc","method":"ping"}"#);
    assert_eq!(id, RequestId::Str(Cow::Borrowed("abc")));
    assert!(matches!(method, Cow::Borrowed("ping")));
    let (id, _, _) = request(r#"{"jsonrpc":"2.0","id":-7,"method":"ping"}"#);
    assert_eq!(id, RequestId::Num(Number::from(-7)));
    let (id, _, _) = request(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#);
    assert_eq!(id, RequestId::Num(Number::from_f64(1.5).unwrap()));
    let (id, method, _) = request(r#"{"method":"tools\/list","id":"a\"b","jsonrpc":"2.0"}"#);
    assert_eq!(id, RequestId::Str(Cow::Borrowed("a\"b")));
    assert_eq!(method, "tools/list");
}

#[test]
fn params_fields_are_read_loosely() {
    let (_, _, params) = request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",
            "arguments":{"message":"hi","a":1,"b":[1],"steps":{"x":1},"extra":true},
            "_meta":{"progressToken":"p1","other":1},"unknown":[1,2]}}"#,
    );
    let mut params = params.unwrap();
    assert_eq!(params.name, Some(Scalar::Str("echo".into())));
    assert_eq!(params.progress_token(), Some(RequestId::Str("p1".into())));
    let Some(Obj::Object(arguments)) = params.arguments else {
        panic!("arguments lost")
    };
    assert_eq!(arguments.message, Some(Scalar::Str("hi".into())));
    assert_eq!(arguments.a, Some(Scalar::Num(Number::from(1))));
    assert_eq!(arguments.b, Some(Scalar::Composite));
    assert_eq!(arguments.steps, Some(Scalar::Composite));
    assert_eq!(arguments.delay_ms, None);
}

#[test]
fn progress_token_must_be_string_or_number() {
    let token = |meta: &str| {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{{"_meta":{meta}}}}}"#);
        let (_, _, params) = request(&body);
        params.unwrap().progress_token().map(|token| match token {
            RequestId::Str(text) => text.into_owned(),
            RequestId::Num(number) => number.to_string(),
        })
    };
    assert_eq!(token(r#"{"progressToken":5}"#).as_deref(), Some("5"));
    assert_eq!(token(r#"{"progressToken":"t"}"#).as_deref(), Some("t"));
    assert_eq!(token(r#"{"progressToken":true}"#), None);
    assert_eq!(token(r#"{"progressToken":null}"#), None);
    assert_eq!(token(r#"{}"#), None);
    assert_eq!(token(r#"[1]"#), None);
}

#[test]
fn params_that_are_not_objects_are_flagged() {
    for params in [r#"[1,2]"#, r#""x""#, "3", "true"] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{params}}}"#);
        let (_, _, params) = request(&body);
        assert!(params.is_err());
    }
    let (_, _, params) = request(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":null}"#);
    assert!(params.is_ok());
}

#[test]
fn notifications_and_responses_need_no_reply() {
    for body in [
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"no"}}"#,
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":null}"#,
    ] {
        assert!(
            matches!(parse(body.as_bytes()), Ok(Message::NoReply)),
            "{body}"
        );
    }
}

#[test]
fn malformed_json_is_a_parse_error() {
    for body in [
        "",
        "   ",
        "{",
        r#"{"jsonrpc":"2.0","id":1,}"#,
        "[1,",
        "nul",
        "{\"a\":\"\u{1}\"}",
        "{} x",
    ] {
        assert!(matches!(rejected(body).error, DemoError::Parse), "{body:?}");
    }
    assert!(matches!(
        parse(b"{\"a\":\"\xff\"}"),
        Err(Rejected {
            error: DemoError::Parse,
            ..
        })
    ));
}

#[test]
fn invalid_json_rpc_is_an_invalid_request() {
    let cases = [
        (r#"5"#, None),
        (r#""text""#, None),
        (r#"null"#, None),
        (r#"{}"#, None),
        (
            r#"{"id":1,"method":"ping"}"#,
            Some(RequestId::Num(1.into())),
        ),
        (
            r#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#,
            Some(RequestId::Str("a".into())),
        ),
        (
            r#"{"jsonrpc":2.0,"id":1,"method":"ping"}"#,
            Some(RequestId::Num(1.into())),
        ),
        (
            r#"{"jsonrpc":"2.0","id":1}"#,
            Some(RequestId::Num(1.into())),
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            Some(RequestId::Num(1.into())),
        ),
        (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, None),
        (r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, None),
        (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, None),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"ping","result":{}}"#,
            Some(RequestId::Num(3.into())),
        ),
        (r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#, None),
    ];
    for (body, id) in cases {
        let rejected = rejected(body);
        assert!(
            matches!(rejected.error, DemoError::InvalidRequest),
            "{body}"
        );
        assert_eq!(rejected.id, id, "{body}");
    }
}

#[test]
fn arrays_are_batches() {
    for body in ["[]", r#" [{"jsonrpc":"2.0","id":1,"method":"ping"}]"#] {
        assert!(
            matches!(rejected(body).error, DemoError::StdioBatch),
            "{body}"
        );
    }
    assert!(matches!(rejected("[{]").error, DemoError::Parse));
}
