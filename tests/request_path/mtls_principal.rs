//! mTLS principals (issues 10 and 12): on a listener with `tls_client_ca`, a route without
//! `auth` names each caller by its client certificate's subject. Two certificates are two
//! principals (each owns its sessions: the other one's request is a 404, as for tokens), and
//! `[[routes.policy]]` rules on subject DNs show a tool to one and hide it from the other.

use serde_json::{json, Value};

use crate::harness::Proxy;
use crate::mcp;
use crate::tls_peer::{tls_exchange, tls_listener_proxy_with, tls_messages, ClientCert, TestPki};

/// One request of `cert`'s holder on a new connection (in `session` when given): the status
/// and the answer's messages, and the session id the proxy minted (for `initialize`).
fn exchange(
    proxy: &Proxy,
    pki: &TestPki,
    cert: &ClientCert,
    session: Option<&mcp::Session>,
    body: &[u8],
) -> (u16, Vec<Value>, Option<String>) {
    let headers = match session {
        Some(session) => session.post_headers(),
        None => mcp::fresh_headers(),
    };
    let answer = tls_exchange(
        proxy.addr,
        pki.client_config_with(Some(cert)),
        &headers,
        body,
    );
    let minted = answer.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("mcp-session-id")
            .then(|| value.trim().to_owned())
    });
    let (status, messages) = tls_messages(&answer);
    (status, messages, minted)
}

/// A session of `cert`'s holder.
fn open(proxy: &Proxy, pki: &TestPki, cert: &ClientCert) -> mcp::Session {
    let (status, _, minted) = exchange(proxy, pki, cert, None, &mcp::initialize(json!(1)));
    assert_eq!(status, 200);
    mcp::Session {
        id: minted.expect("a session id"),
    }
}

/// The names in the `tools/list` answer `cert`'s holder gets in `session`.
fn listed(proxy: &Proxy, pki: &TestPki, cert: &ClientCert, session: &mcp::Session) -> Vec<String> {
    let list = mcp::request(json!(5), "tools/list", json!({}));
    let (status, messages, _) = exchange(proxy, pki, cert, Some(session), &list);
    assert_eq!(status, 200, "{messages:?}");
    messages[0]["result"]["tools"]
        .as_array()
        .expect("a listing")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A proxy whose TLS listener asks for certificates from `pki`, with `policy` tables.
fn mtls_proxy(pki: &TestPki, policy: &str) -> Proxy {
    let mtls = format!("tls_client_ca = {}", pki.ca.toml());
    tls_listener_proxy_with(pki, &mtls, "", policy)
}

#[test]
fn each_client_certificate_is_its_own_principal_and_owns_its_sessions() {
    let pki = TestPki::new("shadowcat mTLS CA");
    let proxy = mtls_proxy(&pki, "");
    let (alice, bob) = (pki.client_named("alice"), pki.client_named("bob"));
    let alice_session = open(&proxy, &pki, &alice);
    let bob_session = open(&proxy, &pki, &bob);
    // The same certificate on a new connection is the same principal: its session serves it.
    let echo = mcp::echo(json!(2), "mine");
    let (status, messages, _) = exchange(&proxy, &pki, &alice, Some(&alice_session), &echo);
    assert_eq!(status, 200, "{messages:?}");
    assert_eq!(mcp::result_text(&messages[0]), "mine");
    // Another certificate's request for it is a 404 (the session is unknown to bob), both ways.
    let (status, _, _) = exchange(&proxy, &pki, &bob, Some(&alice_session), &echo);
    assert_eq!(status, 404);
    let (status, _, _) = exchange(&proxy, &pki, &alice, Some(&bob_session), &echo);
    assert_eq!(status, 404);
    let (status, _, _) = exchange(&proxy, &pki, &bob, Some(&bob_session), &echo);
    assert_eq!(status, 200);
    proxy.stop();
}

#[test]
fn a_policy_on_certificate_subjects_shows_alice_a_tool_hidden_from_bob() {
    let pki = TestPki::new("shadowcat mTLS CA");
    let policy = "[[listeners.main.routes.policy]]\naction = \"allow\"\n\
                  principals = [\"CN=alice,O=*\"]\n\
                  [[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"echo\"]\n";
    let proxy = mtls_proxy(&pki, policy);
    let (alice, bob) = (pki.client_named("alice"), pki.client_named("bob"));
    let alice_session = open(&proxy, &pki, &alice);
    let bob_session = open(&proxy, &pki, &bob);
    assert!(listed(&proxy, &pki, &alice, &alice_session).contains(&"echo".to_owned()));
    let bobs = listed(&proxy, &pki, &bob, &bob_session);
    assert!(
        !bobs.is_empty() && !bobs.contains(&"echo".to_owned()),
        "{bobs:?}"
    );
    let echo = mcp::echo(json!(6), "hi");
    let (status, messages, _) = exchange(&proxy, &pki, &bob, Some(&bob_session), &echo);
    assert_eq!(status, 200);
    assert_eq!(messages[0]["error"]["code"], -32602, "{messages:?}");
    let (_, messages, _) = exchange(&proxy, &pki, &alice, Some(&alice_session), &echo);
    assert_eq!(mcp::result_text(&messages[0]), "hi");
    proxy.stop();
}
