//! One test per stdio upstream rule: `url` vs `command`, `transport`, keys of the other
//! transport, and each stdio key's checks and defaults.
//!
//! Not here: the other upstream keys and sections (see `resolve_tests.rs`).

use std::time::Duration;

use super::resolve_tests::{ok, reject, UPSTREAM};
use super::*;

/// A stdio upstream `s` with `extra` keys.
fn stdio(extra: &str) -> String {
    format!("[upstreams.s]\ncommand = [\"node\", \"server.js\"]\n{extra}")
}

#[test]
fn stdio_upstreams_get_their_defaults() {
    let config = ok(&stdio(""));
    let upstream = &config.upstreams[0];
    assert!(upstream.http().is_none());
    assert_eq!(
        *upstream.stdio().unwrap(),
        StdioUpstream {
            command: vec!["node".into(), "server.js".into()],
            env: vec![],
            cwd: None,
            mode: StdioMode::PerSession,
            warm: 1,
            max: 64,
            max_line: 4 * 1024 * 1024,
            kill_grace: Duration::from_secs(2),
        }
    );
    assert_eq!(upstream.request_timeout, Duration::from_secs(60));
}

#[test]
fn stdio_keys_resolve_and_env_is_sorted() {
    let config = ok(&stdio(
        "transport = \"stdio\"\nenv = { ZED = \"1\", ALPHA = \"a=b\" }\ncwd = \"/\"\n\
         mode = \"shared\"\nwarm = 0\nmax = 100000\nmax_line = \"1KiB\"\nkill_grace = \"250ms\"\n\
         request_timeout = \"5s\"\n",
    ));
    let upstream = &config.upstreams[0];
    let child = upstream.stdio().unwrap();
    assert_eq!(
        child.env,
        [("ALPHA".into(), "a=b".into()), ("ZED".into(), "1".into())]
    );
    assert_eq!(child.cwd.as_deref(), Some(std::path::Path::new("/")));
    assert_eq!(child.mode, StdioMode::Shared);
    assert_eq!((child.warm, child.max, child.max_line), (0, 100_000, 1024));
    assert_eq!(child.kill_grace, Duration::from_millis(250));
    assert_eq!(upstream.request_timeout, Duration::from_secs(5));
    // Shared mode ignores `max`, so `warm` may exceed it there.
    ok(&stdio("mode = \"shared\"\nwarm = 4\nmax = 2\n"));
}

#[test]
fn an_upstream_needs_exactly_one_of_url_and_command() {
    reject(
        "[upstreams.s]\nrequest_timeout = \"5s\"\n",
        "upstreams.s",
        &["url = ", "command = "],
    );
    reject(
        &stdio("url = \"http://127.0.0.1:9000/mcp\"\n"),
        "upstreams.s.url",
        &["`upstreams.s.command`", "not both"],
    );
}

#[test]
fn transport_must_agree_with_url_or_command() {
    reject(
        &stdio("transport = \"streamable-http\"\n"),
        "upstreams.s.transport",
        &["\"streamable-http\"", "\"stdio\" (with command)"],
    );
    reject(
        &format!("{UPSTREAM}transport = \"stdio\"\n"),
        "upstreams.demo.transport",
        &["\"stdio\"", "\"sse\" (with url"],
    );
    reject(
        &stdio("transport = \"sse\"\n"),
        "upstreams.s.transport",
        &["\"sse\""],
    );
    reject(
        &format!("{UPSTREAM}transport = \"sse\"\npool_max_idle = 3\n"),
        "upstreams.demo.pool_max_idle",
        &["sse upstream"],
    );
    ok(&format!("{UPSTREAM}transport = \"sse\"\n"));
    reject(
        &stdio("transport = \"pipe\"\n"),
        "upstreams.s.transport",
        &["\"pipe\""],
    );
    ok(&format!("{UPSTREAM}transport = \"streamable-http\"\n"));
}

#[test]
fn commands_must_name_a_program_without_nul() {
    reject(
        "[upstreams.s]\ncommand = []\n",
        "upstreams.s.command",
        &["[]", "a program and its arguments"],
    );
    reject(
        "[upstreams.s]\ncommand = [\"\", \"x\"]\n",
        "upstreams.s.command[0]",
        &["\"\"", "program name"],
    );
    reject(
        "[upstreams.s]\ncommand = [\"node\", \"a\\u0000b\"]\n",
        "upstreams.s.command[1]",
        &["NUL"],
    );
}

#[test]
fn env_names_and_values_are_checked() {
    reject(
        &stdio("env = { \"A=B\" = \"x\" }\n"),
        "upstreams.s.env",
        &["\"A=B\"", "no '='"],
    );
    reject(
        &stdio("env = { \"\" = \"x\" }\n"),
        "upstreams.s.env",
        &["\"\""],
    );
    reject(
        &stdio("env = { \"A\\u0000\" = \"x\" }\n"),
        "upstreams.s.env",
        &["NUL"],
    );
    reject(
        &stdio("env = { A = \"x\\u0000\" }\n"),
        "upstreams.s.env.A",
        &["NUL"],
    );
}

#[test]
fn cwd_must_be_an_existing_directory() {
    reject(
        &stdio("cwd = \"/nonexistent/dir\"\n"),
        "upstreams.s.cwd",
        &["\"/nonexistent/dir\"", "an existing directory"],
    );
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    reject(
        &stdio(&format!("cwd = \"{file}\"\n")),
        "upstreams.s.cwd",
        &["Cargo.toml"],
    );
    reject(&stdio("cwd = \"\"\n"), "upstreams.s.cwd", &["\"\""]);
}

#[test]
fn mode_warm_max_and_max_line_are_bounded() {
    reject(
        &stdio("mode = \"pooled\"\n"),
        "upstreams.s.mode",
        &["\"pooled\"", "\"per-session\"", "\"shared\""],
    );
    reject(
        &stdio("warm = 65\n"),
        "upstreams.s.warm",
        &["65", "0 to 64"],
    );
    reject(
        &stdio("max = 0\n"),
        "upstreams.s.max",
        &["0", "1 to 100000"],
    );
    reject(&stdio("max = 100001\n"), "upstreams.s.max", &["100001"]);
    reject(
        &stdio("warm = 8\nmax = 4\n"),
        "upstreams.s.warm",
        &["8", "at most `max`"],
    );
    reject(
        &stdio("max_line = \"512B\"\n"),
        "upstreams.s.max_line",
        &["\"512B\"", "1KiB to 1GiB"],
    );
    reject(
        &stdio("kill_grace = \"0s\"\n"),
        "upstreams.s.kill_grace",
        &["\"0s\""],
    );
}

#[test]
fn keys_of_the_other_transport_are_rejected() {
    for key in [
        "env = {}",
        "cwd = \"/\"",
        "mode = \"shared\"",
        "warm = 1",
        "max = 1",
    ] {
        let field = key.split(' ').next().unwrap();
        reject(
            &format!("{UPSTREAM}{key}\n"),
            &format!("upstreams.demo.{field}"),
            &["`upstreams.demo.url`", "stdio upstreams (command) only"],
        );
    }
    for key in ["max_line = \"1MiB\"", "kill_grace = \"1s\""] {
        let field = key.split(' ').next().unwrap();
        reject(
            &format!("{UPSTREAM}{key}\n"),
            &format!("upstreams.demo.{field}"),
            &["stdio upstreams"],
        );
    }
    for key in ["connect_timeout = \"1s\"", "pool_max_idle = 4"] {
        let field = key.split(' ').next().unwrap();
        reject(
            &stdio(&format!("{key}\n")),
            &format!("upstreams.s.{field}"),
            &["`upstreams.s.command`", "HTTP upstreams (url) only"],
        );
    }
}

#[test]
fn unknown_stdio_keys_are_parse_errors() {
    let err = from_toml_str(&stdio("args = [\"x\"]\n"), "t.toml").unwrap_err();
    assert!(matches!(err, Error::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown field `args`"), "{err}");
}
