//! The schema of interception rules as written (`[[intercept.rules]]` in TOML, the admin
//! API's JSON): serde types, unknown keys rejected.
//!
//! Not here: validation and the compiled form (intercept.rs).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `[intercept]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntercept {
    /// The rules, in order: the first that matches a message decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RawRule>,
}

/// One rule as written (`[[intercept.rules]]`, or an element of the admin API's list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// A name for logs and the paused list (default: `#INDEX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `request` (default), `response` or `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Glob on the JSON-RPC method (an answer is matched by its request's method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Glob on the tool a `tools/call` names (an answer: its call's tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Glob on the caller's principal (`anonymous` on routes without `auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Glob on the client session's id, or its `sha256:…` hash as the paused list shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Glob on the route's path (`/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// JSON pointer conditions on the message (`/params/arguments/path`, `/result/isError`);
    /// all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<RawCondition>,
    /// `continue`, `block`, `mock`, `modify`, `delay` or `pause`.
    pub action: String,
    /// `block` (and a pause defaulting to `block`): the JSON-RPC error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// `block`: the JSON-RPC error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `mock`: the `result` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// `modify`: the RFC 7396 merge patch applied to `params` (a request or notification) or
    /// `result` (an answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Value>,
    /// `delay`: how long (`"500ms"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// `pause`: how long it waits for an operator (default 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `pause`: what happens at the timeout, `continue` (default) or `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// One condition as written: `pointer` and exactly one test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// RFC 6901 pointer into the whole message.
    pub pointer: String,
    /// The value there equals this JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// The value there is a string this regex matches (unanchored: use `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The pointer names a value (`true`) or nothing (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}
