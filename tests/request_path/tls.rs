//! TLS on both sides. Listeners: a raw rustls client runs initialize and tools/call through a
//! proxy whose listener has `tls_cert`/`tls_key`, mTLS with `tls_client_ca`, and a silent
//! client is closed after the head timeout. `https://` upstreams: a second proxy reaches
//! that one over TLS (both I/O paths), checks its certificate against `tls_ca`, answers 502
//! with a TLS-specific JSON-RPC error when the check fails, accepts any certificate with
//! `tls_insecure`, and gives up on a mute upstream within `connect_timeout` (504).

use std::io::{Read, Write};

use serde_json::json;

use crate::client::{Conn, Response};
use crate::harness::{Proxy, IO_PATH};
use crate::mcp;
use crate::tls_peer::{tls_exchange, tls_listener_proxy, TestPki};

/// A proxy whose one upstream is `https://127.0.0.1:{port}/mcp` with `tls` lines added.
fn tls_upstream_proxy(port: u16, tls: &str) -> Proxy {
    let url = format!("url = \"https://127.0.0.1:{port}/mcp\"");
    https_upstream_proxy(&url, tls)
}

/// A proxy whose one upstream, `secure`, has the `upstream` lines (its `url`, `transport`)
/// and the `tls` lines.
pub(crate) fn https_upstream_proxy(upstream: &str, tls: &str) -> Proxy {
    let toml = format!(
        "[runtime]\nshards = 1\nio_memory = \"256KiB\"\nio = \"{IO_PATH}\"\n\n\
         [listeners.main]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"secure\"\n\n\
         [upstreams.secure]\n{upstream}\n\
         request_timeout = \"10s\"\nconnect_timeout = \"5s\"\n{tls}\n\n\
         [timeouts]\nshutdown_grace = \"2s\"\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n"
    );
    Proxy::start_toml(&toml, 1, format!("tls-{}", std::process::id()))
}

/// `initialize` (id `id`) on a new connection to `proxy`.
fn initialize(proxy: &Proxy, id: u64) -> Response {
    let body = mcp::initialize(json!(id));
    proxy
        .conn()
        .request("POST", mcp::PATH, &mcp::fresh_headers(), &body)
}

#[test]
fn a_raw_tls_client_runs_initialize_and_tools_call_on_a_tls_listener() {
    let pki = TestPki::new("shadowcat test CA");
    let proxy = tls_listener_proxy(&pki, "", "");
    let answer = tls_exchange(
        proxy.addr,
        pki.client_config(None),
        &mcp::fresh_headers(),
        &mcp::initialize(json!(1)),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let session = answer
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("mcp-session-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no session id: {answer}"));
    let session = mcp::Session { id: session };
    let answer = tls_exchange(
        proxy.addr,
        pki.client_config(None),
        &session.post_headers(),
        &mcp::echo(json!(2), "over tls"),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("over tls"), "{answer}");
    // Plain HTTP on the TLS port gets no HTTP answer: the handshake fails and it is closed.
    let mut plain = std::net::TcpStream::connect(proxy.addr).unwrap();
    plain
        .set_read_timeout(Some(crate::client::IO_TIMEOUT))
        .unwrap();
    plain
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(!reply.starts_with(b"HTTP/"), "{reply:?}");
    proxy.stop();
}

#[test]
fn a_client_that_never_starts_the_handshake_is_closed_after_the_head_timeout() {
    let pki = TestPki::new("shadowcat test CA");
    let proxy = tls_listener_proxy(&pki, "", "head = \"300ms\"");
    let started = std::time::Instant::now();
    let mut silent = std::net::TcpStream::connect(proxy.addr).unwrap();
    silent
        .set_read_timeout(Some(crate::client::IO_TIMEOUT))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(silent.read(&mut byte).unwrap(), 0, "closed without a byte");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250) && waited < crate::client::IO_TIMEOUT,
        "{waited:?}"
    );
    proxy.stop();
}

#[test]
fn a_listener_with_tls_client_ca_serves_only_clients_with_a_certificate_from_it() {
    let pki = TestPki::new("shadowcat mTLS CA");
    let mtls = format!("tls_client_ca = {}", pki.ca.toml());
    let proxy = tls_listener_proxy(&pki, &mtls, "");
    let init = mcp::initialize(json!(1));
    let answer = tls_exchange(
        proxy.addr,
        pki.client_config(Some(&pki)),
        &mcp::fresh_headers(),
        &init,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = tls_exchange(
        proxy.addr,
        pki.client_config(None),
        &mcp::fresh_headers(),
        &init,
    );
    assert!(
        !answer.starts_with("HTTP/"),
        "served without a client certificate: {answer}"
    );
    // A certificate from another CA is refused too.
    let other = TestPki::new("another CA");
    let answer = tls_exchange(
        proxy.addr,
        pki.client_config(Some(&other)),
        &mcp::fresh_headers(),
        &init,
    );
    assert!(
        !answer.starts_with("HTTP/"),
        "served with a foreign certificate: {answer}"
    );
    proxy.stop();
}

#[test]
fn tools_call_reaches_an_https_upstream_trusting_its_ca() {
    let pki = TestPki::new("shadowcat test CA");
    let upstream = tls_listener_proxy(&pki, "", "");
    let tls = format!("tls_ca = {}", pki.ca.toml());
    let proxy = tls_upstream_proxy(upstream.addr.port(), &tls);
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    for id in 1..=3 {
        let answer = session.post(&mut conn, &mcp::echo(json!(id), "over tls"));
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        assert_eq!(mcp::result_text(&answer.json()), "over tls");
    }
    proxy.stop();
    upstream.stop();
}

#[test]
fn an_upstream_certificate_from_another_ca_is_a_502_tls_error() {
    let trusted = TestPki::new("trusted CA");
    let other = TestPki::new("some other CA");
    let upstream = tls_listener_proxy(&other, "", "");
    let tls = format!("tls_ca = {}", trusted.ca.toml());
    let proxy = tls_upstream_proxy(upstream.addr.port(), &tls);
    let answer = initialize(&proxy, 1);
    mcp::assert_error(&answer, 502, -32010, &json!(1));
    let message = answer.json()["error"]["message"].to_string();
    assert!(message.contains("TLS handshake failed"), "{message}");
    // The built-in roots do not know the test CA either.
    let proxy = tls_upstream_proxy(upstream.addr.port(), "");
    mcp::assert_error(&initialize(&proxy, 2), 502, -32010, &json!(2));
}

#[test]
fn an_upstream_that_never_answers_the_handshake_times_out_within_connect_timeout() {
    // The kernel completes TCP connects into the backlog; nobody ever accepts or answers.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mute.local_addr().unwrap().port();
    let toml = format!(
        "[runtime]\nshards = 1\nio_memory = \"256KiB\"\nio = \"{IO_PATH}\"\n\n\
         [listeners.main]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"mute\"\n\n\
         [upstreams.mute]\nurl = \"https://127.0.0.1:{port}/mcp\"\n\
         connect_timeout = \"300ms\"\ntls_insecure = true\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n"
    );
    let proxy = Proxy::start_toml(&toml, 1, format!("tls-mute-{}", std::process::id()));
    let started = std::time::Instant::now();
    mcp::assert_error(&initialize(&proxy, 3), 504, -32011, &json!(3));
    assert!(started.elapsed() < crate::client::IO_TIMEOUT);
}

#[test]
fn tls_insecure_accepts_any_certificate() {
    let pki = TestPki::new("unknown CA");
    let upstream = tls_listener_proxy(&pki, "", "");
    let proxy = tls_upstream_proxy(upstream.addr.port(), "tls_insecure = true");
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    let answer = session.post(&mut conn, &mcp::echo(json!(7), "unverified"));
    assert_eq!(mcp::result_text(&answer.json()), "unverified");
}

#[test]
fn the_reload_signal_gives_new_connections_the_new_certificate_and_keeps_open_ones() {
    let (old, new) = (TestPki::new("reload old CA"), TestPki::new("reload new CA"));
    // The proxy reads `old`'s files; they are overwritten with `new`'s before the reload.
    let proxy = tls_listener_proxy(&old, "", "");
    let mut open = Conn::connect_tls(proxy.addr, old.client_config(None));
    let body = mcp::initialize(json!(1));
    let answer = open.request("POST", mcp::PATH, &mcp::fresh_headers(), &body);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    std::fs::write(&old.cert.0, std::fs::read(&new.cert.0).unwrap()).unwrap();
    std::fs::write(&old.key.0, std::fs::read(&new.key.0).unwrap()).unwrap();
    proxy.reload();
    // New connections get the new certificate as soon as the shard swapped it in.
    let deadline = std::time::Instant::now() + crate::client::IO_TIMEOUT;
    let with_new = || {
        tls_exchange(
            proxy.addr,
            new.client_config(None),
            &mcp::fresh_headers(),
            &body,
        )
    };
    let mut answer = with_new();
    while !answer.starts_with("HTTP/1.1 200") && std::time::Instant::now() < deadline {
        answer = with_new();
    }
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "never served the new certificate: {answer}"
    );
    let with_old = tls_exchange(
        proxy.addr,
        old.client_config(None),
        &mcp::fresh_headers(),
        &body,
    );
    assert!(
        with_old.is_empty(),
        "the old certificate is still served: {with_old}"
    );
    // The connection opened before the reload keeps its session.
    let again = open.request(
        "POST",
        mcp::PATH,
        &mcp::fresh_headers(),
        &mcp::initialize(json!(2)),
    );
    assert_eq!(again.head.status, 200, "{}", again.describe());
    proxy.stop();
}
