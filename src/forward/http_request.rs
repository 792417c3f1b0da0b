//! The requests forward mode sends to a Streamable HTTP target: POST (one client message), GET
//! (the server's stream, or resuming one with `Last-Event-ID`) and DELETE (ending the session).
//!
//! Not here: sending them (http_target.rs), answers (http_reply.rs). Pure: appends to a `Vec`.
//! The client side of MCP's Streamable HTTP transport (2025-03-26 and later): every POST accepts
//! both JSON and SSE answers; `Mcp-Session-Id` and `MCP-Protocol-Version` go on every request
//! after `initialize` (the version header from 2025-06-18 on; older servers ignore it).

use crate::config::UpstreamUrl;
use crate::http::{write_request_head, Framing};

/// `Accept` of a POST: the server picks JSON or an SSE stream per request.
const ACCEPT_POST: &[u8] = b"application/json, text/event-stream";
/// `Accept` of a GET stream.
const ACCEPT_STREAM: &[u8] = b"text/event-stream";

/// What the session knows when a request is sent.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionHeaders<'a> {
    /// `Mcp-Session-Id` the server assigned at `initialize`.
    pub(crate) session: Option<&'a str>,
    /// The protocol version `initialize` negotiated.
    pub(crate) version: Option<&'a str>,
}

/// Which request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Request<'a> {
    /// One client message as the body.
    Post {
        /// Its length.
        body_len: u64,
    },
    /// The server's stream; `last_event_id` resumes one that broke.
    Get {
        /// The last event id seen on the stream being resumed.
        last_event_id: Option<&'a [u8]>,
    },
    /// Ends the session.
    Delete,
}

/// Appends the head of `request` to `out` (a POST's body follows it).
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    url: &UpstreamUrl,
    extra: &[(String, String)],
    session: SessionHeaders<'_>,
    request: Request<'_>,
) {
    let mut headers: Vec<(&str, &[u8])> = Vec::with_capacity(8 + extra.len());
    headers.push(("Host", url.authority.as_bytes()));
    let (method, framing) = match request {
        Request::Post { body_len } => {
            headers.push(("Accept", ACCEPT_POST));
            headers.push(("Content-Type", b"application/json"));
            ("POST", Framing::Length(body_len))
        }
        Request::Get { last_event_id } => {
            headers.push(("Accept", ACCEPT_STREAM));
            if let Some(id) = last_event_id.filter(|id| valid_value(id)) {
                headers.push(("Last-Event-ID", id));
            }
            ("GET", Framing::Empty)
        }
        Request::Delete => ("DELETE", Framing::Empty),
    };
    if let Some(id) = session.session {
        headers.push(("Mcp-Session-Id", id.as_bytes()));
    }
    if let Some(version) = session.version {
        headers.push(("MCP-Protocol-Version", version.as_bytes()));
    }
    headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
    write_request_head(out, method, url.path.as_bytes(), headers, framing);
}

/// Whether a value the server chose (session id, event id) can be sent back as a header: a
/// visible-ASCII value (the spec's rule for session ids) cannot inject a header line.
pub(crate) fn valid_value(value: &[u8]) -> bool {
    !value.is_empty() && value.iter().all(|b| (0x20..0x7f).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, Head, Limits};

    fn url() -> UpstreamUrl {
        UpstreamUrl {
            tls: false,
            host: "127.0.0.1".into(),
            port: 9000,
            path: "/mcp".into(),
            authority: "127.0.0.1:9000".into(),
            addrs: vec![],
        }
    }

    fn head(session: SessionHeaders<'_>, request: Request<'_>) -> crate::http::RequestHead {
        let mut out = Vec::new();
        let extra = [("Authorization".to_owned(), "Bearer t".to_owned())];
        write_head(&mut out, &url(), &extra, session, request);
        let (head, len) = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(len, out.len());
        head
    }

    #[test]
    fn the_first_post_has_no_session_headers() {
        let post = head(SessionHeaders::default(), Request::Post { body_len: 7 });
        assert_eq!(post.method_str(), "POST");
        assert_eq!(post.target(), b"/mcp");
        assert_eq!(post.header("host"), Some(&b"127.0.0.1:9000"[..]));
        assert_eq!(
            post.header("accept"),
            Some(&b"application/json, text/event-stream"[..])
        );
        assert_eq!(post.header("content-type"), Some(&b"application/json"[..]));
        assert_eq!(post.header("content-length"), Some(&b"7"[..]));
        assert_eq!(post.header("authorization"), Some(&b"Bearer t"[..]));
        assert!(post.header("mcp-session-id").is_none());
        assert!(post.header("mcp-protocol-version").is_none());
    }

    #[test]
    fn later_requests_carry_session_and_version() {
        let session = SessionHeaders {
            session: Some("abc"),
            version: Some("2025-06-18"),
        };
        for request in [
            Request::Post { body_len: 2 },
            Request::Get {
                last_event_id: None,
            },
            Request::Delete,
        ] {
            let h = head(session, request);
            assert_eq!(h.header("mcp-session-id"), Some(&b"abc"[..]), "{request:?}");
            assert_eq!(
                h.header("mcp-protocol-version"),
                Some(&b"2025-06-18"[..]),
                "{request:?}"
            );
        }
        let get = head(
            session,
            Request::Get {
                last_event_id: Some(b"ev-9"),
            },
        );
        assert_eq!(get.method_str(), "GET");
        assert_eq!(get.header("accept"), Some(&b"text/event-stream"[..]));
        assert_eq!(get.header("last-event-id"), Some(&b"ev-9"[..]));
        assert!(get.header("content-length").is_none());
        assert_eq!(head(session, Request::Delete).method_str(), "DELETE");
    }

    #[test]
    fn server_chosen_values_with_line_breaks_are_not_sent() {
        assert!(valid_value(b"ab-1_~"));
        assert!(!valid_value(b""));
        assert!(!valid_value(b"a\r\nX: y"));
        let get = head(
            SessionHeaders::default(),
            Request::Get {
                last_event_id: Some(b"a\nb"),
            },
        );
        assert!(get.header("last-event-id").is_none());
    }
}
