//! `Mcp-Param-{Name}` headers (2026-07-28 §"Custom Headers from Tool Parameters"): which tool
//! arguments a tool's `inputSchema` marks with `x-mcp-header`, whether those marks are valid,
//! the tools of a `tools/list` result, and the headers a `tools/call` carries for its
//! arguments (values encoded with [`header_value`]); a `tools/list` answer without the tools
//! whose annotations are invalid.
//!
//! Not here: the per-upstream cache and the upstream `tools/list` (tools.rs), writing the
//! headers (wire.rs).
//!
//! A schema is parsed into a `serde_json::Value` only when its text can hold an annotation
//! (it names `x-mcp-header`, or has `\u` escapes); arguments are walked as raw JSON, so a
//! value's text is read without re-serializing anything.

pub use super::super::state::l2m::{ParamHeader, ToolParams};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::wire::header_value;

/// The schema keyword naming a mirrored argument.
pub const ANNOTATION: &str = "x-mcp-header";
/// The prefix of a mirrored argument's header name.
pub const PREFIX: &str = "Mcp-Param-";

/// The tools of one `tools/list` result page.
#[derive(Debug, Default)]
pub struct Page {
    /// Each tool's name and annotations, in the order listed.
    pub tools: Vec<(String, ToolParams)>,
    /// `nextCursor`, when there are more pages.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListResponse<'a> {
    #[serde(borrow)]
    result: Option<ListResult<'a>>,
}

#[derive(Deserialize)]
struct ListResult<'a> {
    #[serde(borrow, default)]
    tools: Vec<ToolDef<'a>>,
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ToolDef<'a> {
    name: String,
    #[serde(borrow, rename = "inputSchema")]
    input_schema: Option<&'a RawValue>,
}

/// The tools of a `tools/list` response; `None` when `message` is no result (an error, or not
/// a JSON-RPC response with a `tools` array of named tools).
pub fn list_page(message: &[u8]) -> Option<Page> {
    let response: ListResponse<'_> = serde_json::from_slice(message).ok()?;
    let result = response.result?;
    let tools = result
        .tools
        .into_iter()
        .map(|tool| {
            let params = tool.input_schema.map(annotations).unwrap_or_default();
            (tool.name, params)
        })
        .collect();
    Some(Page {
        tools,
        next_cursor: result.next_cursor,
    })
}

/// The `x-mcp-header` annotations of one `inputSchema` (raw JSON).
pub fn annotations(schema: &RawValue) -> ToolParams {
    let text = schema.get();
    if !text.contains(ANNOTATION) && !text.contains("\\u") {
        return ToolParams::default();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(root)) => from_schema(&root),
        _ => ToolParams::default(),
    }
}

fn from_schema(root: &serde_json::Map<String, Value>) -> ToolParams {
    let mut found = Vec::new();
    collect(root.get("properties"), &mut Vec::new(), &mut found);
    let mut invalid = None;
    let mut note = |reason: String| {
        if invalid.is_none() {
            invalid = Some(reason);
        }
    };
    if root.contains_key(ANNOTATION) {
        note(format!(
            "{ANNOTATION} must annotate a property, not the schema root"
        ));
    }
    if off_chain(root, true) {
        note(format!(
            "{ANNOTATION} must sit on a chain of `properties` keys from the root"
        ));
    }
    let mut seen = HashSet::new();
    let mut headers = Vec::new();
    for (path, schema, annotation) in found {
        let prop = path.join(".");
        let Value::String(name) = annotation else {
            note(format!("property `{prop}`: {ANNOTATION} must be a string"));
            continue;
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            note(format!(
                "property `{prop}`: {ANNOTATION} {name:?} is not an HTTP token"
            ));
            continue;
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            note(format!(
                "property `{prop}`: duplicate {ANNOTATION} {name:?} (case-insensitive)"
            ));
        }
        if !primitive(schema) {
            note(format!(
                "property `{prop}`: {ANNOTATION} needs a string, integer or boolean type"
            ));
        }
        headers.push(ParamHeader {
            path: path.into_iter().map(str::to_owned).collect(),
            name: name.clone(),
        });
    }
    ToolParams { headers, invalid }
}

type Found<'a> = (Vec<&'a str>, &'a Value, &'a Value);

/// Every annotation along `properties` chains from the root (nested ones included).
fn collect<'a>(properties: Option<&'a Value>, path: &mut Vec<&'a str>, out: &mut Vec<Found<'a>>) {
    let Some(Value::Object(properties)) = properties else {
        return;
    };
    for (name, schema) in properties {
        path.push(name);
        if let Some(annotation) = schema.get(ANNOTATION) {
            out.push((path.clone(), schema, annotation));
        }
        collect(schema.get("properties"), path, out);
        path.pop();
    }
}

/// The property's `type` is string, integer or boolean (alone, or with `"null"`).
fn primitive(schema: &Value) -> bool {
    let ok = |t: &str| matches!(t, "string" | "integer" | "boolean");
    match schema.get("type") {
        Some(Value::String(t)) => ok(t),
        Some(Value::Array(types)) => {
            let named: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            named.len() == types.len()
                && named.iter().filter(|t| **t != "null").count() == 1
                && named.iter().all(|t| *t == "null" || ok(t))
        }
        _ => false,
    }
}

/// True when `schema` holds an annotation off the `properties` chain (`on_chain`: `schema` is
/// the root or reached from it through `properties` keys alone).
fn off_chain(schema: &serde_json::Map<String, Value>, on_chain: bool) -> bool {
    schema.iter().any(|(key, value)| match key.as_str() {
        ANNOTATION => !on_chain,
        "properties" => map_off_chain(value, on_chain),
        "$defs" | "definitions" | "dependencies" | "dependentSchemas" | "patternProperties" => {
            map_off_chain(value, false)
        }
        // Instance data or property names, not subschemas.
        "default" | "const" | "enum" | "examples" | "dependentRequired" | "required" => false,
        _ => sub_off_chain(value),
    })
}

fn map_off_chain(map: &Value, on_chain: bool) -> bool {
    map.as_object().is_some_and(|map| {
        map.values().any(|schema| match schema {
            Value::Object(schema) => off_chain(schema, on_chain),
            other => sub_off_chain(other),
        })
    })
}

fn sub_off_chain(value: &Value) -> bool {
    match value {
        Value::Object(schema) => off_chain(schema, false),
        Value::Array(items) => items.iter().any(sub_off_chain),
        _ => false,
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A `tools/list` response without the tools whose annotations are invalid (a 2026 client
/// MUST leave them out: 2026-07-28 §Schema Extension), each logged with its reason; `None` when
/// nothing is left out (the response then goes on byte for byte).
pub fn without_invalid(message: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(message).ok()?;
    if !text.contains(ANNOTATION) && !text.contains("\\u") {
        return None;
    }
    let mut fields: BTreeMap<Cow<'_, str>, &RawValue> = serde_json::from_slice(message).ok()?;
    let mut result: BTreeMap<Cow<'_, str>, &RawValue> =
        serde_json::from_str(fields.get("result")?.get()).ok()?;
    let tools: Vec<&RawValue> = serde_json::from_str(result.get("tools")?.get()).ok()?;
    let before = tools.len();
    let kept: Vec<&RawValue> = tools
        .into_iter()
        .filter(|tool| {
            let Ok(def) = serde_json::from_str::<ToolDef<'_>>(tool.get()) else {
                return true;
            };
            let Some(reason) = def.input_schema.map(annotations).and_then(|p| p.invalid) else {
                return true;
            };
            tracing::warn!(tool = %def.name, reason, "tool left out of tools/list: invalid x-mcp-header");
            false
        })
        .collect();
    if kept.len() == before {
        return None;
    }
    let tools_json = RawValue::from_string(serde_json::to_string(&kept).ok()?).ok()?;
    result.insert("tools".into(), &tools_json);
    let result_json = RawValue::from_string(serde_json::to_string(&result).ok()?).ok()?;
    fields.insert("result".into(), &result_json);
    serde_json::to_vec(&fields).ok()
}

#[derive(Deserialize)]
struct Call<'a> {
    #[serde(borrow)]
    params: Option<CallParams<'a>>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// The `Mcp-Param-*` headers (name, encoded value) of a `tools/call` body for `params`: one per
/// annotated argument holding a string, number or boolean; none for an absent or `null` one.
pub fn call_headers(body: &[u8], params: &ToolParams) -> Vec<(String, String)> {
    if params.headers.is_empty() {
        return Vec::new();
    }
    let Some(arguments) = serde_json::from_slice::<Call<'_>>(body)
        .ok()
        .and_then(|call| call.params)
        .and_then(|p| p.arguments)
    else {
        return Vec::new();
    };
    params
        .headers
        .iter()
        .filter_map(|header| {
            let value = value_at(arguments, &header.path)?;
            let text = text_of(value)?;
            Some((
                format!("{PREFIX}{}", header.name),
                header_value(&text).into_owned(),
            ))
        })
        .collect()
}

/// The raw value at `path` in `arguments`.
fn value_at<'a>(arguments: &'a RawValue, path: &[String]) -> Option<&'a RawValue> {
    path.iter().try_fold(arguments, |current, key| {
        let object: BTreeMap<Cow<'a, str>, &'a RawValue> =
            serde_json::from_str(current.get()).ok()?;
        object.get(key.as_str()).copied()
    })
}

/// A primitive's header text: a string's characters, `true`/`false`, a number as written;
/// `None` for `null`, objects and arrays.
fn text_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        b't' | b'f' | b'-' | b'0'..=b'9' => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
