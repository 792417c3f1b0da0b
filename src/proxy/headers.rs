//! Writes the heads the proxy sends: client head → upstream request head, upstream response
//! head → client response head. Filters hop-by-hop and credential headers, and adds the
//! upstream's configured headers (`headers`, pre-rendered at load), which replace a client
//! field of the same name.
//!
//! Not here: body framing decisions (relay.rs) or parsing (crate::http).
//! Allocates nothing: appends into the caller's pooled buffer.

use crate::config::{UpstreamHeaders, UpstreamUrl};
use crate::http::{Head, RequestHead, ResponseHead};

/// Headers never forwarded upstream besides the hop-by-hop set: the proxy sets `Host`,
/// framing and the session itself, and the client's credentials never reach an upstream
/// (DESIGN §3.7: `Authorization`, `X-API-Key`, `Cookie`; `Proxy-Authorization` is
/// hop-by-hop). `Origin` was validated here; the upstream sees the proxy as its client.
pub(super) const DROP_UPSTREAM: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "mcp-session-id",
    "authorization",
    "x-api-key",
    "cookie",
    "origin",
    "expect",
    // The proxy parses SSE bodies (event counting, size bound): it needs them uncompressed.
    "accept-encoding",
];

/// Headers of an upstream response the proxy replaces with its own.
const DROP_DOWNSTREAM: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "mcp-session-id",
    "set-cookie",
];

/// Framing the proxy puts on a message it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFraming {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither (the body runs until the connection closes, HTTP/1.0 clients).
    Close,
    /// Neither, and no body at all (204, 304).
    NoBody,
}

#[inline]
fn dropped(name: &[u8], extra: &[&str], head: &impl Head) -> bool {
    // `Head::is_hop_by_hop` covers the fixed set and names listed in every `Connection` field.
    head.is_hop_by_hop(name)
        || extra
            .iter()
            .any(|d| d.as_bytes().eq_ignore_ascii_case(name))
}

/// Appends one `name: value` line.
pub(super) fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends the framing header for `framing` (none for `Close` and `NoBody`).
pub(super) fn push_framing(out: &mut Vec<u8>, framing: OutFraming) {
    match framing {
        OutFraming::Length(n) => {
            push_header(
                out,
                b"Content-Length",
                itoa::Buffer::new().format(n).as_bytes(),
            );
        }
        OutFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        OutFraming::Close | OutFraming::NoBody => {}
    }
}

/// Appends `METHOD path HTTP/1.1`, `Host` and the upstream's configured headers: how every
/// request head the proxy writes for an HTTP upstream starts.
pub(super) fn upstream_start(
    out: &mut Vec<u8>,
    method: &str,
    url: &UpstreamUrl,
    configured: &UpstreamHeaders,
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(url.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(url.authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(configured.lines());
}

/// Whether a client field `name` goes upstream: not hop-by-hop, not in [`DROP_UPSTREAM`], not
/// replaced by a configured header. Inlined: it runs once per client field of every request.
#[inline]
pub(super) fn forwarded_upstream(
    client: &RequestHead,
    name: &[u8],
    configured: &UpstreamHeaders,
) -> bool {
    !dropped(name, DROP_UPSTREAM, client) && !configured.replaces(name)
}

/// Appends the request head for the upstream at `url` with its `configured` headers.
pub fn upstream_request(
    out: &mut Vec<u8>,
    method: &str,
    url: &UpstreamUrl,
    configured: &UpstreamHeaders,
    client: &RequestHead,
    session: Option<&str>,
    body_len: Option<usize>,
) {
    upstream_start(out, method, url, configured);
    for (name, value) in client.headers() {
        if forwarded_upstream(client, name, configured) {
            push_header(out, name, value);
        }
    }
    if let Some(sid) = session {
        push_header(out, b"Mcp-Session-Id", sid.as_bytes());
    }
    if let Some(len) = body_len {
        push_framing(out, OutFraming::Length(len as u64));
    }
    out.extend_from_slice(b"\r\n");
}

/// Headers of a legacy HTTP+SSE client POST that the proxy sets itself on the upstream
/// Streamable HTTP request (besides [`DROP_UPSTREAM`]).
const DROP_LEGACY: &[&str] = &["accept", "content-type", "mcp-protocol-version"];

/// Appends the upstream Streamable HTTP request head for a message a legacy HTTP+SSE client
/// POSTed: the client's end-to-end headers, plus what Streamable HTTP requires (`Accept` of
/// JSON and SSE, `Content-Type`, the upstream's session, the negotiated `MCP-Protocol-Version`).
#[allow(
    clippy::too_many_arguments,
    reason = "one head writer, called from one place"
)]
pub fn legacy_upstream_request(
    out: &mut Vec<u8>,
    method: &str,
    url: &UpstreamUrl,
    configured: &UpstreamHeaders,
    client: Option<&RequestHead>,
    session: Option<&str>,
    version: Option<&str>,
    body_len: Option<usize>,
) {
    upstream_start(out, method, url, configured);
    if let Some(client) = client {
        for (name, value) in client.headers() {
            if forwarded_upstream(client, name, configured) && !dropped(name, DROP_LEGACY, client) {
                push_header(out, name, value);
            }
        }
    }
    if body_len.is_some() {
        push_header(out, b"Accept", b"application/json, text/event-stream");
        push_header(out, b"Content-Type", b"application/json");
    } else {
        push_header(out, b"Accept", b"text/event-stream");
    }
    if let Some(sid) = session {
        push_header(out, b"Mcp-Session-Id", sid.as_bytes());
    }
    if let Some(version) = version {
        push_header(out, b"MCP-Protocol-Version", version.as_bytes());
    }
    if let Some(len) = body_len {
        push_framing(out, OutFraming::Length(len as u64));
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the response head for the client, copying the upstream's end-to-end headers.
pub fn client_response(
    out: &mut Vec<u8>,
    upstream: &ResponseHead,
    session: Option<&str>,
    framing: OutFraming,
    keep_alive: bool,
) {
    crate::http::write_status_line(out, upstream.status());
    for (name, value) in upstream.headers() {
        if !dropped(name, DROP_DOWNSTREAM, upstream) {
            push_header(out, name, value);
        }
    }
    if let Some(sid) = session {
        push_header(out, b"Mcp-Session-Id", sid.as_bytes());
    }
    push_framing(out, framing);
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a complete small response generated by the proxy itself.
pub fn local_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) {
    crate::http::write_status_line(out, status);
    if let Some(ct) = content_type {
        push_header(out, b"Content-Type", ct.as_bytes());
    }
    for (name, value) in extra {
        push_header(out, name.as_bytes(), value.as_bytes());
    }
    push_framing(out, OutFraming::Length(body.len() as u64));
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, parse_response, Limits};

    /// `http://up:9000{path}`.
    fn url(path: &str) -> UpstreamUrl {
        UpstreamUrl {
            tls: false,
            host: "up".into(),
            port: 9000,
            path: path.into(),
            authority: "up:9000".into(),
            addrs: Vec::new(),
        }
    }

    /// The headers a config with `headers = { written }` renders.
    fn configured(written: &str) -> UpstreamHeaders {
        let text = format!(
            "[upstreams.a]\nurl = \"http://127.0.0.1:9000/mcp\"\nheaders = {{ {written} }}\n"
        );
        let config = crate::config::from_toml_str(&text, "t.toml").unwrap();
        config.upstreams[0].headers.clone()
    }

    #[test]
    fn legacy_upstream_head_sets_what_streamable_http_needs() {
        let raw = b"POST /messages?sessionId=abc HTTP/1.1\r\nHost: proxy:8080\r\n\
Authorization: Bearer secret\r\nAccept: */*\r\nContent-Type: application/json; charset=utf-8\r\n\
MCP-Protocol-Version: 2024-11-05\r\nUser-Agent: sdk\r\nContent-Length: 2\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        let mut out = Vec::new();
        legacy_upstream_request(
            &mut out,
            "POST",
            &url("/mcp"),
            &UpstreamHeaders::default(),
            Some(&head),
            Some("up-sid"),
            Some("2025-06-18"),
            Some(2),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("POST /mcp HTTP/1.1\r\nHost: up:9000\r\n"),
            "{text}"
        );
        for kept in [
            "User-Agent: sdk\r\n",
            "Accept: application/json, text/event-stream\r\n",
            "Content-Type: application/json\r\n",
            "Mcp-Session-Id: up-sid\r\n",
            "MCP-Protocol-Version: 2025-06-18\r\n",
            "Content-Length: 2\r\n\r\n",
        ] {
            assert!(text.contains(kept), "{kept:?} missing: {text}");
        }
        for gone in [
            "Bearer",
            "*/*",
            "charset",
            "2024-11-05",
            "sessionId",
            "proxy:8080",
        ] {
            assert!(!text.contains(gone), "{gone} leaked: {text}");
        }
        let mut get = Vec::new();
        let none = UpstreamHeaders::default();
        legacy_upstream_request(&mut get, "GET", &url("/mcp"), &none, None, None, None, None);
        let get = String::from_utf8(get).unwrap();
        assert_eq!(
            get,
            "GET /mcp HTTP/1.1\r\nHost: up:9000\r\nAccept: text/event-stream\r\n\r\n"
        );
    }

    #[test]
    fn upstream_head_drops_hop_by_hop_credentials_and_session() {
        let raw = b"POST /mcp?x=1 HTTP/1.1\r\nHost: proxy:8080\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\
Authorization: Bearer secret\r\nCookie: a=b\r\nOrigin: http://localhost\r\nMcp-Session-Id: client\r\n\
Content-Length: 2\r\nAccept: application/json, text/event-stream\r\nLast-Event-ID: 7\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        let mut out = Vec::new();
        upstream_request(
            &mut out,
            "POST",
            &url("/up"),
            &UpstreamHeaders::default(),
            &head,
            Some("upstream-sid"),
            Some(2),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("POST /up HTTP/1.1\r\nHost: up:9000\r\n"),
            "{text}"
        );
        for gone in [
            "proxy:8080",
            "X-Hop",
            "Bearer",
            "Cookie",
            "Origin",
            "client",
            "Connection",
        ] {
            assert!(!text.contains(gone), "{gone} leaked: {text}");
        }
        for kept in [
            "Accept: application/json, text/event-stream\r\n",
            "Last-Event-ID: 7\r\n",
            "Mcp-Session-Id: upstream-sid\r\n",
            "Content-Length: 2\r\n",
        ] {
            assert!(text.contains(kept), "{kept} missing: {text}");
        }
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(text.matches("Content-Length").count(), 1);
    }

    #[test]
    fn configured_headers_replace_the_clients_and_client_credentials_never_pass() {
        let raw =
            b"POST /mcp HTTP/1.1\r\nHost: proxy:8080\r\nAuthorization: Bearer client-token\r\n\
X-API-Key: client-key\r\nx-tenant: client-tenant\r\nUser-Agent: sdk\r\nContent-Length: 2\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        let configured = configured(r#"Authorization = "Bearer up", "X-Tenant" = "proxy""#);
        let mut post = Vec::new();
        upstream_request(
            &mut post,
            "POST",
            &url("/up"),
            &configured,
            &head,
            None,
            Some(2),
        );
        let mut legacy = Vec::new();
        let upstream = url("/up");
        legacy_upstream_request(
            &mut legacy,
            "POST",
            &upstream,
            &configured,
            Some(&head),
            None,
            None,
            Some(2),
        );
        for out in [post, legacy] {
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.starts_with(
                    "POST /up HTTP/1.1\r\nHost: up:9000\r\nAuthorization: Bearer up\r\nX-Tenant: proxy\r\n"
                ),
                "{text}"
            );
            assert!(text.contains("User-Agent: sdk\r\n"), "{text}");
            for gone in ["client-token", "client-key", "client-tenant", "X-API-Key"] {
                assert!(!text.contains(gone), "{gone} leaked: {text}");
            }
            assert_eq!(text.to_ascii_lowercase().matches("x-tenant").count(), 1);
        }
        // Without configured headers the client's credentials are still dropped.
        let mut bare = Vec::new();
        let none = UpstreamHeaders::default();
        upstream_request(&mut bare, "POST", &url("/up"), &none, &head, None, Some(2));
        let text = String::from_utf8(bare).unwrap();
        assert!(
            !text.contains("client-token") && !text.contains("client-key"),
            "{text}"
        );
        assert!(text.contains("x-tenant: client-tenant\r\n"), "{text}");
    }

    #[test]
    fn mirrored_2026_headers_reach_the_upstream_untouched() {
        let raw = b"POST /mcp HTTP/1.1\r\nHost: proxy:8080\r\nMCP-Protocol-Version: 2026-07-28\r\n\
Mcp-Method: tools/call\r\nMcp-Name: =?base64?w6k=?=\r\nMcp-Param-Region: us-west1\r\n\
mcp-param-unknown-thing: =?base64?eA==?=\r\nContent-Length: 2\r\n\r\n";
        let (head, _) = parse_request(raw, &Limits::default()).unwrap().unwrap();
        let mut out = Vec::new();
        let none = UpstreamHeaders::default();
        upstream_request(&mut out, "POST", &url("/up"), &none, &head, None, Some(2));
        let text = String::from_utf8(out).unwrap();
        for line in [
            "MCP-Protocol-Version: 2026-07-28\r\n",
            "Mcp-Method: tools/call\r\n",
            "Mcp-Name: =?base64?w6k=?=\r\n",
            "Mcp-Param-Region: us-west1\r\n",
            "mcp-param-unknown-thing: =?base64?eA==?=\r\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from {text:?}");
        }
    }

    #[test]
    fn client_head_replaces_framing_and_session() {
        let raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\
Mcp-Session-Id: upstream-sid\r\nKeep-Alive: timeout=5\r\nSet-Cookie: s=1\r\n\r\n";
        let (head, _) = parse_response(raw, &Limits::default()).unwrap().unwrap();
        let mut out = Vec::new();
        client_response(
            &mut out,
            &head,
            Some("client-sid"),
            OutFraming::Chunked,
            false,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/event-stream\r\n"));
        assert!(text.contains("Mcp-Session-Id: client-sid\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(
            !text.contains("upstream-sid")
                && !text.contains("Keep-Alive")
                && !text.contains("Set-Cookie")
        );
        assert_eq!(text.matches("Transfer-Encoding: chunked").count(), 1);
    }

    #[test]
    fn local_response_is_complete() {
        let mut out = Vec::new();
        local_response(
            &mut out,
            405,
            Some("application/json"),
            &[("Allow", "GET")],
            b"{}",
            true,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nAllow: GET\r\nContent-Length: 2\r\n\r\n{}"
        );
    }
}
