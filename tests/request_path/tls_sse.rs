//! Legacy HTTP+SSE upstreams over `https://` (issue 12): proxy A serves the demo server as a
//! real 2024-11-05 HTTP+SSE server over TLS (a TLS listener, `legacy_sse = true`: `GET /sse`
//! and `POST /messages`); proxy B reaches it as its `transport = "sse"` upstream
//! `https://127.0.0.1:<A>/sse`, the stream and every POST over TLS, trusting the test CA with
//! `tls_ca`. A client on B runs initialize and tools/call; a CA B does not trust fails the
//! handshake and the client gets what it gets for an unreachable upstream (502, `-32010`);
//! `tls_insecure` accepts any certificate. Both I/O paths (the harness runs each test twice).

use serde_json::json;

use crate::harness::Proxy;
use crate::mcp;
use crate::tls::https_upstream_proxy;
use crate::tls_peer::{TestPki, TlsProxy};

/// Proxy A: a TLS listener presenting `pki`'s certificate, serving the legacy transport.
fn legacy_over_tls(pki: &TestPki) -> Proxy {
    TlsProxy {
        route: "legacy_sse = true",
        ..TlsProxy::default()
    }
    .start(pki)
}

/// Proxy B: its upstream is `upstream`'s `/sse` over `https://`, with the `tls` lines.
fn sse_client_of(upstream: &Proxy, tls: &str) -> Proxy {
    let url = format!(
        "url = \"https://127.0.0.1:{}/sse\"\ntransport = \"sse\"",
        upstream.addr.port()
    );
    https_upstream_proxy(&url, tls)
}

#[test]
fn tools_call_reaches_a_legacy_sse_upstream_over_https_trusting_its_ca() {
    let pki = TestPki::new("shadowcat SSE test CA");
    let upstream = legacy_over_tls(&pki);
    let proxy = sse_client_of(&upstream, &format!("tls_ca = {}", pki.ca.toml()));
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    // Each POST goes out on the kept-alive TLS connection to the announced endpoint.
    for id in 1..=3 {
        let answer = session.post(&mut conn, &mcp::echo(json!(id), "sse over tls"));
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        assert_eq!(mcp::result_text(&answer.json()), "sse over tls");
    }
    // It went through A's legacy transport: one stream, over TLS.
    assert_eq!(upstream.metric("shadowcat_legacy_sessions_total"), 1.0);
    proxy.stop();
    upstream.stop();
}

#[test]
fn a_legacy_sse_upstream_certificate_from_another_ca_is_a_502() {
    let trusted = TestPki::new("trusted CA");
    let other = TestPki::new("some other CA");
    let upstream = legacy_over_tls(&other);
    let proxy = sse_client_of(&upstream, &format!("tls_ca = {}", trusted.ca.toml()));
    let body = mcp::initialize(json!(1));
    let answer = proxy
        .conn()
        .request("POST", mcp::PATH, &mcp::fresh_headers(), &body);
    mcp::assert_error(&answer, 502, -32010, &json!(1));
    assert_eq!(upstream.metric("shadowcat_legacy_sessions_total"), 0.0);
    proxy.stop();
    // `tls_insecure` verifies nothing: the same certificate is accepted.
    let proxy = sse_client_of(&upstream, "tls_insecure = true");
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let answer = session.post(&mut conn, &mcp::echo(json!(2), "unverified"));
    assert_eq!(mcp::result_text(&answer.json()), "unverified");
    proxy.stop();
    upstream.stop();
}
