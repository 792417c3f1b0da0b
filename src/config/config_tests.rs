//! Tests for loading files: the defaults a minimal file gets, every example against its
//! snapshot in `testdata/`, printing round trips, and read/parse errors.
//!
//! Not here: one test per validation rule (see `resolve_tests.rs`), flags (the cli module's
//! `command_tests.rs`).
//! To accept changed snapshots: `UPDATE_SNAPSHOTS=1 cargo test config_tests`, then review the diff.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn minimal_file_gets_every_default() {
    let config = load(&repo_path("examples/minimal.toml")).unwrap();

    assert_eq!(config.runtime.cores, CoreSelection::All);
    assert_eq!(config.runtime.io_memory, 2 * 1024 * 1024);
    assert_eq!(config.runtime.buffer_pool_memory, 8 * 1024 * 1024);

    let [listener] = config.listeners.as_slice() else {
        panic!("one implicit listener expected: {:?}", config.listeners)
    };
    assert_eq!(listener.name, "main");
    assert_eq!(listener.bind, addr("127.0.0.1:8080"));
    assert_eq!(
        listener.routes,
        vec![RouteConfig {
            tools: None,
            path: "/mcp".into(),
            upstream: crate::config::ids::UpstreamId::new(0),
            era: RouteEra::Dual,
            legacy_sse: None,
            auth: None,
            policy: None,
            rate_limit: None,
            record: false,
        }]
    );
    assert_eq!(listener.allowed_hosts, ["localhost", "127.0.0.1", "[::1]"]);
    assert!(listener.allowed_origins.is_empty());

    let [upstream] = config.upstreams.as_slice() else {
        panic!("one upstream expected: {:?}", config.upstreams)
    };
    assert_eq!(upstream.name, "local");
    assert_eq!(
        *upstream.http().unwrap(),
        UpstreamUrl {
            tls: false,
            host: "127.0.0.1".into(),
            port: 9000,
            path: "/mcp".into(),
            authority: "127.0.0.1:9000".into(),
            addrs: vec![addr("127.0.0.1:9000")],
        }
    );
    assert_eq!(upstream.connect_timeout, Duration::from_secs(5));
    assert_eq!(upstream.request_timeout, Duration::from_secs(60));
    assert_eq!(upstream.pool_max_idle, 64);

    assert_eq!(
        config.limits,
        LimitsConfig {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 4 * 1024 * 1024,
            max_sse_event_bytes: 4 * 1024 * 1024,
        }
    );
    assert_eq!(
        config.timeouts,
        TimeoutsConfig {
            head: Duration::from_secs(10),
            keepalive_idle: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
        }
    );
    assert_eq!(
        config.sessions,
        SessionsConfig {
            ttl: Duration::from_secs(30 * 60),
            reap_interval: Duration::from_secs(30),
            max_per_shard: 100_000,
        }
    );
    assert_eq!(config.admin, None);
    assert_eq!(config.demo, None);
    assert_eq!(config.log.level, "info");
}

#[test]
fn typed_defaults_match_a_minimal_file() {
    let config = load(&repo_path("examples/minimal.toml")).unwrap();
    assert_eq!(config.runtime, RuntimeConfig::default());
    assert_eq!(config.limits, LimitsConfig::default());
    assert_eq!(config.timeouts, TimeoutsConfig::default());
    assert_eq!(config.log, LogConfig::default());
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

fn snapshot_path(example: &Path) -> PathBuf {
    repo_path("src/config/testdata").join(example.file_name().unwrap())
}

#[test]
fn every_example_loads_matches_its_snapshot_and_round_trips() {
    let examples = example_files();
    assert!(examples.len() >= 4, "examples missing: {examples:?}");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    for example in examples {
        let config = load(&example).unwrap_or_else(|e| panic!("{}: {e}", example.display()));
        let printed = to_toml(&config);
        let snapshot = snapshot_path(&example);
        if update {
            std::fs::write(&snapshot, &printed).unwrap();
        }
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        assert_eq!(
            printed,
            expected,
            "effective config of {} differs from {}; if intended, rerun with UPDATE_SNAPSHOTS=1",
            example.display(),
            snapshot.display()
        );
        let reloaded = from_toml_str(&printed, "printed").unwrap();
        assert_eq!(
            reloaded,
            config,
            "{} does not round-trip",
            example.display()
        );
    }
}

#[test]
fn every_snapshot_has_an_example() {
    let examples: Vec<PathBuf> = example_files().iter().map(|e| snapshot_path(e)).collect();
    for entry in std::fs::read_dir(repo_path("src/config/testdata")).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            examples.contains(&path),
            "stale snapshot {}",
            path.display()
        );
    }
}

#[test]
fn full_example_resolves_names_hosts_and_units() {
    let config = load(&repo_path("examples/full.toml")).unwrap();
    let names: Vec<&str> = config.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["local", "public"]);
    let names: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["search", "tools"]);
    let public = &config.listeners[1];
    assert_eq!(public.allowed_hosts, ["mcp.example.com", "mcp.example.net"]);
    assert_eq!(public.routes[1].path, "/search/mcp");
    assert_eq!(config.upstream(public.routes[1].upstream).name, "search");
    assert_eq!(config.upstreams[0].http().unwrap().path, "/mcp?tenant=docs");
    assert_eq!(config.upstreams[0].http().unwrap().authority, "[::1]:9100");
    assert_eq!(config.runtime.cores, CoreSelection::List(vec![0, 1, 2, 3]));
    assert_eq!(config.limits.max_body_bytes, 16 * 1024 * 1024);
    assert_eq!(
        config.upstreams[0].connect_timeout,
        Duration::from_millis(500)
    );
    assert_eq!(config.log.level, "info,shadowcat::proxy=debug");
    assert_eq!(config.upstreams[0].headers.lines(), b"X-Tenant: docs\r\n");
}

#[test]
fn demo_upstream_follows_the_bound_demo_address() {
    let mut config = load(&repo_path("examples/demo.toml")).unwrap();
    assert_eq!(config.upstreams[0].http().unwrap().port, 0);
    config.set_demo_addr(addr("127.0.0.1:40123"));
    assert_eq!(config.demo.as_ref().unwrap().bind, addr("127.0.0.1:40123"));
    let url = &config.upstreams[0].http().unwrap();
    assert_eq!(url.authority, "127.0.0.1:40123");
    assert_eq!(url.addrs, [addr("127.0.0.1:40123")]);
    assert_eq!(url.path, "/mcp");
    let reloaded = from_toml_str(&to_toml(&config), "printed").unwrap();
    assert_eq!(reloaded, config);
}

#[test]
fn set_demo_addr_leaves_other_upstreams_alone() {
    let mut config = from_toml_str(
        r#"
        [listeners.main]
        bind = "127.0.0.1:8080"
        routes = [{ path = "/a", upstream = "demo" }, { path = "/b", upstream = "real" }]
        [upstreams.demo]
        url = "http://127.0.0.1:0/mcp"
        [upstreams.real]
        url = "http://127.0.0.1:9000/mcp"
        [demo]
        "#,
        "t.toml",
    )
    .unwrap();
    config.set_demo_addr(addr("127.0.0.1:5555"));
    assert_eq!(config.upstreams[0].http().unwrap().port, 5555);
    assert_eq!(config.upstreams[1].http().unwrap().port, 9000);
}

#[test]
fn printing_writes_counts_and_core_lists_back() {
    let text = "[runtime]\nshards = 3\n[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\n";
    let config = from_toml_str(text, "t.toml").unwrap();
    assert_eq!(
        config.runtime.cores,
        CoreSelection::Count(NonZeroUsize::new(3).unwrap())
    );
    let printed = to_toml(&config);
    assert!(printed.contains("shards = 3"), "{printed}");
    assert!(!printed.contains("cores"), "{printed}");
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);
}

#[test]
fn check_file_prints_the_effective_config() {
    let printed = check_file(&repo_path("examples/minimal.toml")).unwrap();
    assert!(printed.contains("[listeners.main]"), "{printed}");
    assert!(printed.contains("ttl = \"30m\""), "{printed}");
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let err = load(Path::new("/nonexistent/shadowcat.toml")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/shadowcat.toml"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn unknown_keys_name_the_file_line_and_expected_keys() {
    for (text, line, unknown) in [
        ("[runtime]\nshard = 2\n", "line 2", "unknown field `shard`"),
        ("[upstream.a]\nurl = \"http://x\"\n", "line 1", "unknown field `upstream`"),
        (
            "[upstreams.a]\nurl = \"http://127.0.0.1:1/\"\ntimeout = \"5s\"\n",
            "line 3",
            "unknown field `timeout`",
        ),
        (
            "[listeners.m]\nbind = \"127.0.0.1:1\"\n[[listeners.m.routes]]\npath = \"/\"\nupstream = \"a\"\nweight = 1\n",
            "line 6",
            "unknown field `weight`",
        ),
    ] {
        let err = from_toml_str(text, "my.toml").unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::Parse { .. }), "{err:?}");
        assert!(message.starts_with("my.toml: "), "{message}");
        assert!(message.contains(line), "{message}");
        assert!(message.contains(unknown), "{message}");
        assert!(message.contains(", expected "), "{message}");
    }
}

#[test]
fn wrong_types_are_parse_errors_with_lines() {
    let err = from_toml_str("[runtime]\nshards = \"two\"\n", "my.toml").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("line 2") && message.contains("invalid type"),
        "{message}"
    );
    let err = from_toml_str("[sessions]\nttl = 30\n", "my.toml").unwrap_err();
    assert!(err.to_string().contains("a duration string like"), "{err}");
}
