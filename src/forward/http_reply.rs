//! What a client request gets when the HTTP target fails it: one JSON-RPC error (code and
//! message) per failure, the same codes the reverse proxy uses.
//!
//! Not here: writing it (output.rs), deciding when a failure happened (http_target.rs). Pure,
//! cold path (serde_json on an error body is fine here).
//!
//! - target unreachable, HTTP 5xx, a broken answer: `-32010` (upstream unavailable);
//! - no answer within `--request-timeout`: `-32011`;
//! - HTTP 404 to a request that carried `Mcp-Session-Id`: `-32001` (session not found; the
//!   client has to `initialize` again, MCP 2025-03-26 and later);
//! - any other status whose body is a JSON-RPC error: that error's code and message (e.g. a
//!   400 "Bad Request: Server not initialized" from the TypeScript SDK), re-addressed to the
//!   request's id, because SDK servers often answer such errors with `"id": null` and a client
//!   waiting for its id would wait forever.

use crate::mcp::jsonrpc::{SESSION_NOT_FOUND, UPSTREAM_TIMEOUT, UPSTREAM_UNAVAILABLE};

/// A JSON-RPC error for the request(s) of one failed exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReply {
    /// `error.code`.
    pub(crate) code: i32,
    /// `error.message`.
    pub(crate) message: String,
}

impl ErrorReply {
    /// `-32010` with `message`.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self {
            code: UPSTREAM_UNAVAILABLE,
            message: message.into(),
        }
    }

    /// `-32011`.
    pub(crate) fn timeout(limit: std::time::Duration) -> Self {
        Self {
            code: UPSTREAM_TIMEOUT,
            message: format!(
                "the target did not answer within {} (--request-timeout)",
                humantime::format_duration(limit)
            ),
        }
    }
}

/// The error for a request the target answered with a non-2xx `status` (`reason` phrase,
/// first bytes of `body`); `session_sent` says whether the request carried `Mcp-Session-Id`.
pub(crate) fn status_error(
    status: u16,
    reason: &[u8],
    body: &[u8],
    session_sent: bool,
) -> ErrorReply {
    if status == 404 && session_sent {
        return ErrorReply {
            code: SESSION_NOT_FOUND,
            message: "Session not found: the target no longer knows this session (HTTP 404); \
                      initialize a new one"
                .to_owned(),
        };
    }
    if let Some(reply) = jsonrpc_error(body) {
        return reply;
    }
    let reason = String::from_utf8_lossy(reason);
    let reason = reason.trim();
    let mut message = format!("the target answered HTTP {status}");
    if !reason.is_empty() {
        message.push(' ');
        message.push_str(reason);
    }
    ErrorReply::unavailable(message)
}

/// `error.code` and `error.message` of a JSON-RPC error object body.
fn jsonrpc_error(body: &[u8]) -> Option<ErrorReply> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let code = i32::try_from(error.get("code")?.as_i64()?).ok()?;
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("error from the target");
    Some(ErrorReply {
        code,
        message: message.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_proxy_codes() {
        let gone = status_error(404, b"Not Found", b"", true);
        assert_eq!(gone.code, -32001);
        let not_found = status_error(404, b"Not Found", b"nope", false);
        assert_eq!(not_found.code, -32010);
        assert!(
            not_found.message.contains("HTTP 404 Not Found"),
            "{not_found:?}"
        );
        let down = status_error(503, b"Service Unavailable", b"<html>", true);
        assert_eq!(down.code, -32010);
        assert!(down.message.contains("503"), "{down:?}");
        assert_eq!(
            status_error(500, b"", b"", false).message,
            "the target answered HTTP 500"
        );
    }

    #[test]
    fn jsonrpc_error_bodies_keep_their_code_and_message() {
        let body = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Server not initialized"}}"#;
        let reply = status_error(400, b"Bad Request", body, false);
        assert_eq!(reply.code, -32000);
        assert_eq!(reply.message, "Bad Request: Server not initialized");
        // A 404 with a session is always "session not found", whatever the body says.
        assert_eq!(status_error(404, b"", body, true).code, -32001);
    }

    #[test]
    fn timeouts_name_the_flag() {
        let reply = ErrorReply::timeout(std::time::Duration::from_secs(60));
        assert_eq!(reply.code, -32011);
        assert!(reply.message.contains("1m") && reply.message.contains("--request-timeout"));
    }
}
