//! One test per validation rule: each bad setting is rejected with a message that names its TOML
//! path and quotes its value.
//!
//! Not here: schema errors from the TOML parser (see `config_tests.rs`).

use std::time::Duration;

use super::*;

/// A valid file; tests append or replace sections.
pub(super) const UPSTREAM: &str = "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n";

pub(super) fn ok(text: &str) -> Config {
    from_toml_str(text, "t.toml").unwrap_or_else(|e| panic!("{e}\n--- in ---\n{text}"))
}

/// Asserts `text` is rejected, the error is about `key`, and the message quotes every fragment.
pub(super) fn reject(text: &str, key: &str, fragments: &[&str]) -> String {
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
            &[&format!("\"{bad}\""), "an http:// or https:// URL"],
        );
    }
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
        ("runtime", "buffer_pool_memory", "\"8MB\"", "binary unit"),
        (
            "runtime",
            "buffer_pool_memory",
            "\"2GiB\"",
            "from 0B (pool nothing) to 1GiB",
        ),
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

#[test]
fn a_non_loopback_admin_needs_a_token_file_and_the_token_is_never_printed() {
    reject(
        &format!("{UPSTREAM}[admin]\nbind = \"0.0.0.0:9901\"\n"),
        "admin.token_file",
        &["non-loopback", "openssl rand -hex 32"],
    );
    reject(
        &format!("{UPSTREAM}[admin]\nbind = \"0.0.0.0:9901\"\ntoken_file = \"/nonexistent/t\"\n"),
        "admin.token_file",
        &["\"/nonexistent/t\": cannot read it"],
    );
    let file = std::env::temp_dir().join(format!("shadowcat-resolve-token-{}", std::process::id()));
    std::fs::write(&file, "tok-0123456789abcdef\n").unwrap();
    let text = format!(
        "{UPSTREAM}[admin]\nbind = \"0.0.0.0:9901\"\ntoken_file = {:?}\n",
        file.display().to_string()
    );
    let config = from_toml_str(&text, "t.toml");
    let _ = std::fs::remove_file(&file);
    let config = config.unwrap_or_else(|e| panic!("{e}"));
    let token = config.admin_token.as_ref().expect("token");
    assert!(token.accepts(b"Bearer tok-0123456789abcdef"));
    let printed = to_toml(&config);
    assert!(printed.contains("token_file"), "{printed}");
    assert!(!printed.contains("tok-0123456789abcdef"), "{printed}");
    assert!(!format!("{config:?}").contains("tok-0123456789abcdef"));
    assert_eq!(ok(&format!("{UPSTREAM}[admin]\n")).admin_token, None);
}

#[test]
fn route_era_defaults_to_dual_and_accepts_modern() {
    let route = |era: &str| {
        format!(
            "{UPSTREAM}[listeners.main]\nbind = \"127.0.0.1:8080\"\n[[listeners.main.routes]]\n\
             path = \"/mcp\"\nupstream = \"demo\"\n{era}"
        )
    };
    let era_of = |text: &str| ok(text).listeners[0].routes[0].era;
    assert_eq!(era_of(&route("")), RouteEra::Dual);
    assert_eq!(era_of(&route("era = \"dual\"\n")), RouteEra::Dual);
    assert_eq!(era_of(&route("era = \"modern\"\n")), RouteEra::Modern);
    reject(
        &route("era = \"2026\"\n"),
        "listeners.main.routes[0].era",
        &["\"2026\"", "\"dual\"", "\"modern\""],
    );
}

#[test]
fn more_upstreams_than_an_upstream_id_can_name_are_rejected() {
    // The check runs before any upstream is resolved: empty tables keep the text small.
    let mut text = String::with_capacity(20 * (MAX_UPSTREAMS + 1));
    for index in 0..=MAX_UPSTREAMS {
        text.push_str(&format!("[upstreams.u{index}]\n"));
    }
    reject(&text, "upstreams", &["65537 tables", "at most 65536"]);
}

#[test]
fn io_path_is_uring_or_glommio_and_defaults_to_the_kernel_s_choice() {
    assert_eq!(ok(UPSTREAM).runtime.io, None);
    let uring = ok(&format!("{UPSTREAM}[runtime]\nio = \"uring\"\n"));
    assert_eq!(uring.runtime.io, Some(shards::IoBackend::Uring));
    let glommio = ok(&format!("{UPSTREAM}[runtime]\nio = \"glommio\"\n"));
    assert_eq!(glommio.runtime.io, Some(shards::IoBackend::Glommio));
    // The effective config keeps the choice.
    assert!(to_toml(&glommio).contains("io = \"glommio\""));
    reject(
        &format!("{UPSTREAM}[runtime]\nio = \"epoll\"\n"),
        "runtime.io",
        &["\"epoll\"", "\"uring\" or \"glommio\""],
    );
}

#[test]
fn spin_before_park_is_off_unless_set_and_bounded() {
    use std::time::Duration;
    assert_eq!(ok(UPSTREAM).runtime.spin_before_park, None);
    let spin = ok(&format!(
        "{UPSTREAM}[runtime]\nspin_before_park = \"50us\"\n"
    ));
    assert_eq!(
        spin.runtime.spin_before_park,
        Some(Duration::from_micros(50))
    );
    assert!(to_toml(&spin).contains("spin_before_park = \"50us\""));
    let off = ok(&format!("{UPSTREAM}[runtime]\nspin_before_park = \"0s\"\n"));
    assert_eq!(off.runtime.spin_before_park, None);
    for bad in ["11ms", "fast"] {
        reject(
            &format!("{UPSTREAM}[runtime]\nspin_before_park = \"{bad}\"\n"),
            "runtime.spin_before_park",
            &[bad, "\"10ms\""],
        );
    }
}

#[test]
fn hops_default_to_auto_and_take_the_three_policies() {
    use crate::config::HopPolicy;
    assert_eq!(ok(UPSTREAM).runtime.hops, HopPolicy::Auto);
    for (name, policy) in [
        ("auto", HopPolicy::Auto),
        ("move", HopPolicy::Move),
        ("forward", HopPolicy::Forward),
    ] {
        let config = ok(&format!("{UPSTREAM}[runtime]\nhops = \"{name}\"\n"));
        assert_eq!(config.runtime.hops, policy);
        assert!(to_toml(&config).contains(&format!("hops = \"{name}\"")));
    }
    reject(
        &format!("{UPSTREAM}[runtime]\nhops = \"relay\"\n"),
        "runtime.hops",
        &["\"relay\"", "\"auto\", \"move\" or \"forward\""],
    );
}
