//! mTLS principals (issues 10 and 12): on a listener with `tls_client_ca`, a route without
//! `auth` names each caller by its client certificate's subject. Two certificates are two
//! principals (each owns its sessions: the other one's request is a 404, as for tokens), and
//! `[[routes.policy]]` rules on subject DNs show a tool to one and hide it from the other;
//! `rate_limit.per_principal` names a certificate's subject. A route with `auth` keeps the
//! API key as the principal.

use serde_json::{json, Value};

use crate::auth::KeyFile;
use crate::harness::Proxy;
use crate::mcp;
use crate::tls_peer::{tls_exchange, tls_listener_proxy_with, tls_messages, ClientCert, TestPki};

/// A client certificate, and the headers of a credential (an API key) when the route has auth.
type Who<'a> = (&'a ClientCert, &'a [(&'a str, &'a str)]);

/// One request of `cert`'s holder on a new connection (in `session` when given): the status
/// and the answer's messages, and the session id the proxy minted (for `initialize`).
fn exchange(
    proxy: &Proxy,
    pki: &TestPki,
    (cert, credential): Who<'_>,
    session: Option<&mcp::Session>,
    body: &[u8],
) -> (u16, Vec<Value>, Option<String>) {
    let mut headers = match session {
        Some(session) => session.post_headers(),
        None => mcp::fresh_headers(),
    };
    headers.extend_from_slice(credential);
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

/// A session of `who`.
fn open(proxy: &Proxy, pki: &TestPki, who: Who<'_>) -> mcp::Session {
    let (status, _, minted) = exchange(proxy, pki, who, None, &mcp::initialize(json!(1)));
    assert_eq!(status, 200);
    mcp::Session {
        id: minted.expect("a session id"),
    }
}

/// The names in the `tools/list` answer `who` gets in `session`.
fn listed(proxy: &Proxy, pki: &TestPki, who: Who<'_>, session: &mcp::Session) -> Vec<String> {
    let list = mcp::request(json!(5), "tools/list", json!({}));
    let (status, messages, _) = exchange(proxy, pki, who, Some(session), &list);
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

/// [`mtls_proxy`] with `tables`, and a session each for alice's and bob's certificates.
fn alice_and_bob(pki: &TestPki, tables: &str) -> (Proxy, [(ClientCert, mcp::Session); 2]) {
    let proxy = mtls_proxy(pki, tables);
    let callers = ["alice", "bob"].map(|name| {
        let cert = pki.client_named(name);
        let session = open(&proxy, pki, (&cert, &[]));
        (cert, session)
    });
    (proxy, callers)
}

#[test]
fn each_client_certificate_is_its_own_principal_and_owns_its_sessions() {
    let pki = TestPki::new("shadowcat mTLS CA");
    let (proxy, [(alice, alice_session), (bob, bob_session)]) = alice_and_bob(&pki, "");
    // The same certificate on a new connection is the same principal: its session serves it.
    let echo = mcp::echo(json!(2), "mine");
    let (status, messages, _) = exchange(&proxy, &pki, (&alice, &[]), Some(&alice_session), &echo);
    assert_eq!(status, 200, "{messages:?}");
    assert_eq!(mcp::result_text(&messages[0]), "mine");
    // Another certificate's request for it is a 404 (the session is unknown to bob), both ways.
    for (cert, session, expected) in [
        (&bob, &alice_session, 404),
        (&alice, &bob_session, 404),
        (&bob, &bob_session, 200),
    ] {
        let (status, _, _) = exchange(&proxy, &pki, (cert, &[]), Some(session), &echo);
        assert_eq!(status, expected, "{}", session.id);
    }
    proxy.stop();
}

#[test]
fn a_policy_on_certificate_subjects_shows_alice_a_tool_hidden_from_bob() {
    let pki = TestPki::new("shadowcat mTLS CA");
    let policy = "[[listeners.main.routes.policy]]\naction = \"allow\"\n\
                  principals = [\"CN=alice,O=*\"]\n\
                  [[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"echo\"]\n";
    let (proxy, [(alice, alice_session), (bob, bob_session)]) = alice_and_bob(&pki, policy);
    assert!(listed(&proxy, &pki, (&alice, &[]), &alice_session).contains(&"echo".to_owned()));
    let bobs = listed(&proxy, &pki, (&bob, &[]), &bob_session);
    assert!(
        !bobs.is_empty() && !bobs.contains(&"echo".to_owned()),
        "{bobs:?}"
    );
    let echo = mcp::echo(json!(6), "hi");
    let (status, messages, _) = exchange(&proxy, &pki, (&bob, &[]), Some(&bob_session), &echo);
    assert_eq!(status, 200);
    assert_eq!(messages[0]["error"]["code"], -32602, "{messages:?}");
    let (_, messages, _) = exchange(&proxy, &pki, (&alice, &[]), Some(&alice_session), &echo);
    assert_eq!(mcp::result_text(&messages[0]), "hi");
    proxy.stop();
}

#[test]
fn rate_limits_per_principal_count_each_certificate_apart() {
    let pki = TestPki::new("shadowcat mTLS CA");
    let limit = "[listeners.main.routes.rate_limit]\n\
                 per_principal = { \"CN=alice,O=Example\" = \"1/h\" }\n";
    // alice's one request an hour is her initialize; bob has no limit.
    let (proxy, [(alice, alice_session), (bob, bob_session)]) = alice_and_bob(&pki, limit);
    let echo = mcp::echo(json!(3), "again");
    let (status, messages, _) = exchange(&proxy, &pki, (&alice, &[]), Some(&alice_session), &echo);
    assert_eq!(status, 429, "{messages:?}");
    assert_eq!(messages[0]["error"]["code"], -32015, "{messages:?}");
    for _ in 0..2 {
        let (status, _, _) = exchange(&proxy, &pki, (&bob, &[]), Some(&bob_session), &echo);
        assert_eq!(status, 200);
    }
    proxy.stop();
}

#[test]
fn a_route_with_auth_keeps_the_api_key_as_the_principal() {
    let pki = TestPki::new("shadowcat mTLS CA");
    let keys = KeyFile::new("mtls", &[("bob", "bob-key-1"), ("carol", "carol-key-2")]);
    let tables = format!(
        "[listeners.main.routes.auth]\n{}\n\
         [[listeners.main.routes.policy]]\naction = \"allow\"\nprincipals = [\"bob\"]\n\
         [[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"echo\"]\n",
        keys.setting()
    );
    let proxy = mtls_proxy(&pki, &tables);
    let (alice, bob) = (pki.client_named("alice"), pki.client_named("bob"));
    let (bob_key, carol_key) = ([("X-API-Key", "bob-key-1")], [("X-API-Key", "carol-key-2")]);
    // alice's certificate with bob's key is bob: his session, his tools; bob's certificate with
    // carol's key is carol, a stranger to that session.
    let session = open(&proxy, &pki, (&alice, &bob_key));
    let echo = mcp::echo(json!(4), "key");
    let (status, messages, _) = exchange(&proxy, &pki, (&bob, &bob_key), Some(&session), &echo);
    assert_eq!(status, 200, "{messages:?}");
    assert_eq!(mcp::result_text(&messages[0]), "key");
    let (status, _, _) = exchange(&proxy, &pki, (&bob, &carol_key), Some(&session), &echo);
    assert_eq!(status, 404);
    let carols = open(&proxy, &pki, (&bob, &carol_key));
    let (_, messages, _) = exchange(&proxy, &pki, (&bob, &carol_key), Some(&carols), &echo);
    assert_eq!(messages[0]["error"]["code"], -32602, "{messages:?}");
    proxy.stop();
}
