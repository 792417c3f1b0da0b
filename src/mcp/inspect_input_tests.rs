//! Tests for `inspect.rs` on hostile or unusual input: id types, batches, malformed JSON, envelope
//! violations, duplicate members, out-of-range numbers, and reuse of one inspector.

use super::*;

// ---- ids -----------------------------------------------------------------------------------

#[test]
fn id_types_are_kept() {
    let cases = [
        ("1", JsonRpcId::Number(1)),
        ("-1", JsonRpcId::Number(-1)),
        ("0", JsonRpcId::Number(0)),
        ("-0", JsonRpcId::Number(0)),
        ("9223372036854775807", JsonRpcId::Number(i64::MAX)),
        ("-9223372036854775808", JsonRpcId::Number(i64::MIN)),
        ("9223372036854775808", JsonRpcId::LargeNumber(1 << 63)),
        ("18446744073709551615", JsonRpcId::LargeNumber(u64::MAX)),
        (r#""1""#, JsonRpcId::from("1")),
        (r#""""#, JsonRpcId::from("")),
        (r#""a\"b\u00e9""#, JsonRpcId::from("a\"bé")),
    ];
    for (raw, expected) in cases {
        let info = single(&request(raw, "ping", "{}"));
        assert_eq!(info.id, Some(expected), "{raw}");
    }
}

#[test]
fn error_reply_echoes_id_value_and_type() {
    for raw in ["7", r#""7""#, "-12", "18446744073709551615", r#""x\ny""#] {
        let info = single(&request(raw, "ping", "{}"));
        let mut out = Vec::new();
        write_error(&mut out, info.id.as_ref(), -32601, "Method not found", None);
        let reply: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let sent: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(reply["id"], sent, "{raw}");
        assert_eq!(reply["id"].is_string(), sent.is_string(), "{raw}");
    }
}

#[test]
fn ids_that_are_not_string_or_integer_are_rejected() {
    for raw in [
        "null",
        "true",
        "1.0",
        "1e2",
        "-1.5",
        "{}",
        "[1]",
        "99999999999999999999",
        "-9223372036854775809",
    ] {
        assert_eq!(
            invalid(&request(raw, "ping", "{}")),
            (None, InvalidReason::BadId),
            "{raw}"
        );
    }
}

// ---- batches -------------------------------------------------------------------------------

#[test]
fn mixed_batch_keeps_order() {
    let body = format!(
        "  [{}, {}, {} ]\n",
        request("1", "tools/call", r#"{"name":"a"}"#),
        notification(
            "notifications/progress",
            r#"{"progressToken":1,"progress":1}"#
        ),
        r#"{"jsonrpc":"2.0","id":"r","result":{}}"#,
    );
    let inspected = Inspector::new().inspect(body.as_bytes()).unwrap();
    assert!(inspected.is_batch());
    let kinds: Vec<Kind> = inspected.messages().iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [Kind::Request, Kind::Notification, Kind::Response]);
    assert_eq!(inspected.messages()[0].tool_name(), Some("a"));
}

#[test]
fn single_message_is_a_one_element_slice() {
    let inspected = Inspector::new()
        .inspect(request("1", "ping", "{}").as_bytes())
        .unwrap();
    assert!(!inspected.is_batch());
    assert_eq!(inspected.messages().len(), 1);
}

#[test]
fn empty_batch_is_invalid() {
    assert_eq!(invalid("[]"), (None, InvalidReason::EmptyBatch));
    assert_eq!(invalid(" [ ] "), (None, InvalidReason::EmptyBatch));
}

#[test]
fn nested_or_scalar_batch_elements_are_invalid() {
    let nested = format!("[[{}]]", request("1", "ping", "{}"));
    assert_eq!(invalid(&nested), (None, InvalidReason::NotAnObject));
    assert_eq!(invalid("[1,2]").1, InvalidReason::NotAnObject);
    let mixed = format!("[{}, 3]", request("1", "ping", "{}"));
    assert_eq!(invalid(&mixed).1, InvalidReason::NotAnObject);
}

#[test]
fn bad_batch_element_reports_its_own_id() {
    let body = format!(
        "[{}, {}]",
        request("1", "ping", "{}"),
        r#"{"jsonrpc":"1.0","id":"two","method":"ping"}"#
    );
    assert_eq!(
        invalid(&body),
        (
            Some(JsonRpcId::from("two")),
            InvalidReason::WrongJsonrpcVersion
        )
    );
}

#[test]
fn batch_length_is_bounded() {
    let element = notification("notifications/initialized", "{}");
    let at_limit = format!("[{}]", vec![element.as_str(); MAX_BATCH_LEN].join(","));
    assert_eq!(
        Inspector::new()
            .inspect(at_limit.as_bytes())
            .unwrap()
            .messages()
            .len(),
        MAX_BATCH_LEN
    );
    let over = format!("[{}]", vec![element.as_str(); MAX_BATCH_LEN + 1].join(","));
    assert_eq!(invalid(&over), (None, InvalidReason::BatchTooLarge));
}

// ---- malformed JSON ------------------------------------------------------------------------

#[test]
fn malformed_json_is_a_parse_error() {
    let full = request("1", "tools/call", r#"{"name":"echo"}"#);
    for cut in [1, 10, full.len() / 2, full.len() - 1] {
        assert!(
            is_parse_error(&full.as_bytes()[..cut]),
            "truncated at {cut}"
        );
    }
    let cases: &[&[u8]] = &[
        b"",
        b"   \n",
        b"{",
        b"{oops}",
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"} x"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"ping",}"#,
        br#"{'jsonrpc':'2.0'}"#,
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"to\xffols/list\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":\"\xc3\x28\",\"method\":\"ping\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\nb\"}",
        br#"{"jsonrpc":"2.0","id":01,"method":"ping"}"#,
        br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"n":1.}}"#,
        b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
    ];
    for body in cases {
        assert!(is_parse_error(body), "{}", String::from_utf8_lossy(body));
    }
}

/// Regression (tests/fuzz, inspect_mutated): simd-json ended a number or literal at a NUL byte, so
/// these passed as JSON while serde_json (and so the upstream) refuses them.
#[test]
fn a_nul_byte_anywhere_is_a_parse_error() {
    let cases: &[&[u8]] = &[
        b"{\"result\":null,\"jsonrpc\":\"2.0\",\"id\":0\x00}",
        b"[{\"jsonrpc\":\"2.0\",\"x\":null\x00,\"id\":0,\"result\":[1]}]",
        b"{\"error\":{\"code\":-1\x00000,\"message\":\"m\"},\"id\":0,\"jsonrpc\":\"2.0\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"b\":true\x00}}",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\x00",
        b"{\"jsonrpc\":\"2.0\",\"id\":\"a\x00b\",\"method\":\"ping\"}",
    ];
    for body in cases {
        assert!(is_parse_error(body), "{}", body.escape_ascii());
    }
}

/// Regression (tests/fuzz, inspect_mutated): simd-json did not check the byte after an integer of
/// 18 or more digits, so these passed as JSON (with `code` read as -10^17, `id` as a number).
#[test]
fn junk_after_a_long_integer_is_a_parse_error() {
    let cases: &[&[u8]] = &[
        b"{\"error\":{\"code\":-100000000000000000;,\"message\":\"m\"},\"id\":0,\"jsonrpc\":\"2.0\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890;,\"method\":\"ping\"}",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[18446744073709551615\x02]}",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[1e400,-100000000000000000;]}",
        // The 100 000-case run (scripts/fuzz.sh): a long integer with more number bytes glued on.
        b"{\"error\":{\"code\":0,\"message\":\"m\"},\"id\":-100000000000000000-0,\"jsonrpc\":\"2.0\"}",
    ];
    for body in cases {
        assert!(is_parse_error(body), "{}", body.escape_ascii());
    }
    // The same long integers, cleanly ended, still pass.
    let mut inspector = Inspector::new();
    let fine = br#"{"jsonrpc":"2.0","id":123456789012345678,"result":[18446744073709551615 ,-100000000000000000]}"#;
    assert!(inspector.inspect(fine).is_ok());
}

#[test]
fn parse_error_reply_has_null_id() {
    let mut out = Vec::new();
    failure(b"{\"id\":5,").write_reply(&mut out);
    let reply: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(reply["id"].is_null());
    assert_eq!(reply["error"]["code"], -32700);
}

#[test]
fn whitespace_around_the_value_is_fine() {
    let body = format!(" \r\n\t{}\n\n", request("1", "ping", "{}"));
    assert_eq!(single(&body).method, Some(Method::Ping));
}

#[test]
fn scalars_are_not_messages() {
    for body in ["1", r#""ping""#, "null", "true"] {
        assert_eq!(invalid(body), (None, InvalidReason::NotAnObject), "{body}");
    }
}

// ---- envelope ------------------------------------------------------------------------------

#[test]
fn jsonrpc_member_must_be_exactly_2_0() {
    for member in [
        r#""jsonrpc":"1.0","#,
        r#""jsonrpc":2.0,"#,
        r#""jsonrpc":"2.0 ","#,
        "",
    ] {
        let body = format!(r#"{{{member}"id":4,"method":"ping"}}"#);
        assert_eq!(
            invalid(&body),
            (
                Some(JsonRpcId::Number(4)),
                InvalidReason::WrongJsonrpcVersion
            ),
            "{body}"
        );
    }
}

#[test]
fn method_must_be_a_string() {
    for method in ["1", "null", "{}", r#"["ping"]"#] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":"m","method":{method}}}"#);
        assert_eq!(
            invalid(&body),
            (Some(JsonRpcId::from("m")), InvalidReason::BadMethod),
            "{body}"
        );
    }
}

#[test]
fn scalar_params_are_invalid() {
    for params in ["1", r#""x""#, "true", "null"] {
        assert_eq!(
            invalid(&request("1", "ping", params)).1,
            InvalidReason::BadParams,
            "{params}"
        );
    }
}

#[test]
fn extracted_members_must_have_the_right_type() {
    let request_cases = [
        ("tools/call", r#"{"name":7}"#, ParamField::Name),
        ("prompts/get", r#"{"name":null}"#, ParamField::Name),
        ("resources/read", r#"{"uri":["a"]}"#, ParamField::Uri),
        (
            "initialize",
            r#"{"protocolVersion":20250618}"#,
            ParamField::ProtocolVersion,
        ),
        ("ping", r#"{"_meta":[]}"#, ParamField::Meta),
        (
            "ping",
            r#"{"_meta":{"progressToken":1.5}}"#,
            ParamField::ProgressToken,
        ),
        (
            "ping",
            r#"{"_meta":{"progressToken":null}}"#,
            ParamField::ProgressToken,
        ),
        (
            "tools/list",
            r#"{"_meta":{"io.modelcontextprotocol/protocolVersion":1}}"#,
            ParamField::ProtocolVersion,
        ),
    ];
    for (method, params, field) in request_cases {
        let body = request("1", method, params);
        assert_eq!(
            bad_param(&body),
            (Some(JsonRpcId::Number(1)), field),
            "{body}"
        );
    }
    let notification_cases = [
        (
            "notifications/cancelled",
            r#"{"requestId":null}"#,
            ParamField::RequestId,
        ),
        (
            "notifications/progress",
            r#"{"progressToken":{},"progress":1}"#,
            ParamField::ProgressToken,
        ),
    ];
    for (method, params, field) in notification_cases {
        let body = notification(method, params);
        assert_eq!(bad_param(&body), (None, field), "{body}");
    }
}

// ---- duplicate members ---------------------------------------------------------------------

#[test]
fn duplicate_envelope_members_are_rejected() {
    let two_methods = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#;
    assert_eq!(
        invalid(two_methods),
        (Some(JsonRpcId::Number(1)), InvalidReason::DuplicateKey)
    );
    let two_ids = r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#;
    assert_eq!(
        invalid(two_ids),
        (None, InvalidReason::DuplicateKey),
        "which id to echo is ambiguous"
    );
    let two_versions = r#"{"jsonrpc":"1.0","jsonrpc":"2.0","id":1,"method":"ping"}"#;
    assert_eq!(invalid(two_versions).1, InvalidReason::DuplicateKey);
}

#[test]
fn duplicate_params_members_the_proxy_reads_are_rejected() {
    let body = request("1", "tools/call", r#"{"name":"safe","name":"dangerous"}"#);
    assert_eq!(
        invalid(&body),
        (Some(JsonRpcId::Number(1)), InvalidReason::DuplicateKey)
    );
    let meta = request(
        "1",
        "tools/call",
        r#"{"name":"a","_meta":{"progressToken":1,"progressToken":2}}"#,
    );
    assert_eq!(
        bad_param(&meta),
        (Some(JsonRpcId::Number(1)), ParamField::Meta)
    );
}

#[test]
fn duplicates_of_members_the_proxy_ignores_are_fine() {
    let info = single(
        r#"{"jsonrpc":"2.0","id":1,"x":1,"x":2,"method":"tools/call","params":{"name":"a","arguments":{},"arguments":{}}}"#,
    );
    assert_eq!(info.tool_name(), Some("a"));
}

// ---- numbers simd-json cannot represent ----------------------------------------------------

#[test]
fn oversized_numbers_in_arguments_are_accepted() {
    let params = r#"{"name":"big","arguments":{"n":123456789012345678901234567890,"m":-99999999999999999999,"f":1e400,"s":"1e400"}}"#;
    let info = single(&request("8", "tools/call", params));
    assert_eq!(info.id, Some(JsonRpcId::Number(8)));
    assert_eq!(info.tool_name(), Some("big"));
}

#[test]
fn oversized_number_does_not_hide_a_malformed_one() {
    let body = request(
        "8",
        "tools/call",
        r#"{"name":"x","arguments":{"n":123456789012345678901234567890,"m":01}}"#,
    );
    assert!(is_parse_error(body.as_bytes()));
}

// ---- reuse and purity ----------------------------------------------------------------------

#[test]
fn input_is_left_untouched() {
    let body = request(
        r#""i\"d""#,
        "tools/call",
        r#"{"name":"e\u0063ho\t","arguments":{"big":1e400}}"#,
    )
    .into_bytes();
    let before = body.clone();
    let info = Inspector::new().inspect(&body).unwrap();
    assert_eq!(body, before);
    assert_eq!(info.messages()[0].tool_name(), Some("echo\t"));
}

#[test]
fn one_inspector_serves_many_calls() {
    let mut inspector = Inspector::with_capacity(64);
    let small = request("1", "tools/call", r#"{"name":"echo"}"#);
    let large = request(
        r#""big""#,
        "tools/call",
        &format!(
            r#"{{"name":"blob","arguments":{{"data":"{}"}}}}"#,
            "x".repeat(32 * 1024)
        ),
    );
    let batch = format!("[{small},{small}]");
    for round in 0..1000_i64 {
        let info = match round % 5 {
            0 => inspector.inspect(large.as_bytes()),
            1 => inspector.inspect(b"{broken"),
            2 => inspector.inspect(batch.as_bytes()),
            3 => inspector.inspect(request(&round.to_string(), "ping", "{}").as_bytes()),
            _ => inspector.inspect(small.as_bytes()),
        };
        match (round % 5, info) {
            (0, Ok(Inspected::Single(info))) => assert_eq!(info.tool_name(), Some("blob")),
            (1, Err(Error::Parse { .. })) => {}
            (2, Ok(Inspected::Batch(infos))) => assert_eq!(infos.len(), 2),
            (3, Ok(Inspected::Single(info))) => assert_eq!(info.id, Some(JsonRpcId::Number(round))),
            (4, Ok(Inspected::Single(info))) => assert_eq!(info.tool_name(), Some("echo")),
            (_, other) => panic!("round {round}: {other:?}"),
        }
    }
}

#[test]
fn huge_body_buffers_are_not_retained() {
    let mut inspector = Inspector::new();
    let huge = request(
        "1",
        "tools/call",
        &format!(
            r#"{{"name":"x","arguments":{{"d":"{}"}}}}"#,
            "y".repeat(2 * RETAIN_SCRATCH_BYTES)
        ),
    );
    assert!(inspector.inspect(huge.as_bytes()).is_ok());
    assert!(inspector.scratch.capacity() <= RETAIN_SCRATCH_BYTES);
    assert!(inspector.tape.0.capacity() <= RETAIN_SCRATCH_BYTES);
    assert!(inspector
        .inspect(request("2", "ping", "{}").as_bytes())
        .is_ok());
}

#[test]
fn message_info_size_is_bounded() {
    // One is built per message on the hot path; keep it from silently growing.
    assert!(
        std::mem::size_of::<MessageInfo>() <= 256,
        "{}",
        std::mem::size_of::<MessageInfo>()
    );
}

#[test]
fn strings_the_proxy_reads_may_not_hold_nul_or_unpaired_surrogates() {
    // simd-json decodes an unpaired surrogate escape to U+0000: the proxy would judge "rm\0"
    // while the upstream runs "rm\ud800".
    for (body, id) in [
        (
            request("1", "tools/call", r#"{"name":"rm\ud800"}"#),
            Some(JsonRpcId::Number(1)),
        ),
        (
            request("1", "tools/call", r#"{"name":"rm\u0000"}"#),
            Some(JsonRpcId::Number(1)),
        ),
        (
            request("1", r"tools/list\ud800", "{}"),
            Some(JsonRpcId::Number(1)),
        ),
    ] {
        assert_eq!(invalid(&body), (id, InvalidReason::UndecodableString));
    }
    // Elsewhere in the body they pass through: the upstream decides.
    let args = request(
        "1",
        "tools/call",
        r#"{"name":"echo","arguments":{"x":"\ud800"}}"#,
    );
    assert!(Inspector::new().inspect(args.as_bytes()).is_ok());
    // A high surrogate before a non-surrogate escape decodes to an astral character in
    // simd-json: refused too, with the message's id.
    let astral = request("1", "tools/call", r#"{"name":"rm\ud800\ue000"}"#);
    assert_eq!(
        invalid(&astral),
        (Some(JsonRpcId::Number(1)), InvalidReason::UndecodableString)
    );
    // A paired surrogate escape is an ordinary character.
    let paired = request("1", "tools/call", r#"{"name":"a\ud83d\ude00"}"#);
    assert!(Inspector::new().inspect(paired.as_bytes()).is_ok());
}
