//! TLS listeners in the config: certificate and key files read at load, the errors for a
//! missing half, unreadable or wrong files, and the one-shard rule; what `config check` prints.

use super::resolve_tests::{ok, reject, UPSTREAM};
use super::test_files::TempFile;
use super::*;

/// A self-signed certificate for 127.0.0.1 and its key, written as `{tag}.crt`/`{tag}.key`.
fn cert_and_key(tag: &str) -> (TempFile, TempFile) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (
        TempFile::new(&format!("listener-{tag}.crt"), cert.pem().as_bytes()),
        TempFile::new(
            &format!("listener-{tag}.key"),
            key.serialize_pem().as_bytes(),
        ),
    )
}

fn listener(tls: &str, shards: &str) -> String {
    format!(
        "{UPSTREAM}[runtime]\n{shards}\n[listeners.main]\nbind = \"127.0.0.1:8443\"\n{tls}\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"demo\"\n"
    )
}

#[test]
fn a_tls_listener_on_one_shard_loads_and_prints_its_files() {
    let (cert, key) = cert_and_key("ok");
    let tls = format!("tls_cert = {}\ntls_key = {}", cert.quoted(), key.quoted());
    let config = ok(&listener(&tls, "shards = 1"));
    let got = config.listeners[0].tls.as_ref().unwrap();
    assert_eq!((&got.cert_file, &got.key_file), (&cert.0, &key.0));
    assert_eq!(got.chain.len(), 1);
    // The key is never printed, not even in Debug.
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("PRIVATE") && debug.contains("ListenerTls"),
        "{debug}"
    );
    let printed = to_toml(&config);
    assert!(
        printed.contains(&format!("tls_key = {}", key.quoted())),
        "{printed}"
    );
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);
    ok(&listener(&tls, "cores = \"1\""));
    assert!(ok(UPSTREAM).listeners[0].tls.is_none());
}

#[test]
fn tls_listeners_run_on_any_number_of_shards() {
    let (cert, key) = cert_and_key("shards");
    let tls = format!("tls_cert = {}\ntls_key = {}", cert.quoted(), key.quoted());
    for shards in ["shards = 2", "cores = \"0,1\"", ""] {
        assert!(ok(&listener(&tls, shards)).listeners[0].tls.is_some());
    }
}

#[test]
fn tls_files_are_checked_at_load() {
    let (cert, key) = cert_and_key("a");
    let (_, other_key) = cert_and_key("b");
    reject(
        &listener(&format!("tls_cert = {}", cert.quoted()), "shards = 1"),
        "listeners.main.tls_key",
        &["needs both tls_cert and tls_key"],
    );
    reject(
        &listener(&format!("tls_key = {}", key.quoted()), "shards = 1"),
        "listeners.main.tls_cert",
        &["needs both"],
    );
    reject(
        &listener(
            &format!(
                "tls_cert = \"/nonexistent/c.pem\"\ntls_key = {}",
                key.quoted()
            ),
            "shards = 1",
        ),
        "listeners.main.tls_cert",
        &["cannot read it"],
    );
    reject(
        &listener(
            &format!("tls_cert = {}\ntls_key = {}", key.quoted(), key.quoted()),
            "shards = 1",
        ),
        "listeners.main.tls_cert",
        &["certificate chain"],
    );
    reject(
        &listener(
            &format!("tls_cert = {}\ntls_key = {}", cert.quoted(), cert.quoted()),
            "shards = 1",
        ),
        "listeners.main.tls_key",
        &["a PEM file holding a private key"],
    );
    reject(
        &listener(
            &format!(
                "tls_cert = {}\ntls_key = {}",
                cert.quoted(),
                other_key.quoted()
            ),
            "shards = 1",
        ),
        "listeners.main.tls_key",
        &["the private key of the certificate"],
    );
}

#[test]
fn tls_client_ca_needs_a_tls_listener_and_a_ca_file() {
    let (cert, key) = cert_and_key("mtls");
    let tls = format!("tls_cert = {}\ntls_key = {}", cert.quoted(), key.quoted());
    // Any certificate file works as a CA bundle here: the self-signed server certificate.
    let mtls = format!("{tls}\ntls_client_ca = {}", cert.quoted());
    let config = ok(&listener(&mtls, "shards = 1"));
    let got = config.listeners[0].tls.as_ref().unwrap();
    assert_eq!(
        got.client_ca.as_ref().map(|(file, cas)| (file, cas.len())),
        Some((&cert.0, 1))
    );
    let printed = to_toml(&config);
    assert!(
        printed.contains(&format!("tls_client_ca = {}", cert.quoted())),
        "{printed}"
    );
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);
    reject(
        &listener(&format!("tls_client_ca = {}", cert.quoted()), "shards = 1"),
        "listeners.main.tls_cert",
        &["set tls_cert and tls_key too"],
    );
    reject(
        &listener(
            &format!("{tls}\ntls_client_ca = {}", key.quoted()),
            "shards = 1",
        ),
        "listeners.main.tls_client_ca",
        &["at least one CA certificate"],
    );
}
