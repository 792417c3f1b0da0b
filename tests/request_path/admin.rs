//! The admin API behind its bearer token (`[admin] token_file`): `/metrics` needs
//! `Authorization: Bearer TOKEN`, a missing or wrong token gets 401 with a `WWW-Authenticate`
//! challenge, and the probes (`/health`, `/ready`) stay open.

use crate::harness::{Proxy, Setup, Upstream};

/// One file per test binary (the uring and glommio builds of this suite run side by side).
const TOKEN_FILE: &str = concat!("/tmp/shadowcat-admin-token-", env!("CARGO_CRATE_NAME"));
const TOKEN: &str = "s3cr3t-admin-token-0123456789";

/// Removes the token file when the test ends, also on failure.
struct TokenFile;

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(TOKEN_FILE);
    }
}

#[test]
fn admin_api_needs_the_token_and_probes_stay_open() {
    std::fs::write(TOKEN_FILE, format!("{TOKEN}\n")).unwrap();
    let _file = TokenFile;
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_admin(concat!(
        "token_file = \"/tmp/shadowcat-admin-token-",
        env!("CARGO_CRATE_NAME"),
        "\""
    )));
    let mut admin = crate::client::Conn::connect(proxy.admin);
    let bearer = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    for headers in [vec![], vec![("Authorization", wrong.as_str())]] {
        let refused = admin.request("GET", "/metrics", &headers, b"");
        assert_eq!(refused.head.status, 401, "{}", refused.describe());
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer realm=\"shadowcat admin\"")
        );
        assert!(!String::from_utf8_lossy(&refused.body).contains("shadowcat_"));
    }
    let metrics = admin.request("GET", "/metrics", &[("Authorization", &bearer)], b"");
    assert_eq!(metrics.head.status, 200, "{}", metrics.describe());
    assert!(String::from_utf8_lossy(&metrics.body).contains("shadowcat_connections_total"));
    for probe in ["/health", "/ready"] {
        let open = admin.request("GET", probe, &[], b"");
        assert_eq!(open.head.status, 200, "{probe}: {}", open.describe());
    }
}

/// The admin API reads no body outside the interception endpoints: a request with one is
/// answered and its connection closed, so the body is never taken for a next request (a body
/// holding a request line got its own answer before).
#[test]
fn a_body_the_admin_api_does_not_read_closes_the_connection() {
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_admin(""));
    let mut admin = crate::client::Conn::connect(proxy.admin);
    let refused = admin.request(
        "POST",
        "/metrics",
        &[],
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(refused.head.status, 405, "{}", refused.describe());
    assert!(!refused.head.keeps_alive(), "{}", refused.describe());
    assert!(admin.closed_by_peer());
}

/// An interception endpoint's body over its 1 MiB limit: 413 and the connection closed (the
/// unread bytes are not a next request); a query string does not change the route.
#[test]
fn an_oversized_interception_body_is_413_and_closes() {
    let proxy = Proxy::start(Setup::one(Upstream::Http).with_admin(""));
    let mut admin = crate::client::Conn::connect(proxy.admin);
    let listed = admin.request("GET", "/api/intercept/rules?pretty=1", &[], b"");
    assert_eq!(listed.head.status, 200, "{}", listed.describe());
    let head = format!(
        "PUT /api/intercept/rules HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 2097152\r\n\r\n[",
        proxy.admin
    );
    admin.send_raw(head.as_bytes());
    let refused = admin.response("PUT");
    assert_eq!(refused.head.status, 413, "{}", refused.describe());
    assert!(!refused.head.keeps_alive(), "{}", refused.describe());
    assert!(admin.closed_by_peer());
}
