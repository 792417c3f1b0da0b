//! `https://` upstreams: the proxy connects over TLS (both I/O paths), checks the certificate
//! against `tls_ca`, answers 502 with a TLS-specific JSON-RPC error when the check fails, and
//! accepts any certificate with `tls_insecure`.
//!
//! The upstream is [`Terminator`] (tls_peer.rs) in front of a second, plain proxy whose
//! upstream is the demo server.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream, IO_PATH};
use crate::mcp;
use crate::tls_peer::{Terminator, TestPki};

/// A proxy whose one upstream is `https://127.0.0.1:{port}/mcp` with `tls` lines added.
fn tls_proxy(port: u16, tls: &str) -> Proxy {
    let toml = format!(
        "[runtime]\nshards = 1\nio_memory = \"256KiB\"\nio = \"{IO_PATH}\"\n\n\
         [listeners.main]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"secure\"\n\n\
         [upstreams.secure]\nurl = \"https://127.0.0.1:{port}/mcp\"\n\
         request_timeout = \"10s\"\nconnect_timeout = \"5s\"\n{tls}\n\n\
         [timeouts]\nshutdown_grace = \"2s\"\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n"
    );
    Proxy::start_toml(&toml, 1, format!("tls-{}", std::process::id()))
}

#[test]
fn tools_call_reaches_an_https_upstream_trusting_its_ca() {
    let plain = Proxy::start(Setup::one(Upstream::Http));
    let pki = TestPki::new("shadowcat test CA");
    let upstream = Terminator::start(&pki, plain.addr);
    let ca = pki.ca_file();
    let proxy = tls_proxy(
        upstream.addr.port(),
        &format!("tls_ca = {:?}", ca.0.display().to_string()),
    );
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    for id in 1..=3 {
        let answer = session.post(&mut conn, &mcp::echo(json!(id), "over tls"));
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        assert_eq!(mcp::result_text(&answer.json()), "over tls");
    }
    proxy.stop();
}

#[test]
fn an_upstream_certificate_from_another_ca_is_a_502_tls_error() {
    let plain = Proxy::start(Setup::one(Upstream::Http));
    let trusted = TestPki::new("trusted CA");
    let other = TestPki::new("some other CA");
    let upstream = Terminator::start(&other, plain.addr);
    let ca = trusted.ca_file();
    let proxy = tls_proxy(
        upstream.addr.port(),
        &format!("tls_ca = {:?}", ca.0.display().to_string()),
    );
    let mut conn = proxy.conn();
    let answer = conn.request(
        "POST",
        mcp::PATH,
        &mcp::fresh_headers(),
        &mcp::initialize(json!(1)),
    );
    mcp::assert_error(&answer, 502, -32010, &json!(1));
    let message = answer.json()["error"]["message"].to_string();
    assert!(message.contains("TLS handshake failed"), "{message}");
    // The built-in roots do not know the test CA either.
    let proxy = tls_proxy(upstream.addr.port(), "");
    let mut conn = proxy.conn();
    let answer = conn.request(
        "POST",
        mcp::PATH,
        &mcp::fresh_headers(),
        &mcp::initialize(json!(2)),
    );
    mcp::assert_error(&answer, 502, -32010, &json!(2));
}

#[test]
fn tls_insecure_accepts_any_certificate() {
    let plain = Proxy::start(Setup::one(Upstream::Http));
    let pki = TestPki::new("unknown CA");
    let upstream = Terminator::start(&pki, plain.addr);
    let proxy = tls_proxy(upstream.addr.port(), "tls_insecure = true");
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let answer = session.post(&mut conn, &mcp::echo(json!(7), "unverified"));
    assert_eq!(mcp::result_text(&answer.json()), "unverified");
}
