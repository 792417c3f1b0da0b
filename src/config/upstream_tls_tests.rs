//! `https://` upstreams in the config: the trust each gets, the errors for TLS settings that
//! cannot apply, unreadable or empty CA files, and what `config check` prints.

use super::resolve_tests::{ok, reject};
use super::test_files::TempFile;
use super::*;

const HTTPS: &str = "[upstreams.demo]\nurl = \"https://127.0.0.1/mcp\"\n";

fn tls_ca(file: &TempFile) -> String {
    format!("tls_ca = {}\n", file.quoted())
}

fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

#[test]
fn https_upstreams_trust_the_builtin_roots_a_ca_file_or_nothing() {
    let config = ok(HTTPS);
    let upstream = &config.upstreams[0];
    assert_eq!(upstream.tls, Some(UpstreamTrust::DefaultRoots));
    let UpstreamTransport::Http(url) = &upstream.transport else {
        panic!("not http: {upstream:?}");
    };
    assert!(url.tls);
    assert_eq!(url.port, 443);

    let pem = format!("{}{}", ca_pem(), ca_pem());
    let ca = TempFile::new("upstream-two.pem", pem.as_bytes());
    let config = ok(&format!("{HTTPS}{}", tls_ca(&ca)));
    match &config.upstreams[0].tls {
        Some(UpstreamTrust::CaFile { path, certs }) => {
            assert_eq!(path, &ca.0);
            assert_eq!(certs.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    let printed = to_toml(&config);
    assert!(printed.contains(&tls_ca(&ca)), "{printed}");
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);

    let config = ok(&format!("{HTTPS}tls_insecure = true\n"));
    assert_eq!(config.upstreams[0].tls, Some(UpstreamTrust::Insecure));
    assert!(to_toml(&config).contains("tls_insecure = true"));
    // Plain upstreams have no TLS at all.
    let config = ok("[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n");
    assert_eq!(config.upstreams[0].tls, None);
    assert!(!to_toml(&config).contains("tls_"));
}

#[test]
fn legacy_sse_upstreams_over_https_get_the_same_trust_and_print_it() {
    const SSE: &str = "[upstreams.demo]\nurl = \"https://127.0.0.1/sse\"\ntransport = \"sse\"\n";
    let config = ok(SSE);
    let upstream = &config.upstreams[0];
    assert_eq!(upstream.tls, Some(UpstreamTrust::DefaultRoots));
    let UpstreamTransport::Sse(url) = &upstream.transport else {
        panic!("not sse: {upstream:?}");
    };
    assert!(url.tls);
    assert_eq!((url.port, url.authority.as_str()), (443, "127.0.0.1"));

    let ca = TempFile::new("upstream-sse.pem", ca_pem().as_bytes());
    let config = ok(&format!("{SSE}{}", tls_ca(&ca)));
    assert!(matches!(
        &config.upstreams[0].tls,
        Some(UpstreamTrust::CaFile { certs, .. }) if certs.len() == 1
    ));
    let printed = to_toml(&config);
    assert!(printed.contains(&tls_ca(&ca)), "{printed}");
    assert!(printed.contains("transport = \"sse\""), "{printed}");
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);

    let config = ok(&format!("{SSE}tls_insecure = true\n"));
    assert_eq!(config.upstreams[0].tls, Some(UpstreamTrust::Insecure));
    let printed = to_toml(&config);
    assert!(printed.contains("tls_insecure = true"), "{printed}");
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);
    reject(
        &format!("{SSE}{}tls_insecure = true\n", tls_ca(&ca)),
        "upstreams.demo.tls_ca",
        &["not both"],
    );
}

#[test]
fn ca_files_must_be_readable_and_hold_a_certificate() {
    reject(
        &format!("{HTTPS}tls_ca = \"/nonexistent/ca.pem\"\n"),
        "upstreams.demo.tls_ca",
        &["\"/nonexistent/ca.pem\"", "cannot read it"],
    );
    let empty = TempFile::new("upstream-empty.pem", b"");
    reject(
        &format!("{HTTPS}{}", tls_ca(&empty)),
        "upstreams.demo.tls_ca",
        &["at least one CA certificate"],
    );
    let broken = TempFile::new(
        "broken.pem",
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n",
    );
    reject(
        &format!("{HTTPS}{}", tls_ca(&broken)),
        "upstreams.demo.tls_ca",
        &["at least one CA certificate"],
    );
}

#[test]
fn tls_settings_apply_to_https_upstreams_only() {
    let ca = TempFile::new("upstream-one.pem", ca_pem().as_bytes());
    reject(
        &format!("{HTTPS}{}tls_insecure = true\n", tls_ca(&ca)),
        "upstreams.demo.tls_ca",
        &["upstreams.demo.tls_insecure", "not both"],
    );
    reject(
        &format!(
            "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/\"\n{}",
            tls_ca(&ca)
        ),
        "upstreams.demo.tls_ca",
        &["upstreams.demo.url", "https:// upstreams only"],
    );
    reject(
        "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/\"\ntls_insecure = true\n",
        "upstreams.demo.tls_insecure",
        &["https:// upstreams only"],
    );
    reject(
        "[upstreams.demo]\ncommand = [\"server\"]\ntls_insecure = true\n",
        "upstreams.demo.tls_insecure",
        &["upstreams.demo.command", "https:// upstreams only"],
    );
    reject(
        &format!(
            "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/sse\"\ntransport = \"sse\"\n{}",
            tls_ca(&ca)
        ),
        "upstreams.demo.tls_ca",
        &["https:// upstreams only"],
    );
    // `false` is the default, so it may be written on a plain upstream.
    ok("[upstreams.demo]\nurl = \"http://127.0.0.1:9000/\"\ntls_insecure = false\n");
}
