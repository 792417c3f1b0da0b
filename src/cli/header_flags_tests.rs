//! `reverse --upstream-header`: maps to `upstreams.main.headers`, and its errors name the flag
//! and never show a value.
//!
//! Not here: the checks themselves (config/upstream_headers_tests.rs); flags equal to TOML
//! (`reverse_with_every_flag_equals_toml` in command_tests.rs).

use clap::Parser;

use super::tests::{command, proxy};
use crate::cli::Cli;

const REVERSE: [&str; 4] = [
    "shadowcat",
    "reverse",
    "--upstream",
    "http://127.0.0.1:9000/mcp",
];

fn with(headers: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = REVERSE.iter().map(|a| (*a).to_owned()).collect();
    for header in headers {
        args.push("--upstream-header".into());
        args.push((*header).to_owned());
    }
    args
}

fn refused(headers: &[&str]) -> String {
    let args = with(headers);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = command(&args).unwrap_err();
    assert_eq!(err.key(), Some("--upstream-header"), "{err}");
    err.to_string()
}

#[test]
fn headers_reach_the_upstream_config_trimmed() {
    let args = with(&["  X-Tenant :  acme corp  ", "X-Empty:"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let config = proxy(&args);
    assert_eq!(
        config.upstreams[0].headers.lines(),
        b"X-Empty: \r\nX-Tenant: acme corp\r\n"
    );
}

#[test]
fn errors_name_the_flag_and_the_header_but_never_the_value() {
    let err = refused(&["Authorization: Bearer ${env:SHADOWCAT_TEST_UNSET_9C1D}"]);
    assert!(
        err.starts_with(
            "command line: `--upstream-header`: header `Authorization` refers to \
                         ${env:SHADOWCAT_TEST_UNSET_9C1D}"
        ),
        "{err}"
    );
    let err = refused(&["Host: evil.example"]);
    assert!(
        err.contains("header `Host`") && !err.contains("evil"),
        "{err}"
    );
    let err = refused(&["X-Key: ${KEY}-literal-secret"]);
    assert!(!err.contains("literal-secret"), "{err}");
    let err = refused(&["X-Tenant: a", "x-tenant: b"]);
    assert!(err.contains("each header name once"), "{err}");
}

#[test]
fn the_flag_needs_an_http_upstream_and_a_name() {
    let stdio = [
        "shadowcat",
        "reverse",
        "--upstream-header",
        "X-A: b",
        "--upstream-cmd",
    ];
    let err = command(&[&stdio[..], &["--", "cat"]].concat()).unwrap_err();
    assert_eq!(err.key(), Some("--upstream-header"), "{err}");
    assert!(
        err.to_string()
            .contains("`--upstream-cmd` cannot both be set")
            && err.to_string().contains("environment variables (env)"),
        "{err}"
    );
    for bad in ["no colon", ": value", "  : value"] {
        let args = with(&[bad]);
        let err = Cli::try_parse_from(&args).unwrap_err().to_string();
        assert!(
            err.contains("'NAME: VALUE' with a non-empty NAME"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_legacy_sse_upstream_takes_headers_too() {
    let args = with(&["X-Tenant: acme"]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--upstream-transport", "sse"]);
    assert_eq!(
        proxy(&args).upstreams[0].headers.lines(),
        b"X-Tenant: acme\r\n"
    );
}
