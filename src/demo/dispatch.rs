//! Routing one JSON-RPC request to its method and writing the result (or a JSON-RPC error).
//!
//! Not here: HTTP headers and sessions (`mod.rs`), tool bodies (`tools.rs`), constant catalogue text
//! (`catalog.rs`). Hot path: a `match` on the method name; lists are constant text copied into one `Vec`.

use super::catalog::{
    Resource, Tool, GREET_PROMPT, INITIALIZE_TAIL, PROMPTS_LIST, RESOURCES_LIST,
    RESOURCE_TEMPLATES_LIST, TOOLS_LIST,
};
use super::error::DemoError;
use super::headers::negotiate;
use super::message::{NotAnObject, Obj, Params, RequestId, Scalar};
use super::reply::{begin_result, end_result, result_message, Outcome};
use super::tools;
use crate::mcp::LOG_LEVELS;

/// The method that opens a session; the transport treats it apart (no session needed, one is minted).
pub(super) const INITIALIZE: &str = "initialize";

/// The `initialize` result, answering with the client's version when supported, else the latest.
pub(super) fn initialize(
    id: &RequestId<'_>,
    params: Result<Params<'_>, NotAnObject>,
) -> Result<Vec<u8>, DemoError> {
    let params = object(params)?;
    let requested = required_str(params.protocol_version.as_ref(), "protocolVersion")?;
    let mut out = begin_result(id, INITIALIZE_TAIL.len() + 48);
    out.raw(r#"{"protocolVersion":"#)
        .string(negotiate(requested))
        .raw(INITIALIZE_TAIL)
        .raw("}");
    Ok(end_result(out))
}

/// Every method but `initialize`. Unknown methods get -32601, even with malformed params.
pub(super) fn request(
    id: &RequestId<'_>,
    method: &str,
    params: Result<Params<'_>, NotAnObject>,
) -> Result<Outcome, DemoError> {
    let constant_result = match method {
        "ping" => "{}",
        "tools/list" => TOOLS_LIST,
        "resources/list" => RESOURCES_LIST,
        "resources/templates/list" => RESOURCE_TEMPLATES_LIST,
        "prompts/list" => PROMPTS_LIST,
        "tools/call" => return call_tool(id, object(params)?),
        "resources/read" => return read_resource(id, &object(params)?).map(Outcome::Reply),
        "prompts/get" => return get_prompt(id, object(params)?).map(Outcome::Reply),
        "logging/setLevel" => return set_log_level(id, &object(params)?).map(Outcome::Reply),
        _ => {
            return Err(DemoError::UnknownMethod {
                method: method.to_owned(),
            })
        }
    };
    // Lists take a `cursor` but fit in one page, so it is ignored and no `nextCursor` is sent.
    object(params)?;
    Ok(Outcome::Reply(result_message(id, constant_result)))
}

/// The demo never sends `notifications/message`, so a valid level is acknowledged and needs no state.
fn set_log_level(id: &RequestId<'_>, params: &Params<'_>) -> Result<Vec<u8>, DemoError> {
    let level = required_str(params.level.as_ref(), "level")?;
    if !LOG_LEVELS.contains(&level) {
        return Err(invalid("level", "must be a known log level"));
    }
    Ok(result_message(id, "{}"))
}

fn call_tool(id: &RequestId<'_>, mut params: Params<'_>) -> Result<Outcome, DemoError> {
    let name = required_str(params.name.as_ref(), "name")?;
    let tool = Tool::find(name).ok_or_else(|| DemoError::UnknownTool {
        name: name.to_owned(),
    })?;
    let progress_token = params.progress_token();
    Ok(tools::call(id, tool, params.arguments, progress_token))
}

fn read_resource(id: &RequestId<'_>, params: &Params<'_>) -> Result<Vec<u8>, DemoError> {
    let uri = required_str(params.uri.as_ref(), "uri")?;
    let resource = Resource::find(uri).ok_or_else(|| DemoError::ResourceNotFound {
        uri: uri.to_owned(),
    })?;
    let text = resource.text();
    let mut out = begin_result(id, text.len() + 96);
    out.raw(r#"{"contents":[{"uri":"#)
        .string(resource.uri())
        .raw(r#","mimeType":"#)
        .string(resource.mime_type())
        .raw(r#","text":"#)
        .string(text)
        .raw("}]}");
    Ok(end_result(out))
}

fn get_prompt(id: &RequestId<'_>, params: Params<'_>) -> Result<Vec<u8>, DemoError> {
    let name = required_str(params.name.as_ref(), "name")?;
    if name != GREET_PROMPT {
        return Err(DemoError::UnknownPrompt {
            name: name.to_owned(),
        });
    }
    let arguments = match params.arguments {
        None => None,
        Some(Obj::Object(arguments)) => Some(arguments),
        Some(Obj::NotObject) => return Err(invalid("arguments", "must be an object")),
    };
    let who = match arguments.and_then(|arguments| arguments.name) {
        None => return Err(invalid("arguments.name", "is required")),
        Some(Scalar::Str(who)) => who,
        Some(_) => return Err(invalid("arguments.name", "must be a string")),
    };
    let mut out = begin_result(id, who.len() + 128);
    out.raw(r#"{"description":"Greet someone","messages":[{"role":"user","content":{"type":"text","text":"Please greet "#)
        .display_in_string(&who)
        .raw(r#" warmly."}}]}"#);
    Ok(end_result(out))
}

/// `params` must be an object when present.
fn object(params: Result<Params<'_>, NotAnObject>) -> Result<Params<'_>, DemoError> {
    params.map_err(|NotAnObject| invalid("params", "must be an object"))
}

/// A required string member of `params`.
fn required_str<'p>(
    value: Option<&'p Scalar<'_>>,
    field: &'static str,
) -> Result<&'p str, DemoError> {
    value
        .and_then(Scalar::as_str)
        .ok_or_else(|| invalid(field, "must be a string"))
}

fn invalid(field: &'static str, problem: &'static str) -> DemoError {
    DemoError::InvalidParams { field, problem }
}
