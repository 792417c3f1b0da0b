//! The one error funnel: `ProxyError` → HTTP status + JSON-RPC error object (with the
//! request's id when known), plus small proxy-generated responses.
//!
//! Not here: deciding that something failed (callers) or relaying upstream responses (relay.rs).

use crate::auth::AuthError;
use crate::mcp::{jsonrpc, JsonRpcId, ProtocolVersion};

use super::error::ProxyError;
use super::headers::local_response;

/// Status, JSON-RPC code, the id to echo and extra headers of an error answer.
type Classified<'e> = (
    u16,
    i32,
    Option<&'e JsonRpcId>,
    &'static [(&'static str, &'static str)],
);

/// How an error is answered.
fn classify(err: &ProxyError) -> Classified<'_> {
    use ProxyError as E;
    match err {
        E::Http(e) => (e.status(), jsonrpc::INVALID_REQUEST, None, &[]),
        E::HeadTimeout => (408, jsonrpc::INVALID_REQUEST, None, &[]),
        E::Mcp(e) => (400, e.code(), e.id(), &[]),
        E::NoRoute => (404, jsonrpc::INVALID_REQUEST, None, &[]),
        E::MethodNotAllowed => (
            405,
            jsonrpc::INVALID_REQUEST,
            None,
            &[("Allow", "GET, POST, DELETE")],
        ),
        E::PostOnly => (405, jsonrpc::INVALID_REQUEST, None, &[("Allow", "POST")]),
        E::LegacyMethodNotAllowed { allow } => (405, jsonrpc::INVALID_REQUEST, None, allow),
        E::LegacySessionRequired { id } => (400, jsonrpc::INVALID_REQUEST, id.as_ref(), &[]),
        // A server's answer to an unknown tool: a JSON-RPC error in a 200.
        E::UnknownTool { id, .. } => (200, jsonrpc::INVALID_PARAMS, id.as_ref(), &[]),
        E::BatchUnknownTool { .. } => (400, jsonrpc::INVALID_PARAMS, None, &[]),
        E::RateLimited { id, .. } => (429, jsonrpc::RATE_LIMITED, id.as_ref(), &[]),
        E::MethodDenied { id, .. } => (200, jsonrpc::METHOD_NOT_FOUND, id.as_ref(), &[]),
        E::BatchMethodDenied { .. } => (400, jsonrpc::METHOD_NOT_FOUND, None, &[]),
        E::HostNotAllowed | E::OriginNotAllowed => (403, jsonrpc::INVALID_REQUEST, None, &[]),
        E::NotAcceptable { .. } => (406, jsonrpc::INVALID_REQUEST, None, &[]),
        E::UnsupportedMediaType => (415, jsonrpc::INVALID_REQUEST, None, &[]),
        E::BadProtocolVersion { id } => (400, jsonrpc::INVALID_REQUEST, id.as_ref(), &[]),
        E::UnsupportedVersion { id, .. } => {
            (400, jsonrpc::UNSUPPORTED_PROTOCOL_VERSION, id.as_ref(), &[])
        }
        E::HeaderMismatch { id, .. } => (400, jsonrpc::HEADER_MISMATCH, id.as_ref(), &[]),
        E::BatchNotAllowed => (400, jsonrpc::INVALID_REQUEST, None, &[]),
        E::SessionRequired { id } => (400, jsonrpc::INVALID_REQUEST, id.as_ref(), &[]),
        E::SessionNotFound { id } => (404, jsonrpc::SESSION_NOT_FOUND, id.as_ref(), &[]),
        E::UpstreamUnavailable { id, .. }
        | E::UpstreamTls { id, .. }
        | E::UpstreamProtocol { id, .. } => (502, jsonrpc::UPSTREAM_UNAVAILABLE, id.as_ref(), &[]),
        E::UpstreamTimeout { id } => (504, jsonrpc::UPSTREAM_TIMEOUT, id.as_ref(), &[]),
        E::UpstreamBusy { id } => (
            503,
            jsonrpc::UPSTREAM_UNAVAILABLE,
            id.as_ref(),
            &[("Retry-After", "1")],
        ),
        E::UpstreamToken { id, refused } => no_token(id.as_ref(), *refused),
        E::Internal(_) => (500, jsonrpc::INTERNAL_ERROR, None, &[]),
        E::TooManySessions { id } => (
            503,
            jsonrpc::INTERNAL_ERROR,
            id.as_ref(),
            &[("Retry-After", "5")],
        ),
        E::StreamConflict => (409, jsonrpc::INVALID_REQUEST, None, &[]),
        E::AlreadyInitialized { id } | E::IdInFlight { id } => {
            (400, jsonrpc::INVALID_REQUEST, id.as_ref(), &[])
        }
        E::ShuttingDown => (503, jsonrpc::INTERNAL_ERROR, None, &[("Retry-After", "1")]),
        E::AuditUnavailable => (
            503,
            jsonrpc::AUDIT_UNAVAILABLE,
            None,
            &[("Retry-After", "1")],
        ),
        E::Auth(refusal) => match refusal.error {
            AuthError::Missing | AuthError::Invalid(_) => {
                (401, jsonrpc::UNAUTHENTICATED, None, &[])
            }
            AuthError::InsufficientScope(_) => (403, jsonrpc::FORBIDDEN, None, &[]),
            AuthError::TokenInQuery => (400, jsonrpc::INVALID_REQUEST, None, &[]),
            AuthError::KeysUnavailable => (
                503,
                jsonrpc::AUTH_UNAVAILABLE,
                None,
                &[("Retry-After", "5")],
            ),
        },
    }
}

/// The HTTP status `err` is answered with.
pub fn error_status(err: &ProxyError) -> u16 {
    classify(err).0
}

/// A request without an upstream token: a refused exchange is 403; no token yet 503.
fn no_token(id: Option<&JsonRpcId>, refused: bool) -> Classified<'_> {
    if refused {
        return (403, jsonrpc::FORBIDDEN, id, &[]);
    }
    let retry: &[(&str, &str)] = &[("Retry-After", "5")];
    (503, jsonrpc::UPSTREAM_TOKEN_UNAVAILABLE, id, retry)
}

/// The message clients see: short and free of upstream internals.
fn public_message(err: &ProxyError) -> String {
    match err {
        ProxyError::UpstreamUnavailable { .. } => "Upstream MCP server unavailable".into(),
        ProxyError::UpstreamBusy { .. } => {
            "Upstream MCP server busy: too many requests in flight; retry".into()
        }
        ProxyError::UpstreamTls { .. } => {
            "Upstream MCP server unavailable: the TLS handshake failed (the proxy's log says why)"
                .into()
        }
        ProxyError::UpstreamProtocol { .. } => {
            "Upstream MCP server sent an invalid response".into()
        }
        ProxyError::Internal(_) => "Internal proxy error".into(),
        ProxyError::UpstreamToken { refused: false, .. } => {
            "The proxy has no access token for the upstream MCP server (its authorization server \
             is unreachable or refuses the proxy); retry"
                .into()
        }
        ProxyError::UpstreamToken { refused: true, .. } => {
            "The authorization server refused to exchange your access token for one the \
             upstream MCP server accepts"
                .into()
        }
        ProxyError::Auth(refusal) => refusal.error.message(),
        ProxyError::UnsupportedVersion {
            requested,
            modern_only,
            ..
        } => {
            let supported = supported_versions(*modern_only)
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if *modern_only && !requested.starts_with("2026") {
                format!(
                    "This endpoint serves only 2026-07-28 stateless requests (no initialize, \
                     no Mcp-Session-Id); supported: {supported}"
                )
            } else {
                format!("Unsupported protocol version {requested:?}; supported: {supported}")
            }
        }
        ProxyError::BadProtocolVersion { .. } => format!(
            "Unsupported or repeated MCP-Protocol-Version; supported: {}",
            crate::mcp::SUPPORTED_SESSIONFUL
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => {
            let mut text = other.to_string();
            if let Some(first) = text.get(..1) {
                let upper = first.to_ascii_uppercase();
                text.replace_range(..1, &upper);
            }
            text
        }
    }
}

/// Appends the JSON-RPC error object for `err` alone (no HTTP), answering request `id`: for
/// failures delivered in-band, e.g. on a legacy HTTP+SSE stream.
pub fn error_message(out: &mut Vec<u8>, err: &ProxyError, id: Option<&JsonRpcId>) {
    let (_, code, _, _) = classify(err);
    jsonrpc::write_error(out, id, code, &public_message(err), None);
}

/// Versions a `-32022` answer offers: 2026-07-28 alone on modern-only routes, else every
/// version the proxy relays (legacy ones through `initialize`).
fn supported_versions(modern_only: bool) -> &'static [ProtocolVersion] {
    if modern_only {
        &[ProtocolVersion::V2026_07_28]
    } else {
        ProtocolVersion::ALL
    }
}

/// The error's `data` member, when it has one: `-32022` gets
/// `{"supported":[…],"requested":"…"}` (2026-07-28 `schema.ts`).
fn error_data(err: &ProxyError) -> Option<String> {
    let ProxyError::UnsupportedVersion {
        requested,
        modern_only,
        ..
    } = err
    else {
        return None;
    };
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(br#"{"supported":["#);
    for (n, version) in supported_versions(*modern_only).iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        jsonrpc::write_json_string(&mut out, version.as_str());
    }
    out.extend_from_slice(br#"],"requested":"#);
    jsonrpc::write_json_string(&mut out, requested);
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// Appends the full HTTP error response for `err`; returns its status.
pub fn error_response(out: &mut Vec<u8>, err: &ProxyError, keep_alive: bool) -> u16 {
    let (status, code, id, extra) = classify(err);
    let mut body = Vec::with_capacity(128);
    let data = error_data(err);
    jsonrpc::write_error(&mut body, id, code, &public_message(err), data.as_deref());
    // After a framing error the byte stream is unusable: always close.
    let keep_alive = keep_alive && !closes_connection(err);
    let challenge = match err {
        ProxyError::Auth(refusal) => refusal.challenge.as_deref(),
        _ => None,
    };
    let retry_after = match err {
        ProxyError::RateLimited {
            retry_after_secs, ..
        } => Some(retry_after_secs.to_string()),
        _ => None,
    };
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    headers.extend(challenge.map(|value| ("WWW-Authenticate", value)));
    headers.extend(retry_after.as_deref().map(|value| ("Retry-After", value)));
    local_response(
        out,
        status,
        Some("application/json"),
        &headers,
        &body,
        keep_alive,
    );
    status
}

/// Whether the connection must close after answering `err`.
pub fn closes_connection(err: &ProxyError) -> bool {
    matches!(
        err,
        ProxyError::Http(_) | ProxyError::HeadTimeout | ProxyError::ShuttingDown
    )
}

/// DNS-rebinding guard for the local-only listeners (admin, demo): when `Host` is not one of
/// `hosts`, answers 403 and returns `true` (the caller closes the connection).
pub async fn refuse_foreign_host<S>(
    conn: &mut crate::http::HttpConn<S>,
    head: &crate::http::RequestHead,
    hosts: &[String],
) -> bool
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    use crate::http::Head as _;
    if head
        .header("host")
        .is_some_and(|h| crate::config::host_allowed(hosts, h))
    {
        return false;
    }
    let mut out = Vec::with_capacity(128);
    local_response(
        &mut out,
        403,
        Some("text/plain"),
        &[],
        b"host not allowed\n",
        false,
    );
    let _ = conn.write_all(&out).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(err: &ProxyError) -> (u16, serde_json::Value, String) {
        let mut out = Vec::new();
        let status = error_response(&mut out, err, true);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (status, serde_json::from_str(body).unwrap(), head.to_owned())
    }

    #[test]
    fn statuses_codes_and_ids() {
        let id = || Some(JsonRpcId::String("r-1".into()));
        let cases: Vec<(ProxyError, u16, i64, serde_json::Value)> = vec![
            (
                ProxyError::UpstreamUnavailable {
                    id: id(),
                    reason: "refused".into(),
                },
                502,
                -32010,
                "r-1".into(),
            ),
            (
                ProxyError::UpstreamTls {
                    id: id(),
                    reason: "invalid peer certificate: UnknownIssuer".into(),
                },
                502,
                -32010,
                "r-1".into(),
            ),
            (
                ProxyError::UpstreamTimeout {
                    id: Some(JsonRpcId::Number(7)),
                },
                504,
                -32011,
                7.into(),
            ),
            (
                ProxyError::SessionNotFound { id: id() },
                404,
                -32001,
                "r-1".into(),
            ),
            (
                ProxyError::HostNotAllowed,
                403,
                -32600,
                serde_json::Value::Null,
            ),
            (
                ProxyError::NotAcceptable { needed: "x" },
                406,
                -32600,
                serde_json::Value::Null,
            ),
            (
                ProxyError::UnsupportedMediaType,
                415,
                -32600,
                serde_json::Value::Null,
            ),
            (
                ProxyError::HeadTimeout,
                408,
                -32600,
                serde_json::Value::Null,
            ),
            (
                ProxyError::Http(crate::http::Error::HeadTooLarge { limit: 1 }),
                431,
                -32600,
                serde_json::Value::Null,
            ),
            (
                ProxyError::Http(crate::http::Error::BodyTooLarge { limit: 1 }),
                413,
                -32600,
                serde_json::Value::Null,
            ),
        ];
        for (err, status, code, want_id) in cases {
            let (got, body, _) = answer(&err);
            assert_eq!(got, status, "{err:?}");
            assert_eq!(body["error"]["code"], code, "{err:?}");
            assert_eq!(body["id"], want_id, "{err:?}");
            assert_eq!(body["jsonrpc"], "2.0");
        }
    }

    #[test]
    fn framing_errors_close_and_405_names_methods() {
        let (_, _, head) = answer(&ProxyError::Http(crate::http::Error::UnexpectedEof));
        assert!(head.contains("Connection: close"), "{head}");
        let (_, _, head) = answer(&ProxyError::MethodNotAllowed);
        assert!(
            head.contains("Allow: GET, POST, DELETE") && !head.contains("Connection: close"),
            "{head}"
        );
        let (status, _, head) = answer(&ProxyError::PostOnly);
        assert_eq!(status, 405);
        assert!(head.contains("Allow: POST\r\n"), "{head}");
    }

    #[test]
    fn upstream_details_stay_out_of_client_messages() {
        let (_, body, _) = answer(&ProxyError::UpstreamUnavailable {
            id: None,
            reason: "connect to 10.0.0.7:9000 failed".into(),
        });
        assert!(!body.to_string().contains("10.0.0.7"));
    }
}
