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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, Limits};

    fn head(extra: &str) -> RequestHead {
        let raw = format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n{extra}\r\n");
        parse_request(raw.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    fn listener() -> ListenerConfig {
        ListenerConfig {
            name: "main".into(),
            bind: "127.0.0.1:8080".parse().unwrap(),
            routes: Vec::new(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            allowed_origins: vec!["https://app.example.com".into()],
        }
    }

    #[test]
    fn accept_needs_both_media_types_or_a_wildcard() {
        assert!(
            check_post_accept(&head("Accept: application/json, text/event-stream\r\n")).is_ok()
        );
        assert!(check_post_accept(&head(
            "Accept: text/event-stream;q=0.9, application/json\r\n"
        ))
        .is_ok());
        assert!(check_post_accept(&head("Accept: */*\r\n")).is_ok());
        assert!(check_post_accept(&head("Accept: application/json\r\n")).is_err());
        assert!(check_post_accept(&head("")).is_err());
        assert!(check_get_accept(&head("Accept: text/event-stream\r\n")).is_ok());
        assert!(check_get_accept(&head("Accept: application/json\r\n")).is_err());
    }

    #[test]
    fn content_type_must_be_json_with_optional_parameters() {
        assert!(check_content_type(&head("Content-Type: application/json\r\n")).is_ok());
        assert!(
            check_content_type(&head("Content-Type: Application/JSON; charset=utf-8\r\n")).is_ok()
        );
        assert!(check_content_type(&head("Content-Type: text/plain\r\n")).is_err());
        assert!(check_content_type(&head("Content-Type: application/jsonx\r\n")).is_err());
        assert!(check_content_type(&head("")).is_err());
    }

    #[test]
    fn protocol_version_header_is_checked_when_present() {
        assert_eq!(check_version(&head("")).unwrap(), None);
        assert_eq!(
            check_version(&head("MCP-Protocol-Version: 2025-06-18\r\n")).unwrap(),
            Some(ProtocolVersion::V2025_06_18)
        );
        assert!(check_version(&head("MCP-Protocol-Version: 1999-01-01\r\n")).is_err());
    }

    #[test]
    fn host_and_origin_allow_lists() {
        let l = listener();
        assert!(check_host_origin(&l, &head("")).is_ok());
        assert!(check_host_origin(&l, &head("Origin: http://localhost:3000\r\n")).is_ok());
        assert!(check_host_origin(&l, &head("Origin: https://app.example.com\r\n")).is_ok());
        assert!(matches!(
            check_host_origin(&l, &head("Origin: http://evil.example\r\n")),
            Err(ProxyError::OriginNotAllowed)
        ));
        let evil = parse_request(
            b"POST /mcp HTTP/1.1\r\nHost: evil.example\r\n\r\n",
            &Limits::default(),
        )
        .unwrap()
        .unwrap()
        .0;
        assert!(matches!(
            check_host_origin(&l, &evil),
            Err(ProxyError::HostNotAllowed)
        ));
    }
}
