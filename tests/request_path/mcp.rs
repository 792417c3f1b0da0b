//! MCP shapes the request-path tests send: the headers of a Streamable HTTP client, JSON-RPC
//! bodies, `initialize` → session, and 2026-07-28 stateless requests with their mirror headers.
//!
//! Not here: framing (client.rs), starting the proxy (harness.rs).

use serde_json::{json, Value};

use crate::client::{Conn, Response};

/// What a Streamable HTTP client accepts on POST.
pub(crate) const ACCEPT_BOTH: &str = "application/json, text/event-stream";
/// The session-era version the tests negotiate.
pub(crate) const VERSION: &str = "2025-06-18";
/// The stateless era.
pub(crate) const MODERN: &str = "2026-07-28";
/// The proxy's endpoint in every test configuration.
pub(crate) const PATH: &str = "/mcp";

/// A JSON-RPC request body.
pub(crate) fn request(id: Value, method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        .to_string()
        .into_bytes()
}

/// A JSON-RPC notification body.
pub(crate) fn notification(method: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "method": method})
        .to_string()
        .into_bytes()
}

/// The `initialize` request of a 2025-06-18 client without capabilities.
pub(crate) fn initialize(id: Value) -> Vec<u8> {
    initialize_with(id, json!({}))
}

/// The `initialize` request of a 2025-06-18 client declaring `capabilities`.
pub(crate) fn initialize_with(id: Value, capabilities: Value) -> Vec<u8> {
    request(
        id,
        "initialize",
        json!({
            "protocolVersion": VERSION,
            "capabilities": capabilities,
            "clientInfo": {"name": "request-path-tests", "version": "0"}
        }),
    )
}

/// `tools/call echo {message}`.
pub(crate) fn echo(id: Value, message: &str) -> Vec<u8> {
    request(
        id,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": message}}),
    )
}

/// The text of the first content block of a `tools/call` result message.
pub(crate) fn result_text(message: &Value) -> &str {
    message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result in {message}"))
}

/// A session on one connection: the proxy's `Mcp-Session-Id`.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) id: String,
}

impl Session {
    /// Headers of a POST in this session.
    pub(crate) fn post_headers(&self) -> Vec<(&str, &str)> {
        vec![
            ("Accept", ACCEPT_BOTH),
            ("Content-Type", "application/json"),
            ("Mcp-Session-Id", self.id.as_str()),
            ("MCP-Protocol-Version", VERSION),
        ]
    }

    /// Headers of a GET stream or DELETE in this session.
    pub(crate) fn get_headers(&self) -> Vec<(&str, &str)> {
        vec![
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", self.id.as_str()),
            ("MCP-Protocol-Version", VERSION),
        ]
    }

    /// POSTs `body` in this session and reads the whole answer.
    pub(crate) fn post(&self, conn: &mut Conn, body: &[u8]) -> Response {
        conn.request("POST", PATH, &self.post_headers(), body)
    }
}

/// Headers of a POST without a session.
pub(crate) fn fresh_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Accept", ACCEPT_BOTH),
        ("Content-Type", "application/json"),
    ]
}

/// `initialize` + `notifications/initialized` on `conn`: checks the answer and returns the
/// session the proxy minted.
pub(crate) fn open_session(conn: &mut Conn) -> Session {
    open_session_with(conn, json!({}))
}

/// As [`open_session`], declaring client `capabilities`.
pub(crate) fn open_session_with(conn: &mut Conn, capabilities: Value) -> Session {
    let body = initialize_with(json!(0), capabilities);
    let answer = conn.request("POST", PATH, &fresh_headers(), &body);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let id = answer
        .header("mcp-session-id")
        .unwrap_or_else(|| panic!("initialize without Mcp-Session-Id: {}", answer.describe()))
        .to_owned();
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "the proxy's session ids are 32 lowercase hex: {id:?}"
    );
    let messages = answer.messages();
    let init = messages.last().expect("an initialize answer");
    assert_eq!(init["id"], json!(0), "{init}");
    assert!(init["result"]["serverInfo"]["name"].is_string(), "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    let session = Session { id };
    let ack = session.post(conn, &notification("notifications/initialized"));
    assert_eq!(ack.head.status, 202, "{}", ack.describe());
    session
}

/// A 2026-07-28 stateless request: `_meta` version and client in the body, the mirror headers
/// (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` when the method names something).
/// `params._meta` gets the version, `capabilities` and the client info unless it has them.
pub(crate) fn modern(
    id: Value,
    method: &str,
    mut params: Value,
    name: Option<&str>,
    capabilities: Value,
) -> ModernRequest {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "request-path-tests", "version": "0"}
    });
    ModernRequest {
        body: request(id, method, params),
        method: method.to_owned(),
        name: name.map(str::to_owned),
    }
}

/// A 2026-07-28 `tools/call` of `tool` without arguments (no client capabilities).
pub(crate) fn modern_call(id: Value, tool: &str) -> ModernRequest {
    let params = json!({"name": tool, "arguments": {}});
    modern(id, "tools/call", params, Some(tool), json!({}))
}

/// A modern request ready to send.
#[derive(Debug)]
pub(crate) struct ModernRequest {
    pub(crate) body: Vec<u8>,
    pub(crate) method: String,
    pub(crate) name: Option<String>,
}

impl ModernRequest {
    /// The mirror headers its body asks for.
    pub(crate) fn headers(&self) -> Vec<(&str, &str)> {
        let mut headers = fresh_headers();
        headers.push(("MCP-Protocol-Version", MODERN));
        headers.push(("Mcp-Method", self.method.as_str()));
        if let Some(name) = &self.name {
            headers.push(("Mcp-Name", name.as_str()));
        }
        headers
    }

    /// POSTs it on `conn` and reads the whole answer.
    pub(crate) fn send(&self, conn: &mut Conn) -> Response {
        conn.request("POST", PATH, &self.headers(), &self.body)
    }
}

/// Asserts a JSON-RPC error answer: HTTP status, code, and the id echoed.
pub(crate) fn assert_error(answer: &Response, status: u16, code: i64, id: &Value) {
    assert_eq!(answer.head.status, status, "{}", answer.describe());
    let body = answer.json();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert_eq!(&body["id"], id, "{body}");
}
