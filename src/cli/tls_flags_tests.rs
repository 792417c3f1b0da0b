//! The TLS flags: `--upstream-ca`/`--upstream-insecure` (https:// upstreams) and
//! `--tls-cert`/`--tls-key` (listeners) map to their TOML keys, and errors name the flags.
//!
//! Not here: what the keys do (config/upstream_tls_tests.rs, config/listener_tls_tests.rs).

use super::tests::{command, proxy};

/// Asserts `args` are refused with an error keyed by `flag` whose message has `fragment`.
fn assert_flag_error(args: &[&str], flag: &str, fragment: &str) {
    let err = command(args).unwrap_err();
    assert_eq!(err.key(), Some(flag), "{err}");
    assert!(err.to_string().contains(fragment), "{err}");
}

#[test]
fn reverse_upstream_insecure_turns_verification_off_for_https_only() {
    let config = proxy(&[
        "shadowcat",
        "reverse",
        "--upstream",
        "https://127.0.0.1:8443/mcp",
        "--upstream-insecure",
    ]);
    assert_eq!(
        config.upstreams[0].tls,
        Some(crate::config::UpstreamTrust::Insecure)
    );
    let plain = ["--upstream", "http://127.0.0.1:8080/mcp"];
    assert_flag_error(
        &[
            &["shadowcat", "reverse"],
            &plain[..],
            &["--upstream-insecure"],
        ]
        .concat(),
        "--upstream-insecure",
        "https:// upstreams only",
    );
}

#[test]
fn tls_listener_flags_name_themselves() {
    let files = [
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ];
    let reverse = [
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:8080/",
    ];
    for start in [&reverse[..], &["shadowcat", "demo"][..]] {
        assert_flag_error(
            &[start, &files[..]].concat(),
            "--tls-cert",
            "cannot read it",
        );
    }
}
