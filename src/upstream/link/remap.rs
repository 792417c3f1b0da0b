//! Shared-mode rewriting: the few JSON fields the proxy changes when many client sessions share
//! one child (the request id, the progress token, `notifications/cancelled`'s `requestId`).
//!
//! Not here: deciding what to rewrite (the link's routing). Only messages the proxy changes are
//! written anew (serde_json); everything else is forwarded as the original bytes.

use serde_json::Value;

use crate::mcp::JsonRpcId;

/// The JSON value of an id or progress token.
pub(super) fn id_value(id: &JsonRpcId) -> Value {
    match id {
        JsonRpcId::Number(n) => Value::from(*n),
        JsonRpcId::LargeNumber(n) => Value::from(*n),
        JsonRpcId::String(s) => Value::from(s.as_str()),
    }
}

/// Parses `message`, lets `edit` change it, serializes it again; `None` when it is not a JSON
/// object or `edit` found nothing to change.
fn rewrite(message: &[u8], edit: impl FnOnce(&mut Value) -> bool) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(message).ok()?;
    if !value.is_object() || !edit(&mut value) {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

/// Replaces the top-level `id`.
pub(super) fn set_id(message: &[u8], id: &JsonRpcId) -> Option<Vec<u8>> {
    rewrite(message, |value| {
        value
            .get_mut("id")
            .map(|slot| *slot = id_value(id))
            .is_some()
    })
}

/// Replaces the top-level `id` and, when present, `params._meta.progressToken` of a request.
pub(super) fn set_request_ids(
    message: &[u8],
    id: &JsonRpcId,
    token: Option<&JsonRpcId>,
) -> Option<Vec<u8>> {
    rewrite(message, |value| {
        if let (Some(token), Some(slot)) = (token, value.pointer_mut("/params/_meta/progressToken"))
        {
            *slot = id_value(token);
        }
        value
            .get_mut("id")
            .map(|slot| *slot = id_value(id))
            .is_some()
    })
}

/// Replaces `params.progressToken` of a `notifications/progress`.
pub(super) fn set_progress_token(message: &[u8], token: &JsonRpcId) -> Option<Vec<u8>> {
    rewrite(message, |value| {
        value
            .pointer_mut("/params/progressToken")
            .map(|slot| *slot = id_value(token))
            .is_some()
    })
}

/// Replaces `params.requestId` of a `notifications/cancelled`.
pub(super) fn set_cancelled_request_id(message: &[u8], id: &JsonRpcId) -> Option<Vec<u8>> {
    rewrite(message, |value| {
        value
            .pointer_mut("/params/requestId")
            .map(|slot| *slot = id_value(id))
            .is_some()
    })
}

/// The raw JSON of `result` in a response, when it has one.
pub(super) fn result_of(message: &[u8]) -> Option<Vec<u8>> {
    let value: Value = serde_json::from_slice(message).ok()?;
    serde_json::to_vec(value.get("result")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn request_id_and_token_are_replaced_and_the_rest_kept() {
        let out = set_request_ids(
            br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x","_meta":{"progressToken":"t"}}}"#,
            &JsonRpcId::Number(7),
            Some(&JsonRpcId::Number(7)),
        )
        .unwrap();
        let v = json(&out);
        assert_eq!(v["id"], 7);
        assert_eq!(v["params"]["_meta"]["progressToken"], 7);
        assert_eq!(v["params"]["name"], "x");
    }

    #[test]
    fn ids_round_trip_with_their_json_type() {
        let out = set_id(
            br#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            &JsonRpcId::from("3"),
        )
        .unwrap();
        assert_eq!(json(&out)["id"], "3");
        let big = JsonRpcId::from_u64(u64::MAX);
        let out = set_id(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#, &big).unwrap();
        assert_eq!(json(&out)["id"], u64::MAX);
    }

    #[test]
    fn progress_and_cancel_fields() {
        let out = set_progress_token(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":9,"progress":1}}"#,
            &JsonRpcId::from("tok"),
        )
        .unwrap();
        assert_eq!(json(&out)["params"]["progressToken"], "tok");
        let out = set_cancelled_request_id(
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}"#,
            &JsonRpcId::Number(12),
        )
        .unwrap();
        assert_eq!(json(&out)["params"]["requestId"], 12);
    }

    #[test]
    fn missing_fields_and_non_objects_give_none() {
        assert!(set_id(br#"{"jsonrpc":"2.0","method":"x"}"#, &JsonRpcId::Number(1)).is_none());
        assert!(set_id(b"[1]", &JsonRpcId::Number(1)).is_none());
        assert!(set_progress_token(b"{}", &JsonRpcId::Number(1)).is_none());
        assert_eq!(
            result_of(br#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#).unwrap(),
            br#"{"a":1}"#
        );
        assert!(result_of(br#"{"jsonrpc":"2.0","id":1,"error":{}}"#).is_none());
    }
}
