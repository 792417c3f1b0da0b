//! One test per validation rule: each bad setting is rejected with a message that names its TOML
//! path and quotes its value.
//!
//! Not here: schema errors from the TOML parser (see `config_tests.rs`).

use std::time::Duration;

use super::*;

/// A valid file; tests append or replace sections.
const UPSTREAM: &str = "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n";

fn ok(text: &str) -> Config {
    from_toml_str(text, "t.toml").unwrap_or_else(|e| panic!("{e}\n--- in ---\n{text}"))
}

/// Asserts `text` is rejected, the error is about `key`, and the message quotes every fragment.
fn reject(text: &str, key: &str, fragments: &[&str]) -> String {
    let err = match from_toml_str(text, "t.toml") {
        Ok(config) => panic!("accepted:\n{text}\n{config:?}"),
        Err(err) => err,
    };
    let message = err.to_string();
    assert_eq!(err.key(), Some(key), "{message}");
    assert!(message.starts_with("t.toml: "), "{message}");
    assert!(message.contains(&format!("`{key}`")), "{message}");
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "missing {fragment:?} in: {message}"
        );
    }
    assert_eq!(err.exit_code(), 2);
    message
}

/// A listener table `name` on `bind` with `extra` keys and one route: `path` to `upstream`.
fn listener(name: &str, bind: &str, extra: &str, path: &str, upstream: &str) -> String {
    format!(
        "[listeners.{name}]\nbind = \"{bind}\"\n{extra}\
         [[listeners.{name}.routes]]\npath = \"{path}\"\nupstream = \"{upstream}\"\n"
    )
}

/// The upstream `demo` and listener `main` on 127.0.0.1:8080, plus `extra` at the end.
fn with_listener(extra: &str) -> String {
    let main = listener("main", "127.0.0.1:8080", "", "/mcp", "demo");
    format!("{UPSTREAM}{main}{extra}")
}

#[test]
fn a_route_naming_an_unknown_upstream_lists_the_known_ones() {
    let main = listener("main", "127.0.0.1:8080", "", "/mcp", "dmeo");
    let text = format!("{UPSTREAM}[upstreams.other]\nurl = \"http://127.0.0.1:9001/\"\n{main}");
    reject(
        &text,
        "listeners.main.routes[0].upstream",
        &["\"dmeo\"", "defined upstreams: [demo, other]"],
    );
}

#[test]
fn duplicate_binds_are_rejected_across_listeners_admin_and_wildcards() {
    let second = listener("second", "127.0.0.1:8080", "", "/mcp", "demo");
    reject(
        &with_listener(&second),
        "listeners.second.bind",
        &[
            "\"127.0.0.1:8080\"",
            "already used by `listeners.main.bind`",
        ],
    );
    reject(
        &with_listener("[admin]\nbind = \"127.0.0.1:8080\"\n"),
        "admin.bind",
        &["\"127.0.0.1:8080\"", "`listeners.main.bind`"],
    );
    let wildcard = listener(
        "wild",
        "0.0.0.0:8080",
        "allowed_hosts = [\"*\"]\n",
        "/mcp",
        "demo",
    );
    reject(
        &with_listener(&wildcard),
        "listeners.wild.bind",
        &["\"0.0.0.0:8080\""],
    );
    // Port 0 never clashes: the kernel picks distinct ports.
    let zero = listener("zero", "127.0.0.1:0", "", "/mcp", "demo");
    ok(&with_listener(&format!(
        "{zero}[demo]\nbind = \"127.0.0.1:0\"\n"
    )));
}

#[test]
fn duplicate_route_paths_on_a_listener_are_rejected() {
    let text = with_listener("[[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"demo\"\n");
    reject(
        &text,
        "listeners.main.routes[1].path",
        &["\"/mcp\"", "`listeners.main.routes[0].path`"],
    );
}

#[test]
fn zero_and_unparsable_durations_are_rejected_for_every_duration_key() {
    let keys = [
        ("timeouts", "head"),
        ("timeouts", "keepalive_idle"),
        ("timeouts", "shutdown_grace"),
        ("sessions", "ttl"),
        ("sessions", "reap_interval"),
        ("upstreams.demo", "connect_timeout"),
        ("upstreams.demo", "request_timeout"),
    ];
    for (table, field) in keys {
        for bad in ["0s", "5x", "30", "400days"] {
            let section = if table == "upstreams.demo" {
                format!(
                    "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n{field} = \"{bad}\"\n"
                )
            } else {
                format!("{UPSTREAM}[{table}]\n{field} = \"{bad}\"\n")
            };
            reject(
                &section,
                &format!("{table}.{field}"),
                &[&format!("\"{bad}\""), "a non-zero duration"],
            );
        }
    }
}

#[test]
fn reap_interval_may_not_exceed_ttl_and_follows_a_short_ttl() {
    reject(
        &format!("{UPSTREAM}[sessions]\nttl = \"1m\"\nreap_interval = \"2m\"\n"),
        "sessions.reap_interval",
        &["\"2m\"", "no longer than sessions.ttl"],
    );
    let config = ok(&format!("{UPSTREAM}[sessions]\nttl = \"10s\"\n"));
    assert_eq!(config.sessions.reap_interval, Duration::from_secs(10));
}

#[test]
fn session_cap_must_be_positive() {
    reject(
        &format!("{UPSTREAM}[sessions]\nmax_per_shard = 0\n"),
        "sessions.max_per_shard",
        &["0", "from 1 to"],
    );
    let config = ok(&format!("{UPSTREAM}[sessions]\nmax_per_shard = 5\n"));
    assert_eq!(config.sessions.max_per_shard, 5);
}

#[test]
fn bad_urls_are_rejected_with_the_url_quoted() {
    for bad in [
        "127.0.0.1:9000",
        "http://",
        "http://h:99999/",
        "ftp://h/",
        "http://u@h/",
    ] {
        reject(
            &format!("[upstreams.demo]\nurl = \"{bad}\"\n"),
            "upstreams.demo.url",
            &[&format!("\"{bad}\""), "an http:// URL"],
        );
    }
    reject(
        "[upstreams.demo]\nurl = \"https://mcp.example.com/mcp\"\n",
        "upstreams.demo.url",
        &["TLS upstreams (https://) are not supported yet"],
    );
}

#[test]
fn port_zero_upstreams_need_a_matching_demo_server() {
    reject(
        "[upstreams.demo]\nurl = \"http://127.0.0.1:0/mcp\"\n",
        "upstreams.demo.url",
        &["\"http://127.0.0.1:0/mcp\"", "port 0 only"],
    );
    let config = ok("[upstreams.demo]\nurl = \"http://127.0.0.1:0/mcp\"\n[demo]\n");
    assert_eq!(config.demo.unwrap().bind.port(), 0);
}

#[test]
fn shard_counts_and_core_lists_are_checked() {
    reject(
        &format!("{UPSTREAM}[runtime]\nshards = 0\n"),
        "runtime.shards",
        &["= 0", "from 1 to 8192"],
    );
    reject(
        &format!("{UPSTREAM}[runtime]\nshards = 100000\n"),
        "runtime.shards",
        &["= 100000"],
    );
    for bad in ["", "3-1", "0,,1", "a-b", "9000"] {
        reject(
            &format!("{UPSTREAM}[runtime]\ncores = \"{bad}\"\n"),
            "runtime.cores",
            &[&format!("\"{bad}\""), "0-7,16-23"],
        );
    }
    let message = reject(
        &format!("{UPSTREAM}[runtime]\nshards = 2\ncores = \"0-1\"\n"),
        "runtime.shards",
        &["`runtime.cores`", "not both"],
    );
    assert!(message.contains("cannot both be set"), "{message}");
}

#[test]
fn sizes_are_checked_for_syntax_and_bounds() {
    let cases = [
        ("runtime", "io_memory", "\"4MB\"", "binary unit"),
        ("runtime", "io_memory", "\"1KiB\"", "from 64KiB to 1GiB"),
        ("limits", "max_head_bytes", "100", "from 1KiB to 1MiB"),
        ("limits", "max_body_bytes", "0", "from 1B to 1GiB"),
        ("limits", "max_body_bytes", "\"2GiB\"", "from 1B to 1GiB"),
        ("limits", "max_sse_event_bytes", "\"lots\"", "binary unit"),
    ];
    for (table, field, value, allowed) in cases {
        reject(
            &format!("{UPSTREAM}[{table}]\n{field} = {value}\n"),
            &format!("{table}.{field}"),
            &[&format!("= {value} is invalid"), allowed],
        );
    }
}

#[test]
fn counts_are_bounded() {
    reject(
        &format!("{UPSTREAM}[limits]\nmax_headers = 0\n"),
        "limits.max_headers",
        &["= 0", "from 1 to 1024"],
    );
    reject(
        "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/\"\npool_max_idle = 70000\n",
        "upstreams.demo.pool_max_idle",
        &["= 70000", "0 (no pooling) to 65536"],
    );
}

#[test]
fn non_loopback_listeners_need_an_explicit_host_list() {
    let public = |hosts: &str| {
        let public = listener("pub", "0.0.0.0:8080", hosts, "/mcp", "demo");
        format!("{UPSTREAM}{public}")
    };
    reject(
        &public(""),
        "listeners.pub.allowed_hosts",
        &[
            "0.0.0.0:8080",
            "not a loopback address",
            "[\"*\"] to disable",
        ],
    );
    reject(
        &public("allowed_hosts = []\n"),
        "listeners.pub.allowed_hosts",
        &["= []"],
    );
    let config = ok(&public("allowed_hosts = [\"*\"]\n"));
    assert!(config.listeners[0].host_allowed(b"anything:1"));
    let config = ok(&public(
        "allowed_hosts = [\"Mcp.Example.com\", \"mcp.example.com\"]\n",
    ));
    assert_eq!(config.listeners[0].allowed_hosts, ["mcp.example.com"]);
}

#[test]
fn host_and_origin_entries_are_checked() {
    let main = |extra: &str| {
        let main = listener("main", "127.0.0.1:8080", extra, "/mcp", "demo");
        format!("{UPSTREAM}{main}")
    };
    reject(
        &main("allowed_hosts = [\"localhost\", \"localhost:8080\"]\n"),
        "listeners.main.allowed_hosts[1]",
        &["\"localhost:8080\"", "without port"],
    );
    reject(
        &main("allowed_origins = [\"https://app.example.com/\"]\n"),
        "listeners.main.allowed_origins[0]",
        &["\"https://app.example.com/\"", "scheme://host[:port]"],
    );
}

#[test]
fn names_binds_and_paths_are_checked() {
    reject(
        "[upstreams.\"my upstream\"]\nurl = \"http://127.0.0.1:1/\"\n",
        "upstreams.\"my upstream\"",
        &["letters, digits"],
    );
    let text = format!(
        "{UPSTREAM}{}",
        listener("main", "localhost:8080", "", "/mcp", "demo")
    );
    reject(
        &text,
        "listeners.main.bind",
        &["\"localhost:8080\"", "host names are not accepted"],
    );
    for bad in ["mcp", "/mcp?x=1", "/a b", ""] {
        let text = format!(
            "{UPSTREAM}{}",
            listener("main", "127.0.0.1:8080", "", bad, "demo")
        );
        reject(
            &text,
            "listeners.main.routes[0].path",
            &[&format!("\"{bad}\""), "absolute path"],
        );
    }
    reject(
        &format!("{UPSTREAM}[demo]\npath = \"x\"\n"),
        "demo.path",
        &["\"x\""],
    );
    reject(
        &format!("{UPSTREAM}[admin]\nbind = \"9901\"\n"),
        "admin.bind",
        &["\"9901\""],
    );
}

#[test]
fn missing_pieces_are_named() {
    reject("", "upstreams", &["[upstreams.NAME]"]);
    reject(
        &format!("{UPSTREAM}[upstreams.b]\nurl = \"http://127.0.0.1:1/\"\n"),
        "listeners",
        &["several upstreams"],
    );
    reject(
        &format!("{UPSTREAM}[listeners.main]\nbind = \"127.0.0.1:8080\"\n"),
        "listeners.main.routes",
        &["[[listeners.NAME.routes]]"],
    );
}

#[test]
fn log_levels_are_checked() {
    reject(
        &format!("{UPSTREAM}[log]\nlevel = \"inof\"\n"),
        "log.level",
        &["\"inof\"", "EnvFilter"],
    );
    let config = ok(&format!(
        "{UPSTREAM}[log]\nlevel = \"warn,shadowcat=debug\"\n"
    ));
    assert_eq!(config.log.level, "warn,shadowcat=debug");
}

#[test]
fn admin_without_bind_uses_the_default_address() {
    let config = ok(&format!("{UPSTREAM}[admin]\n"));
    assert_eq!(config.admin, Some("127.0.0.1:9901".parse().unwrap()));
}

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
fn transport_must_agree_and_sse_is_not_supported_yet() {
    reject(
        &stdio("transport = \"streamable-http\"\n"),
        "upstreams.s.transport",
        &["\"streamable-http\"", "\"stdio\" (with command)"],
    );
    reject(
        &format!("{UPSTREAM}transport = \"stdio\"\n"),
        "upstreams.demo.transport",
        &["\"stdio\"", "\"streamable-http\" (with url)"],
    );
    reject(
        &format!("{UPSTREAM}transport = \"sse\"\n"),
        "upstreams.demo.transport",
        &["\"sse\"", "not supported yet"],
    );
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
