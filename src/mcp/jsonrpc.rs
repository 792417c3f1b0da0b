//! JSON-RPC 2.0 vocabulary: error codes, the request id type, and the writer for error replies.
//!
//! Not here: parsing (see `inspect.rs`), HTTP statuses, deciding *which* error a failure gets.
//! Allocation: `write_error` and `JsonRpcId::write_json` only append to the caller's `Vec<u8>`.

use std::fmt;

/// Invalid JSON was received (JSON-RPC 2.0 §5.1). The reply's id is `null`.
pub const PARSE_ERROR: i32 = -32700;
/// The JSON is not a valid JSON-RPC message (JSON-RPC 2.0 §5.1).
pub const INVALID_REQUEST: i32 = -32600;
/// The method does not exist or is not available (JSON-RPC 2.0 §5.1).
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Invalid method parameters (JSON-RPC 2.0 §5.1); MCP 2026-07-28 also uses it for a missing required `_meta` field.
pub const INVALID_PARAMS: i32 = -32602;
/// Internal JSON-RPC error (JSON-RPC 2.0 §5.1).
pub const INTERNAL_ERROR: i32 = -32603;

/// SDK practice (TypeScript SDK `streamableHttp.ts`), not spec: HTTP 404 "Session not found".
/// It sits in the implementation-defined range `-32000..=-32019`, so peers must not read meaning into it.
pub const SESSION_NOT_FOUND: i32 = -32001;
/// Resource not found (MCP 2024-11-05 … 2025-11-25; retired in 2026-07-28 in favour of `-32602`).
pub const RESOURCE_NOT_FOUND: i32 = -32002;
/// Proxy-chosen: the upstream could not be reached (connect refused, child dead, circuit open).
/// Picked from the implementation-defined range `-32000..=-32019` (MCP 2026-07-28 `schema.ts` reserves
/// `-32020..=-32099` for codes the spec allocates) and away from `-32000`/`-32001`, which SDKs already use.
pub const UPSTREAM_UNAVAILABLE: i32 = -32010;
/// Proxy-chosen: the upstream did not answer in time. Same range reasoning as [`UPSTREAM_UNAVAILABLE`].
pub const UPSTREAM_TIMEOUT: i32 = -32011;
/// Proxy-chosen: the request carries no acceptable credential (HTTP 401, with a
/// `WWW-Authenticate` challenge). Same range reasoning as [`UPSTREAM_UNAVAILABLE`].
pub const UNAUTHENTICATED: i32 = -32012;
/// Proxy-chosen: the credential lacks a scope the endpoint needs (HTTP 403 `insufficient_scope`).
pub const FORBIDDEN: i32 = -32013;
/// Proxy-chosen: the authorization server's signing keys cannot be fetched (HTTP 503).
pub const AUTH_UNAVAILABLE: i32 = -32014;
/// Proxy-chosen: the principal is over the route's rate limit (HTTP 429 with `Retry-After`).
pub const RATE_LIMITED: i32 = -32015;
/// Proxy-chosen: the upstream needs an OAuth access token (`[upstreams.NAME.oauth]`) and the
/// proxy has none valid (its authorization server is unreachable or refuses the proxy): the
/// request was not sent (HTTP 503 with `Retry-After`). Same range reasoning as
/// [`UPSTREAM_UNAVAILABLE`].
pub const UPSTREAM_TOKEN_UNAVAILABLE: i32 = -32016;
/// Proxy-chosen: `audit.required` is set and the audit log cannot be written (HTTP 503).
pub const AUDIT_UNAVAILABLE: i32 = -32017;
/// MCP 2026-07-28: HTTP headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, …) disagree with the body.
pub const HEADER_MISMATCH: i32 = -32020;
/// MCP 2026-07-28: the request needs a client capability it did not declare.
pub const MISSING_CLIENT_CAPABILITY: i32 = -32021;
/// MCP 2026-07-28: the protocol version is unknown or not implemented; `data` = `{supported[], requested}`.
pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;
/// MCP 2025-11-25 only: URL elicitation required.
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// A JSON-RPC request id, kept with its JSON type so a reply echoes the same value *and* type.
///
/// MCP allows strings and integers only ("Requests MUST include a string or integer ID",
/// `basic/index.mdx`); floats, `null`, booleans and containers are rejected by the inspector.
/// Integers are normalised: any value in `i64` range is [`JsonRpcId::Number`], so `5` parsed as
/// unsigned and `5` built by hand compare and hash equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JsonRpcId {
    /// An integer id in `i64` range.
    Number(i64),
    /// An integer id above `i64::MAX` (at most `u64::MAX`); build it with [`JsonRpcId::from_u64`].
    LargeNumber(u64),
    /// A string id, unescaped (it is re-escaped on output, so the JSON value round-trips).
    String(String),
}

/// A progress token (`params._meta.progressToken`): like an id, a string or an integer (`progress.mdx`).
pub type ProgressToken = JsonRpcId;

impl JsonRpcId {
    /// The id a `serde_json` value holds, read as the inspector reads ids (a string, or an
    /// integer that fits `i64` or `u64`); for the cold paths that hold a parsed value.
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        match value {
            serde_json::Value::String(s) => Some(Self::String(s.clone())),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Self::Number)
                .or_else(|| n.as_u64().map(Self::from_u64)),
            _ => None,
        }
    }

    /// The id as a `serde_json` value (same JSON type), for messages built with `json!`.
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Self::Number(n) => (*n).into(),
            Self::LargeNumber(n) => (*n).into(),
            Self::String(s) => s.as_str().into(),
        }
    }

    /// Builds an integer id from an unsigned value, keeping the normalisation invariant.
    pub fn from_u64(value: u64) -> Self {
        match i64::try_from(value) {
            Ok(small) => Self::Number(small),
            Err(_) => Self::LargeNumber(value),
        }
    }

    /// Appends the id as a JSON value (`42`, `"abc"`).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Self::Number(n) => write_i64(out, *n),
            Self::LargeNumber(n) => write_u64(out, *n),
            Self::String(s) => write_json_string(out, s),
        }
    }
}

impl From<i64> for JsonRpcId {
    fn from(value: i64) -> Self {
        Self::Number(value)
    }
}

impl From<&str> for JsonRpcId {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for JsonRpcId {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl fmt::Display for JsonRpcId {
    /// The JSON form: numbers bare, strings quoted and escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut json = Vec::new();
        self.write_json(&mut json);
        f.write_str(&String::from_utf8_lossy(&json))
    }
}

/// Appends `{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":"…"[,"data":…]}}` to `out`.
///
/// `id` is `null` when `None` (parse errors, or a request whose id could not be read). `message` is
/// escaped; `data` must already be valid JSON and is copied verbatim.
pub fn write_error(
    out: &mut Vec<u8>,
    id: Option<&JsonRpcId>,
    code: i32,
    message: &str,
    data: Option<&str>,
) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    match id {
        Some(id) => id.write_json(out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","error":{"code":"#);
    write_i64(out, i64::from(code));
    out.extend_from_slice(br#","message":"#);
    write_json_string(out, message);
    if let Some(data) = data {
        out.extend_from_slice(br#","data":"#);
        out.extend_from_slice(data.as_bytes());
    }
    out.extend_from_slice(b"}}");
}

/// Appends `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":…,"reason":"…"}}`
/// to `out`: tells a peer to stop working on request `id`.
pub fn write_cancelled(out: &mut Vec<u8>, id: &JsonRpcId, reason: &str) {
    out.extend_from_slice(
        br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"#,
    );
    id.write_json(out);
    out.extend_from_slice(br#","reason":"#);
    write_json_string(out, reason);
    out.extend_from_slice(b"}}");
}

/// Appends `s` as a quoted JSON string (RFC 8259 §7): `"` and `\` are escaped, control characters
/// use the short escapes or `\u00XX`. Everything else is copied as UTF-8, so the output never holds
/// a raw newline (safe inside an SSE `data:` line or a stdio frame).
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_json_escaped(out, s);
    out.push(b'"');
}

/// Appends the escaped body of a JSON string (no quotes); see [`write_json_string`].
pub fn write_json_escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut copied_up_to = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(copied_up_to..at).unwrap_or_default());
        copied_up_to = at + 1;
        if short.is_empty() {
            let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(byte >> 4), hex(byte & 0x0f)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(bytes.get(copied_up_to..).unwrap_or_default());
}

/// Appends the decimal form of `n` without going through `fmt` (no `io::Result` to swallow).
pub(crate) fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Appends the decimal form of `n`.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            // `n % 10` < 10, so the cast cannot truncate.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn error_reply(id: Option<&JsonRpcId>, code: i32, message: &str, data: Option<&str>) -> Value {
        let mut out = Vec::new();
        write_error(&mut out, id, code, message, data);
        serde_json::from_slice(&out).expect("write_error must produce valid JSON")
    }

    #[test]
    fn integer_id_is_echoed_as_a_json_number() {
        let reply = error_reply(
            Some(&JsonRpcId::Number(7)),
            METHOD_NOT_FOUND,
            "Method not found",
            None,
        );
        assert_eq!(
            reply,
            json!({"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Method not found"}})
        );
        assert!(reply["id"].is_i64());
    }

    #[test]
    fn string_id_that_looks_numeric_stays_a_string() {
        let reply = error_reply(Some(&JsonRpcId::from("7")), INTERNAL_ERROR, "x", None);
        assert_eq!(reply["id"], json!("7"));
        assert!(reply["id"].is_string());
    }

    #[test]
    fn extreme_integer_ids_round_trip() {
        for id in [i64::MIN, -1, 0, i64::MAX] {
            let reply = error_reply(Some(&JsonRpcId::Number(id)), INTERNAL_ERROR, "x", None);
            assert_eq!(reply["id"].as_i64(), Some(id));
        }
        let large = JsonRpcId::from_u64(u64::MAX);
        assert_eq!(large, JsonRpcId::LargeNumber(u64::MAX));
        let reply = error_reply(Some(&large), INTERNAL_ERROR, "x", None);
        assert_eq!(reply["id"].as_u64(), Some(u64::MAX));
    }

    #[test]
    fn from_u64_normalises_small_values() {
        assert_eq!(JsonRpcId::from_u64(5), JsonRpcId::Number(5));
        assert_eq!(
            JsonRpcId::from_u64(1 << 63),
            JsonRpcId::LargeNumber(1 << 63)
        );
    }

    #[test]
    fn missing_id_is_null() {
        let reply = error_reply(None, PARSE_ERROR, "Parse error", None);
        assert!(reply["id"].is_null());
        assert_eq!(reply["error"]["code"], json!(-32700));
    }

    #[test]
    fn data_is_copied_verbatim() {
        let data = r#"{"supported":["2025-06-18"],"requested":"1999-01-01"}"#;
        let reply = error_reply(
            None,
            UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported",
            Some(data),
        );
        assert_eq!(
            reply["error"]["data"],
            serde_json::from_str::<Value>(data).unwrap()
        );
    }

    #[test]
    fn message_and_string_id_are_escaped() {
        let nasty =
            "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} unicode é 🐈 \u{1f}";
        let id = JsonRpcId::from(nasty);
        let mut out = Vec::new();
        write_error(&mut out, Some(&id), INTERNAL_ERROR, nasty, None);
        assert!(
            !out.contains(&b'\n'),
            "raw newline would break SSE/stdio framing"
        );
        let reply: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(reply["id"], json!(nasty));
        assert_eq!(reply["error"]["message"], json!(nasty));
    }

    #[test]
    fn json_string_matches_serde_json_for_every_control_byte() {
        for byte in 0u8..0x80 {
            let s = format!("a{}b", char::from(byte));
            let mut ours = Vec::new();
            write_json_string(&mut ours, &s);
            let back: String = serde_json::from_slice(&ours).unwrap();
            assert_eq!(back, s, "byte {byte:#04x}");
        }
    }

    #[test]
    fn display_is_the_json_form() {
        assert_eq!(JsonRpcId::Number(-3).to_string(), "-3");
        assert_eq!(JsonRpcId::from("a\"b").to_string(), r#""a\"b""#);
    }

    #[test]
    fn integer_writer_matches_std() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            -1,
            -10,
            1234567890,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            write_i64(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().into_bytes());
    }
}
