//! The bytes a translated request carries upstream: the client's message with the 2026-07-28
//! `_meta` fields added (and, on an MRTR retry, a new id plus `inputResponses`/`requestState`),
//! the mirrored headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, with the
//! `=?base64?…?=` form for values that are not header-safe), and the `server/discover` probe.
//!
//! Not here: sending (upstream.rs), deciding what to send (post.rs, mrtr.rs).
//! Values the proxy does not change (ids, arguments, the upstream's `requestState`) are copied
//! as raw JSON text, byte for byte; only the object holding them is re-serialized.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::super::headers::{
    forwarded_upstream, push_framing, push_header as push, upstream_start, OutFraming,
};
use crate::config::{UpstreamHeaders, UpstreamUrl};
use crate::http::{Head, RequestHead};

/// The 2026-07-28 protocol version every translated request names.
pub const MODERN: &str = "2026-07-28";
/// `_meta` key of the protocol version.
pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client capabilities.
pub const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the client info.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of the log level.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key of the server info in results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// What the legacy client declared in `initialize`, added to every request's `_meta`.
#[derive(Debug, Clone, Copy)]
pub struct ClientMeta<'a> {
    /// `capabilities` from `initialize` (raw JSON object).
    pub capabilities: &'a RawValue,
    /// `clientInfo` from `initialize` (raw JSON object).
    pub client_info: &'a RawValue,
    /// The level set with `logging/setLevel`, if any.
    pub log_level: Option<&'a str>,
}

/// What an MRTR retry adds to the original request.
#[derive(Debug, Clone, Copy)]
pub struct Retry<'a> {
    /// The retry's new JSON-RPC id (raw JSON).
    pub id: &'a RawValue,
    /// `inputResponses`: key → the client's result (raw JSON).
    pub responses: &'a [(String, Box<RawValue>)],
    /// `requestState` exactly as the upstream sent it (raw JSON).
    pub state: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: &'a RawValue,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// The client's request rewritten for a modern upstream.
///
/// # Errors
/// The body is not a JSON-RPC message object, or its `params`/`_meta` is not an object.
pub fn upstream_body(
    client: &[u8],
    meta: &ClientMeta<'_>,
    retry: Option<&Retry<'_>>,
) -> Result<Vec<u8>, serde_json::Error> {
    let message: Message<'_> = serde_json::from_slice(client)?;
    let mut params: BTreeMap<Cow<'_, str>, &RawValue> = match message.params {
        Some(raw) => serde_json::from_str(raw.get())?,
        None => BTreeMap::new(),
    };
    let mut meta_fields: BTreeMap<Cow<'_, str>, &RawValue> = match params.get("_meta") {
        Some(raw) => serde_json::from_str(raw.get())?,
        None => BTreeMap::new(),
    };
    let version = RawValue::from_string(format!("\"{MODERN}\""))?;
    let level = match meta.log_level {
        Some(level) => Some(RawValue::from_string(serde_json::to_string(level)?)?),
        None => None,
    };
    meta_fields.insert(META_VERSION.into(), &version);
    meta_fields.insert(META_CAPABILITIES.into(), meta.capabilities);
    meta_fields.insert(META_CLIENT_INFO.into(), meta.client_info);
    if let Some(level) = &level {
        meta_fields.insert(META_LOG_LEVEL.into(), level);
    }
    let meta_json = RawValue::from_string(serde_json::to_string(&meta_fields)?)?;
    params.insert("_meta".into(), &meta_json);
    let responses;
    if let Some(retry) = retry {
        let map: BTreeMap<&str, &RawValue> = retry
            .responses
            .iter()
            .map(|(key, value)| (key.as_str(), &**value))
            .collect();
        responses = RawValue::from_string(serde_json::to_string(&map)?)?;
        params.insert("inputResponses".into(), &responses);
        match retry.state {
            Some(state) => params.insert("requestState".into(), state),
            None => params.remove("requestState"),
        };
    }
    let mut out = Vec::with_capacity(client.len() + 256);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","#);
    if let Some(id) = retry.map(|r| r.id).or(message.id) {
        out.extend_from_slice(br#""id":"#);
        out.extend_from_slice(id.get().as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(br#""method":"#);
    out.extend_from_slice(message.method.get().as_bytes());
    out.extend_from_slice(br#","params":"#);
    serde_json::to_writer(&mut out, &params)?;
    out.push(b'}');
    Ok(out)
}

/// `message` (a JSON-RPC response) with its `id` replaced by `id`: an MRTR retry's final
/// answer goes back under the client's original id.
///
/// # Errors
/// `message` is not a JSON object.
pub fn with_id(message: &[u8], id: &crate::mcp::JsonRpcId) -> Result<Vec<u8>, serde_json::Error> {
    let mut fields: BTreeMap<Cow<'_, str>, &RawValue> = serde_json::from_slice(message)?;
    let mut id_json = Vec::with_capacity(24);
    id.write_json(&mut id_json);
    let id_raw = RawValue::from_string(String::from_utf8_lossy(&id_json).into_owned())?;
    fields.insert("id".into(), &id_raw);
    serde_json::to_vec(&fields)
}

/// A listen notification as a legacy one: `params._meta.subscriptionId` dropped (and `_meta`
/// with it when nothing else is left); returns `message` untouched when it has none.
///
/// # Errors
/// `message` is not a JSON object (or its `params`/`_meta` is not one).
pub fn strip_subscription_id(message: &[u8]) -> Result<Cow<'_, [u8]>, serde_json::Error> {
    let mut fields: BTreeMap<Cow<'_, str>, &RawValue> = serde_json::from_slice(message)?;
    let Some(params_raw) = fields.get("params") else {
        return Ok(Cow::Borrowed(message));
    };
    let mut params: BTreeMap<Cow<'_, str>, &RawValue> = serde_json::from_str(params_raw.get())?;
    let Some(meta_raw) = params.get("_meta") else {
        return Ok(Cow::Borrowed(message));
    };
    let mut meta: BTreeMap<Cow<'_, str>, &RawValue> = serde_json::from_str(meta_raw.get())?;
    if meta.remove("subscriptionId").is_none() {
        return Ok(Cow::Borrowed(message));
    }
    let meta_json;
    if meta.is_empty() {
        params.remove("_meta");
    } else {
        meta_json = RawValue::from_string(serde_json::to_string(&meta)?)?;
        params.insert("_meta".into(), &meta_json);
    }
    let params_json = RawValue::from_string(serde_json::to_string(&params)?)?;
    fields.insert("params".into(), &params_json);
    Ok(Cow::Owned(serde_json::to_vec(&fields)?))
}

/// The `subscriptions/listen` request for a legacy session's GET stream (the proxy adds the
/// client's `_meta` with [`upstream_body`]).
pub fn listen_body(
    id: &str,
    tools: bool,
    prompts: bool,
    resources: bool,
    subscriptions: &[&str],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    crate::mcp::write_json_string(&mut out, id);
    out.extend_from_slice(br#","method":"subscriptions/listen","params":{"notifications":{"#);
    let mut first = true;
    for (name, on) in [
        ("toolsListChanged", tools),
        ("promptsListChanged", prompts),
        ("resourcesListChanged", resources),
    ] {
        if on {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":true");
        }
    }
    if !subscriptions.is_empty() {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(br#""resourceSubscriptions":["#);
        for (n, uri) in subscriptions.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            crate::mcp::write_json_string(&mut out, uri);
        }
        out.push(b']');
    }
    out.extend_from_slice(b"}}}");
    out
}

/// What an upstream message is, read without copying its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A response (`result` or `error`).
    Response,
    /// A notification (`method`, no `id`).
    Notification,
    /// A request (`method` and `id`): the 2026 transport allows none on a request's stream.
    Request,
    /// Anything else.
    Other,
}

/// Classifies an upstream message.
pub fn shape(message: &[u8]) -> Shape {
    #[derive(Deserialize)]
    struct Fields<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
        #[serde(borrow)]
        method: Option<&'a RawValue>,
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        #[serde(borrow)]
        error: Option<&'a RawValue>,
    }
    match serde_json::from_slice::<Fields<'_>>(message) {
        Ok(f) if f.result.is_some() || f.error.is_some() => Shape::Response,
        Ok(f) if f.method.is_some() && f.id.is_some() => Shape::Request,
        Ok(f) if f.method.is_some() => Shape::Notification,
        _ => Shape::Other,
    }
}

/// The `server/discover` probe, declaring `meta` (the initializing client's capabilities and
/// info, so the answer describes what that client will see).
///
/// # Errors
/// Only if `meta` holds invalid JSON (it never does: it came from a parsed message).
pub fn discover_body(meta: &ClientMeta<'_>) -> Result<Vec<u8>, serde_json::Error> {
    upstream_body(
        br#"{"jsonrpc":"2.0","id":"shadowcat-discover","method":"server/discover"}"#,
        meta,
        None,
    )
}

/// Request headers taken over from the client: everything end-to-end except what no upstream
/// ever gets (`headers::DROP_UPSTREAM`: credentials, cookies, `Origin`, `Accept-Encoding`,
/// framing, the session) and what the proxy sets itself here (content negotiation and coding —
/// the body is the proxy's rewrite —, the mirrored MCP headers, resumption).
const NOT_FORWARDED: &[&str] = &[
    "content-type",
    "content-encoding",
    "accept",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

fn forwarded(client: &RequestHead, field: &[u8], configured: &UpstreamHeaders) -> bool {
    forwarded_upstream(client, field, configured)
        && !NOT_FORWARDED
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(field))
        && !is_param_header(field)
}

/// Appends the upstream POST head for a translated request: the upstream's `configured`
/// headers, the client's end-to-end headers (never its credentials: DESIGN §3.7, nor one a
/// configured header replaces), then `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` when given.
pub fn request_head(
    out: &mut Vec<u8>,
    (url, configured): (&UpstreamUrl, &UpstreamHeaders),
    client: &RequestHead,
    method: &str,
    name: Option<&str>,
    body_len: usize,
) {
    request_head_with(out, (url, configured), client, method, name, &[], body_len);
}

/// [`request_head`] plus `params` (the `Mcp-Param-*` headers of a `tools/call`, values already
/// encoded). The client's own `Mcp-Param-*` headers are never forwarded: on a translated
/// request the proxy is the 2026 client and computes them from the body.
pub fn request_head_with(
    out: &mut Vec<u8>,
    (url, configured): (&UpstreamUrl, &UpstreamHeaders),
    client: &RequestHead,
    method: &str,
    name: Option<&str>,
    params: &[(String, String)],
    body_len: usize,
) {
    upstream_start(out, "POST", url, configured);
    for (field, value) in client
        .headers()
        .filter(|(field, _)| forwarded(client, field, configured))
    {
        push(out, field, value);
    }
    push(out, b"Content-Type", b"application/json");
    push(out, b"Accept", b"application/json, text/event-stream");
    push(out, b"MCP-Protocol-Version", MODERN.as_bytes());
    push(out, b"Mcp-Method", header_value(method).as_bytes());
    if let Some(name) = name {
        push(out, b"Mcp-Name", header_value(name).as_bytes());
    }
    for (field, value) in params {
        push(out, field.as_bytes(), value.as_bytes());
    }
    push_framing(out, OutFraming::Length(body_len as u64));
    out.extend_from_slice(b"\r\n");
}

/// `Mcp-Param-*`, any case.
fn is_param_header(field: &[u8]) -> bool {
    field
        .get(..10)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"mcp-param-"))
}

/// A mirrored header's value: as is when it is plain header-safe ASCII, else
/// `=?base64?<Base64 of the UTF-8 bytes>?=` (2026-07-28 §Value Encoding: non-ASCII, control
/// characters, leading/trailing whitespace, and values that look like the sentinel).
pub fn header_value(value: &str) -> Cow<'_, str> {
    let bytes = value.as_bytes();
    let plain = !bytes.is_empty()
        && bytes.iter().all(|b| (0x20..0x7f).contains(b))
        && bytes.first() != Some(&b' ')
        && bytes.last() != Some(&b' ')
        && !value.starts_with("=?");
    if plain || value.is_empty() {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 16);
    out.push_str("=?base64?");
    base64(bytes, &mut out);
    out.push_str("?=");
    Cow::Owned(out)
}

/// Standard Base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |n: u32| char::from(ALPHABET.get(n as usize & 63).copied().unwrap_or(b'A'));
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let bits = (b0 << 16) | (b1 << 8) | b2;
        out.push(sextet(bits >> 18));
        out.push(sextet(bits >> 12));
        out.push(if chunk.len() > 1 {
            sextet(bits >> 6)
        } else {
            '='
        });
        out.push(if chunk.len() > 2 { sextet(bits) } else { '=' });
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
