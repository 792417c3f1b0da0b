//! The `tool_filter` stage: a route's allow/deny lists (and the tools its policy hides from a
//! caller). Request side: a `tools/call` of a
//! hidden tool is answered `-32602 Unknown tool: NAME`, as a server answers a tool it does
//! not have, so a client cannot tell a hidden tool from a missing one. Response side: hidden
//! tools are cut out of `tools/list` results; only answers to `tools/list` requests are judged
//! (the caller knows a single request's method; in a batch or forward mode, answers are picked
//! by id, [`hide_in_answers`]), so another answer whose `result.tools` names one keeps its bytes.
//!
//! Not here: which tools are hidden (the caller passes `visible`: the route's `ToolFilter` and
//! its policy for this caller), writing answers.
//! Hot path: a message with neither the bytes `"tools"` nor a `\u` escape (a member name may
//! be written `"t\u006fols"`) costs two SIMD substring scans; a listing is parsed with `serde_json` borrowing the original bytes (`RawValue`), and only a listing
//! that loses a tool is written anew: the kept tools are copied byte for byte.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Refusal, Verdict};
use crate::mcp::{JsonRpcId, Method};

/// The stage's name in `config check`.
pub(super) const NAME: &str = "tool_filter";

/// Request side for one message.
pub(super) fn check_call(
    visible: &dyn Fn(&str) -> bool,
    method: Method,
    name: Option<&str>,
    in_batch: bool,
) -> Verdict {
    match (method, name) {
        (Method::ToolsCall, Some(name)) if !visible(name) => {
            Verdict::Refuse(Refusal::UnknownTool {
                name: name.to_owned(),
                in_batch,
            })
        }
        _ => Verdict::Continue,
    }
}

/// Response side: `message` (one JSON-RPC message or a batch of them) with the hidden tools
/// removed from every `result.tools` array; `None` when nothing was hidden (or the message is
/// not a listing), so the caller forwards the original bytes.
pub(super) fn hide_in_listing(visible: &dyn Fn(&str) -> bool, message: &[u8]) -> Option<Vec<u8>> {
    if !may_list(message) {
        return None;
    }
    hide_in(visible, message, &mut |_| true)
}

/// Like [`hide_in_listing`], for the answers alone (no `method`) whose id `judged` accepts:
/// every other message, or batch element, keeps its bytes. `judged` is asked once per answer
/// with a readable id, whatever it holds (forward mode forgets an id it was asked about).
pub(super) fn hide_in_answers(
    visible: &dyn Fn(&str) -> bool,
    message: &[u8],
    judged: &mut dyn FnMut(&JsonRpcId) -> bool,
) -> Option<Vec<u8>> {
    hide_in(visible, message, &mut |text| {
        answer_id(text).is_some_and(|id| judged(&id))
    })
}

/// Whether `message` can hold a listing: the bytes `"tools"` or a `\u` escape (a member name
/// may be written `"t\u006fols"`).
pub(super) fn may_list(message: &[u8]) -> bool {
    memchr::memmem::find(message, b"\"tools\"").is_some()
        || memchr::memmem::find(message, b"\\u").is_some()
}

/// The messages of `message` (one, or a batch's elements) that `judged` accepts, cut.
fn hide_in(
    visible: &dyn Fn(&str) -> bool,
    message: &[u8],
    judged: &mut dyn FnMut(&str) -> bool,
) -> Option<Vec<u8>> {
    // Invalid UTF-8 (say, a Latin-1 description) must not let a listing through uncut: judge
    // the lossy text; only a listing that changes is written, so valid bytes go on untouched.
    let text = String::from_utf8_lossy(message);
    let text = text.as_ref();
    let mut one = |text: &str| judged(text).then(|| hide_in_one(visible, text)).flatten();
    if text.trim_start().starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
        let mut changed = false;
        let parts: Vec<Cow<'_, str>> = items
            .iter()
            .map(|item| match one(item.get()) {
                Some(new) => {
                    changed = true;
                    Cow::Owned(new)
                }
                None => Cow::Borrowed(item.get()),
            })
            .collect();
        return changed.then(|| format!("[{}]", parts.join(",")).into_bytes());
    }
    one(text).map(String::into_bytes)
}

/// The members an answer is told from a request or notification by.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a RawValue>,
}

/// The id of one answer (a message without `method`), read as clients read it (duplicate
/// keys: the last wins); `None` for requests, notifications and unreadable ids.
fn answer_id(text: &str) -> Option<JsonRpcId> {
    let id = match serde_json::from_str::<Answer<'_>>(text) {
        Ok(Answer {
            method: Some(_), ..
        }) => return None,
        Ok(Answer { id, .. }) => serde_json::from_str(id?.get()).ok()?,
        Err(_) => {
            let value: serde_json::Value = serde_json::from_str(text).ok()?;
            if value.get("method").is_some() {
                return None;
            }
            value.get("id")?.clone()
        }
    };
    JsonRpcId::from_value(&id)
}

/// The JSON-RPC members a listing is found by.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Listing<'a> {
    #[serde(borrow)]
    tools: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

/// One message: `Some(rewritten)` when its `result.tools` lost at least one tool.
fn hide_in_one(visible: &dyn Fn(&str) -> bool, text: &str) -> Option<String> {
    match serde_json::from_str::<Envelope<'_>>(text) {
        Ok(envelope) => splice(visible, text, envelope),
        // Not an object with at most one `result` (duplicate keys, which JavaScript and Python
        // clients read as "the last one wins"): judged the way they read it.
        Err(_) => hide_in_value(visible, text),
    }
}

/// The fast form: the kept tools are copied byte for byte into the original text.
fn splice(visible: &dyn Fn(&str) -> bool, text: &str, envelope: Envelope<'_>) -> Option<String> {
    let Ok(listing) = serde_json::from_str::<Listing<'_>>(envelope.result?.get()) else {
        return hide_in_value(visible, text);
    };
    let array = listing.tools?.get();
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(array) else {
        return hide_in_value(visible, text);
    };
    let before = items.len();
    let kept: Vec<&str> = items
        .into_iter()
        // A tool whose name cannot be read is not shown: the filter fails closed.
        .filter(|item| {
            serde_json::from_str::<Named<'_>>(item.get())
                .ok()
                .and_then(|named| named.name)
                .is_some_and(|name| visible(&name))
        })
        .map(|item| item.get())
        .collect();
    if kept.len() == before {
        return None;
    }
    // `array` borrows `text` (RawValue keeps the original bytes): splice the new array in.
    let start = (array.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(array.len())?;
    let mut out = String::with_capacity(text.len());
    out.push_str(text.get(..start)?);
    out.push('[');
    out.push_str(&kept.join(","));
    out.push(']');
    out.push_str(text.get(end..)?);
    Some(out)
}

/// The slow form, for messages the borrowing parse refuses: a `serde_json::Value` (duplicate
/// keys: the last wins), filtered and written anew when a tool goes.
fn hide_in_value(visible: &dyn Fn(&str) -> bool, text: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    let list = value.get_mut("result")?.get_mut("tools")?.as_array_mut()?;
    let before = list.len();
    list.retain(|tool| {
        tool.get("name")
            .and_then(serde_json::Value::as_str)
            .is_some_and(visible)
    });
    (list.len() != before).then(|| value.to_string())
}

#[cfg(test)]
#[path = "tool_filter_tests.rs"]
mod tests;
