//! The head checks as the proxy calls them outside a route's stage lists: the listener's
//! Host/Origin check at dispatch (before a route is known) and the legacy HTTP+SSE endpoints'
//! head checks. Each is the pipeline's stage (crate::pipeline::checks) with its refusal as a
//! [`ProxyError`], so both paths answer alike.
//!
//! Not here: the checks themselves, the Streamable HTTP paths (post.rs, bodyless.rs run the
//! route's lists). Allocates nothing.

use crate::config::ListenerConfig;
use crate::http::RequestHead;
use crate::mcp::ProtocolVersion;
use crate::pipeline::checks;

use super::error::ProxyError;

/// `Host` must be allow-listed; `Origin`, when present, too (MCP: invalid Origin → 403).
pub fn check_host_origin(listener: &ListenerConfig, head: &RequestHead) -> Result<(), ProxyError> {
    checks::host_origin::check(listener, head).map_err(|r| ProxyError::refused(r, None))
}

/// A GET must accept SSE (`head` is a GET).
pub fn check_get_accept(head: &RequestHead) -> Result<(), ProxyError> {
    checks::accept::check(head).map_err(|r| ProxyError::refused(r, None))
}

/// POST bodies are JSON (parameters such as `charset` allowed).
pub fn check_content_type(head: &RequestHead) -> Result<(), ProxyError> {
    checks::content_type::check(head).map_err(|r| ProxyError::refused(r, None))
}

/// The `MCP-Protocol-Version` header, if present, must name a version we speak.
pub fn check_version(head: &RequestHead) -> Result<Option<ProtocolVersion>, ProxyError> {
    checks::protocol_version::check(head).map_err(|r| ProxyError::refused(r, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, Limits};

    fn head(raw: &str) -> RequestHead {
        parse_request(raw.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn refusals_become_the_proxys_errors_without_an_id() {
        let get = head("GET /sse HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nMCP-Protocol-Version: x\r\n\r\n");
        assert!(matches!(
            check_get_accept(&get),
            Err(ProxyError::NotAcceptable {
                needed: "text/event-stream"
            })
        ));
        assert!(matches!(
            check_version(&get),
            Err(ProxyError::BadProtocolVersion { id: None })
        ));
        assert!(matches!(
            check_content_type(&get),
            Err(ProxyError::UnsupportedMediaType)
        ));
    }
}
