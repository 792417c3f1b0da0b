//! Spans the inspector reports, and splicing at them: remap then unmap gives the original bytes.

use super::*;
use crate::mcp::{Inspected, Inspector, MessageInfo};

fn info(body: &[u8]) -> MessageInfo {
    match Inspector::new().inspect(body) {
        Ok(Inspected::Single(info)) => info,
        other => panic!("not one message: {other:?}"),
    }
}

fn text(body: &[u8], span: Option<Span>) -> &str {
    std::str::from_utf8(&body[span.expect("span").range()]).unwrap()
}

/// Replaces the id (and token when present) with `n`, then puts the original text back.
fn round_trip(body: &[u8]) {
    let before = info(body);
    let id_text = &body[before.spans.id.expect("id span").range()];
    let token_text = before.spans.progress_token.map(|s| &body[s.range()]);
    let upstream = JsonRpcId::Number(77);
    let mut edits = vec![(before.spans.id.unwrap(), Value::Id(&upstream))];
    if let Some(span) = before.spans.progress_token {
        edits.push((span, Value::Id(&upstream)));
    }
    let remapped = splice(body, &mut edits).unwrap();
    let after = info(&remapped);
    assert_eq!(after.id, Some(upstream.clone()));
    assert_eq!(after.kind, before.kind);
    assert_eq!(after.method, before.method);
    if token_text.is_some() {
        assert_eq!(after.progress_token, Some(upstream.clone()));
    }
    let mut back = vec![(after.spans.id.unwrap(), Value::Raw(id_text))];
    if let (Some(span), Some(text)) = (after.spans.progress_token, token_text) {
        back.push((span, Value::Raw(text)));
    }
    let restored = splice(&remapped, &mut back).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&restored),
        String::from_utf8_lossy(body)
    );
}

#[test]
fn remap_then_unmap_gives_the_original_bytes() {
    let bodies: &[&[u8]] = &[
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        br#"{"jsonrpc":"2.0","id":"a\"b\\c\u0041","method":"ping"}"#,
        br#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}"#,
        br#"{"jsonrpc":"2.0","id":18446744073709551615,"result":{}}"#,
        br#"{"jsonrpc":"2.0","id":-0,"result":{}}"#,
        b"{ \"jsonrpc\" : \"2.0\" ,\n\t\"id\"\r\n :\t \"x\" , \"method\":\"ping\" }",
        br#"{"jsonrpc":"2.0","method":"tools/call","params":{"id":5,"name":"t","arguments":{"id":"inner"}},"id":"after"}"#,
        br#"{"method":"tools/call","params":{"_meta":{"id":1,"progressToken":"tok\n"},"name":"t"},"jsonrpc":"2.0","id":3}"#,
        br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":-12}}}"#,
        br#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"no","data":{"id":9}}}"#,
    ];
    for body in bodies {
        round_trip(body);
    }
}

#[test]
fn nested_keys_named_id_are_not_the_id() {
    let body =
        br#"{"jsonrpc":"2.0","params":{"id":5,"name":"t"},"method":"tools/call","id":"top"}"#;
    assert_eq!(text(body, info(body).spans.id), r#""top""#);
}

#[test]
fn progress_token_spans_follow_the_reported_token() {
    let body = br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"_meta":{"progressToken":1},"progressToken":"p","progress":1}}"#;
    let found = info(body);
    assert_eq!(found.progress_token, Some(JsonRpcId::from("p")));
    assert_eq!(text(body, found.spans.progress_token), r#""p""#);
    let body = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"progressToken":  42 }}}"#;
    assert_eq!(text(body, info(body).spans.progress_token), "42");
    let body =
        br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r\"1"}}"#;
    assert_eq!(text(body, info(body).spans.request_id), r#""r\"1""#);
}

#[test]
fn batch_element_spans_point_into_the_whole_body() {
    let body = br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, {"jsonrpc":"2.0","id":"two","method":"ping"}]"#;
    let Ok(Inspected::Batch(items)) = Inspector::new().inspect(body) else {
        panic!("not a batch");
    };
    assert_eq!(text(body, items[0].spans.id), "1");
    assert_eq!(text(body, items[1].spans.id), r#""two""#);
}

#[test]
fn big_numbers_elsewhere_keep_the_spans() {
    let body = br#"{"jsonrpc":"2.0","params":{"name":"t","arguments":{"n":1e400}},"method":"tools/call","id":12}"#;
    assert_eq!(text(body, info(body).spans.id), "12");
}

#[test]
fn splice_refuses_spans_outside_the_message() {
    let id = JsonRpcId::Number(1);
    let span = Span::new(3..40).unwrap();
    assert!(splice(b"{}", &mut [(span, Value::Id(&id))]).is_none());
}
