//! Cheap checks on the request head before any body is read or upstream touched:
//! Host/Origin allow-lists (DNS rebinding), `Accept`, `Content-Type`, `MCP-Protocol-Version`.
//!
//! Not here: body inspection (crate::mcp) or session lookup (post.rs).
//! Allocates nothing.

use crate::config::ListenerConfig;
use crate::http::{Head, RequestHead};
use crate::mcp::ProtocolVersion;

use super::error::ProxyError;

/// `Host` must be allow-listed; `Origin`, when present, too (MCP: invalid Origin → 403).
pub fn check_host_origin(listener: &ListenerConfig, head: &RequestHead) -> Result<(), ProxyError> {
    let host = head.header("host").ok_or(ProxyError::HostNotAllowed)?;
    if !crate::config::host_allowed(&listener.allowed_hosts, host) {
        return Err(ProxyError::HostNotAllowed);
    }
    if let Some(origin) = head.header("origin") {
        if !crate::config::origin_allowed(
            &listener.allowed_hosts,
            &listener.allowed_origins,
            origin,
        ) {
            return Err(ProxyError::OriginNotAllowed);
        }
    }
    Ok(())
}

fn accepts(head: &RequestHead, media: &str) -> bool {
    let Some(accept) = head.header("accept") else {
        return false;
    };
    accept.split(|b| *b == b',').any(|item| {
        let item = item
            .split(|b| *b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii();
        item.eq_ignore_ascii_case(media.as_bytes()) || item == b"*/*"
    })
}

/// POST must accept both JSON and SSE (Streamable HTTP §Sending Messages).
pub fn check_post_accept(head: &RequestHead) -> Result<(), ProxyError> {
    if accepts(head, "application/json") && accepts(head, "text/event-stream") {
        Ok(())
    } else {
        Err(ProxyError::NotAcceptable {
            needed: "application/json and text/event-stream",
        })
    }
}

/// GET must accept SSE.
pub fn check_get_accept(head: &RequestHead) -> Result<(), ProxyError> {
    if accepts(head, "text/event-stream") {
        Ok(())
    } else {
        Err(ProxyError::NotAcceptable {
            needed: "text/event-stream",
        })
    }
}

/// POST bodies are JSON (parameters such as `charset` allowed).
pub fn check_content_type(head: &RequestHead) -> Result<(), ProxyError> {
    let ok = head.header("content-type").is_some_and(|ct| {
        ct.split(|b| *b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/json")
    });
    if ok {
        Ok(())
    } else {
        Err(ProxyError::UnsupportedMediaType)
    }
}

/// The `MCP-Protocol-Version` header, if present, must name a version we speak.
pub fn check_version(head: &RequestHead) -> Result<Option<ProtocolVersion>, ProxyError> {
    match head.header("mcp-protocol-version") {
        None => Ok(None),
        Some(value) => ProtocolVersion::parse(value)
            .map(Some)
            .ok_or(ProxyError::BadProtocolVersion { id: None }),
    }
}
