//! The messages the `intercept` stage writes: a message with its `params` or `result` changed
//! by an RFC 7396 JSON merge patch ([`patched`]), and the answers the proxy gives in the
//! upstream's place ([`error_answer`] for `block`, [`result_answer`] for `mock`).
//!
//! Not here: deciding which (mod.rs, request.rs, answers.rs).
//! Cold path: only a message a rule changes comes here; it is parsed and written anew whole.

use serde_json::{Map, Value};

use crate::mcp::JsonRpcId;

/// RFC 7396: merges `patch` into `target` (an object member set to `null` is removed; a
/// patch that is not an object replaces the target).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(object) = target else {
        return;
    };
    for (key, value) in members {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// `message` with `patch` merged into its `params` (a request or notification) or `result`
/// (an answer), written anew; `None` when it is not a JSON object or is an error answer.
pub fn patched(message: &Value, patch: &Value) -> Option<Value> {
    let member = patch_member(message)?;
    let mut message = message.clone();
    let object = message.as_object_mut()?;
    merge_patch(object.entry(member).or_insert(Value::Null), patch);
    Some(message)
}

/// The member a merge patch goes into: `params` (a request or notification) or `result` (an
/// answer); `None` for an error answer or anything that is not a JSON object (nothing to
/// patch: `modify` would send it unchanged).
pub fn patch_member(message: &Value) -> Option<&'static str> {
    let object = message.as_object()?;
    if object.contains_key("method") {
        Some("params")
    } else if object.contains_key("result") {
        Some("result")
    } else {
        None
    }
}

/// `{"jsonrpc":"2.0","id":ID,"error":{"code":CODE,"message":MESSAGE}}`.
pub fn error_answer(id: Option<&JsonRpcId>, code: i32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + message.len());
    crate::mcp::jsonrpc::write_error(&mut out, id, code, message, None);
    out
}

/// `{"jsonrpc":"2.0","id":ID,"result":RESULT}`.
pub fn result_answer(id: &JsonRpcId, result: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    id.write_json(&mut out);
    out.extend_from_slice(br#","result":"#);
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, result);
    out.push(b'}');
    out
}

/// The message as bytes.
pub(super) fn to_bytes(message: &Value) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}
