//! Shared-mode rewriting: the few JSON values the proxy changes when many client sessions share
//! one child (the request id, the progress token, `notifications/cancelled`'s `requestId`),
//! spliced into the original bytes at the spans the inspector found. Every other byte, key
//! order and whitespace included, stays as the peer wrote it.
//!
//! Not here: deciding what to rewrite (the link's routing), finding the spans (crate::mcp).
//! Allocates: the output `Vec`; [`AsWritten`] keeps a copy only of an id written in an unusual
//! form (escapes, `-0`).

use crate::mcp::spans::{splice, Value};
use crate::mcp::{JsonRpcId, Span, Spans};

/// An id or progress token as its sender wrote it, kept only when writing the parsed value would
/// give other bytes (a string with escapes, `-0`): the way back then restores it byte for byte.
#[derive(Debug, Clone, Default)]
pub(super) struct AsWritten(Option<Box<[u8]>>);

impl AsWritten {
    /// The text at `span` in `message`, if it needs keeping.
    pub(super) fn of(message: &[u8], span: Option<Span>) -> Self {
        let text = span.and_then(|span| message.get(span.range()));
        Self(
            text.filter(|text| text.contains(&b'\\') || *text == b"-0")
                .map(Box::from),
        )
    }

    /// What to write back for `id`, the parsed value of this text.
    pub(super) fn value<'a>(&'a self, id: &'a JsonRpcId) -> Value<'a> {
        match &self.0 {
            Some(text) => Value::Raw(text),
            None => Value::Id(id),
        }
    }
}

/// Replaces the value at `span`; `None` when there is no span.
pub(super) fn set(message: &[u8], span: Option<Span>, value: Value<'_>) -> Option<Vec<u8>> {
    splice(message, &mut [(span?, value)])
}

/// Replaces the top-level `id` and, when there is one, the progress token of a request.
pub(super) fn set_request_ids(
    message: &[u8],
    spans: &Spans,
    id: &JsonRpcId,
    token: Option<&JsonRpcId>,
) -> Option<Vec<u8>> {
    let id = (spans.id?, Value::Id(id));
    match (token, spans.progress_token) {
        (Some(token), Some(span)) => splice(message, &mut [id, (span, Value::Id(token))]),
        _ => splice(message, &mut [id]),
    }
}

/// The raw JSON of `result` in a response, when it has one.
pub(super) fn result_of(message: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(message).ok()?;
    serde_json::to_vec(value.get("result")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::{Inspected, Inspector, MessageInfo};

    fn info(bytes: &[u8]) -> MessageInfo {
        match Inspector::new().inspect(bytes) {
            Ok(Inspected::Single(info)) => info,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_id_and_token_are_replaced_and_the_rest_kept() {
        let body = br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x","_meta":{"progressToken":"t"}}}"#;
        let out = set_request_ids(
            body,
            &info(body).spans,
            &JsonRpcId::Number(7),
            Some(&JsonRpcId::Number(8)),
        )
        .unwrap();
        assert_eq!(
            out,
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":8}}}"#
        );
    }

    #[test]
    fn unusual_ids_come_back_as_written() {
        let body = br#"{"jsonrpc":"2.0","id":"\u0041\/b","method":"ping"}"#;
        let client = info(body);
        let kept = AsWritten::of(body, client.spans.id);
        let upstream = JsonRpcId::Number(3);
        let out = set_request_ids(body, &client.spans, &upstream, None).unwrap();
        let reply = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        let back = set(
            reply,
            info(reply).spans.id,
            kept.value(&JsonRpcId::from("A/b")),
        );
        assert_eq!(
            back.unwrap(),
            br#"{"jsonrpc":"2.0","id":"\u0041\/b","result":{}}"#
        );
        assert_eq!(info(&out).id, Some(upstream));
        assert!(AsWritten::of(br#""plain""#, Span::new(0..7)).0.is_none());
    }

    #[test]
    fn missing_spans_give_none() {
        let body = br#"{"jsonrpc":"2.0","method":"x"}"#;
        let spans = info(body).spans;
        assert!(set_request_ids(body, &spans, &JsonRpcId::Number(1), None).is_none());
        assert!(set(body, spans.progress_token, Value::Id(&JsonRpcId::Number(1))).is_none());
        assert_eq!(
            result_of(br#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#).unwrap(),
            br#"{"a":1}"#
        );
        assert!(result_of(br#"{"jsonrpc":"2.0","id":1,"error":{}}"#).is_none());
    }
}
