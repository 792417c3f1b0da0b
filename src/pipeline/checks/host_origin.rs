//! `host_origin`: `Host` must be allow-listed, and `Origin`, when present, too (MCP: an invalid
//! Origin gets 403; DNS rebinding). A listener's check, run before a route is chosen, so a
//! refused request learns nothing about the routes. Every `Origin` field is checked: a browser
//! sends one, so an allowed first copy must not vouch for a foreign second one. (`Host` needs
//! no such care: the head parser refuses a repeated `Host`.)

use crate::config::ListenerConfig;
use crate::http::{Head, RequestHead};

use crate::pipeline::Refusal;

/// Checks `head` against `listener`'s allow-lists.
pub fn check(listener: &ListenerConfig, head: &RequestHead) -> Result<(), Refusal> {
    let host = head.header("host").ok_or(Refusal::HostNotAllowed)?;
    if !listener.host_allowed(host) {
        return Err(Refusal::HostNotAllowed);
    }
    let mut origins = head.fields().get_all("origin");
    if origins.any(|origin| !listener.origin_allowed(origin)) {
        return Err(Refusal::OriginNotAllowed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, Limits};
    use crate::pipeline::checks::test_head::head;

    fn listener() -> ListenerConfig {
        ListenerConfig {
            name: "main".into(),
            bind: "127.0.0.1:8080".parse().unwrap(),
            routes: Vec::new(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            allowed_origins: vec!["https://app.example.com".into()],
            tls: None,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }

    #[test]
    fn allowed_hosts_and_origins_continue() {
        let l = listener();
        assert_eq!(check(&l, &head("POST", &[])), Ok(()));
        assert_eq!(
            check(&l, &head("GET", &[("Origin", "http://localhost:3000")])),
            Ok(())
        );
        assert_eq!(
            check(&l, &head("POST", &[("Origin", "https://app.example.com")])),
            Ok(())
        );
    }

    #[test]
    fn a_foreign_origin_or_host_is_refused() {
        let l = listener();
        assert_eq!(
            check(&l, &head("POST", &[("Origin", "http://evil.example")])),
            Err(Refusal::OriginNotAllowed)
        );
        let evil = |raw: &[u8]| parse_request(raw, &Limits::default()).unwrap().unwrap().0;
        assert_eq!(
            check(
                &l,
                &evil(b"GET /mcp HTTP/1.1\r\nHost: evil.example\r\n\r\n")
            ),
            Err(Refusal::HostNotAllowed)
        );
        assert_eq!(
            check(&l, &evil(b"POST /mcp HTTP/1.0\r\n\r\n")),
            Err(Refusal::HostNotAllowed)
        );
    }

    #[test]
    fn a_foreign_origin_behind_an_allowed_one_is_refused() {
        let l = listener();
        let allowed = ("Origin", "https://app.example.com");
        let foreign = ("Origin", "http://evil.example");
        for pair in [[allowed, foreign], [foreign, allowed]] {
            assert_eq!(
                check(&l, &head("POST", &pair)),
                Err(Refusal::OriginNotAllowed),
                "{pair:?}"
            );
        }
        assert_eq!(check(&l, &head("POST", &[allowed, allowed])), Ok(()));
    }
}
