//! Tests for flags -> `Command`: every subcommand, flags equal to their TOML, and errors that
//! name the flag.
//!
//! Not here: clap syntax (conflicts, value parsers) is tested in `cli_tests.rs`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::*;
use crate::cli::Cli;
use crate::config::{defaults, from_toml_str, load, to_toml, RouteEra, RuntimeConfig, StdioMode};

pub(super) fn command(args: &[&str]) -> Result<Command, Error> {
    let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
    from_cli(&cli)
}

pub(super) fn proxy(args: &[&str]) -> Config {
    match command(args) {
        Ok(Command::Proxy(config)) => *config,
        other => panic!("expected a proxy config: {other:?}"),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn reverse_equals_the_equivalent_toml() {
    let from_flags = proxy(&[
        "shadowcat",
        "reverse",
        "--bind",
        "127.0.0.1:8080",
        "--upstream",
        "http://127.0.0.1:9000/mcp",
        "--shards",
        "2",
        "--session-ttl",
        "1h",
        "--request-timeout",
        "2m",
        "--max-body",
        "8MiB",
        "--admin",
        "127.0.0.1:9901",
    ]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reverse.toml");
    assert_eq!(from_flags, load(&path).unwrap());
}

#[test]
fn reverse_with_every_flag_equals_toml() {
    let from_flags = proxy(&[
        "shadowcat",
        "reverse",
        "--bind=0.0.0.0:9090",
        "--upstream=http://localhost:9000/rpc",
        "--cores=0-1,4",
        "--allowed-host=mcp.example.com",
        "--allowed-host=localhost",
        "--allowed-origin=https://app.example.com",
        "--path=/rpc",
        "--session-ttl=5m",
        "--request-timeout=30s",
        "--connect-timeout=1s",
        "--pool-max-idle=1024",
        "--max-body=1048576",
        "--io-memory=1MiB",
        "--buffer-pool-memory=512KiB",
        "--log-level=debug",
        "--upstream-header=X-Tenant: acme",
        "--upstream-header",
        "Authorization:Bearer ${env:PATH}",
    ]);
    let from_file = from_toml_str(
        r#"
        [runtime]
        cores = "0,1,4"
        io_memory = 1048576
        buffer_pool_memory = "512KiB"
        [listeners.main]
        bind = "0.0.0.0:9090"
        allowed_hosts = ["mcp.example.com", "localhost"]
        allowed_origins = ["https://app.example.com"]
        routes = [{ path = "/rpc", upstream = "main" }]
        [upstreams.main]
        url = "http://localhost:9000/rpc"
        connect_timeout = "1s"
        request_timeout = "30s"
        pool_max_idle = 1024
        headers = { "X-Tenant" = "acme", Authorization = "Bearer ${env:PATH}" }
        [limits]
        max_body_bytes = "1MiB"
        [sessions]
        ttl = "5m"
        [log]
        level = "debug"
        "#,
        "equivalent.toml",
    )
    .unwrap();
    assert_eq!(from_flags, from_file);
}

#[test]
fn reverse_defaults_bind_loopback_and_the_mcp_path() {
    let config = proxy(&[
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:9000/mcp",
    ]);
    let listener = &config.listeners[0];
    assert_eq!(listener.bind, addr("127.0.0.1:8080"));
    assert_eq!(listener.routes[0].path, "/mcp");
    assert_eq!(listener.allowed_hosts, ["localhost", "127.0.0.1", "[::1]"]);
    assert_eq!(config.upstreams[0].name, "main");
    assert_eq!(config.runtime.cores, CoreSelection::All);
    assert_eq!(config.admin, None);
}

#[test]
fn reverse_errors_name_flags_not_toml_keys() {
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[
                "--upstream",
                "https://127.0.0.1/mcp",
                "--upstream-ca",
                "/nonexistent/ca.pem",
            ],
            "--upstream-ca",
            "cannot read it",
        ),
        (
            &[
                "--upstream",
                "http://127.0.0.1:1/",
                "--bind",
                "0.0.0.0:8080",
            ],
            "--allowed-host",
            "0.0.0.0:8080",
        ),
        (
            &["--upstream", "http://127.0.0.1:1/", "--allowed-host", "a:1"],
            "--allowed-host",
            "\"a:1\"",
        ),
        (
            &["--upstream", "http://127.0.0.1:1/", "--path", "mcp"],
            "--path",
            "\"mcp\"",
        ),
        (
            &[
                "--upstream",
                "http://127.0.0.1:1/",
                "--buffer-pool-memory",
                "2GiB",
            ],
            "--buffer-pool-memory",
            "to 1GiB",
        ),
    ];
    for (flags, flag, fragment) in cases {
        let mut args = vec!["shadowcat", "reverse"];
        args.extend_from_slice(flags);
        let err = command(&args).unwrap_err();
        let message = err.to_string();
        assert_eq!(err.key(), Some(flag), "{message}");
        assert!(message.starts_with("command line: "), "{message}");
        assert!(message.contains(fragment), "{message}");
    }
    let err = command(&[
        "shadowcat",
        "reverse",
        "--upstream=http://127.0.0.1:1/",
        "--admin=127.0.0.1:8080",
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("`--admin` = \"127.0.0.1:8080\" is already used by `--bind`"),
        "{err}"
    );
}

#[test]
fn demo_points_its_upstream_at_the_in_process_server() {
    let mut config = proxy(&["shadowcat", "demo", "--sse", "--shards", "1"]);
    let demo = config.demo.clone().unwrap();
    assert_eq!(demo.bind, addr("127.0.0.1:0"));
    assert!(demo.sse);
    assert_eq!(demo.path, "/mcp");
    assert_eq!(config.listeners[0].bind, addr("127.0.0.1:8080"));
    assert_eq!(config.upstreams[0].name, "demo");
    assert_eq!(
        config.upstreams[0].http().unwrap().to_url(),
        "http://127.0.0.1:0/mcp"
    );
    assert_eq!(
        config.runtime.cores,
        CoreSelection::Count(NonZeroUsize::new(1).unwrap())
    );
    config.set_demo_addr(addr("127.0.0.1:41000"));
    assert_eq!(
        config.upstreams[0].http().unwrap().to_url(),
        "http://127.0.0.1:41000/mcp"
    );
}

#[test]
fn demo_equals_the_demo_example() {
    let from_flags = proxy(&["shadowcat", "demo", "--sse"]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.toml");
    assert_eq!(from_flags, load(&path).unwrap());
}

#[test]
fn demo_server_gets_runtime_flags_and_default_limits() {
    let Ok(Command::DemoServer(server)) = command(&[
        "shadowcat",
        "demo-server",
        "--http",
        "127.0.0.1:9001",
        "--sse",
        "--cores",
        "0,1",
        "--path",
        "/rpc",
        "--log-level",
        "debug",
    ]) else {
        panic!("expected demo-server")
    };
    assert_eq!(
        server,
        DemoServerConfig {
            bind: addr("127.0.0.1:9001"),
            sse: true,
            path: "/rpc".into(),
            runtime: RuntimeConfig {
                cores: CoreSelection::List(vec![0, 1]),
                ..RuntimeConfig::default()
            },
            limits: LimitsConfig::default(),
            timeouts: TimeoutsConfig::default(),
            log: LogConfig {
                level: "debug".into()
            },
        }
    );
    let Ok(Command::DemoServer(server)) = command(&["shadowcat", "demo-server"]) else {
        panic!("expected demo-server")
    };
    assert_eq!(server.bind, addr("127.0.0.1:9000"));
    assert!(!server.sse);
    let err = command(&["shadowcat", "demo-server", "--path", "rpc"]).unwrap_err();
    assert_eq!(err.key(), Some("--path"), "{err}");
}

#[test]
fn run_loads_the_file_and_flags_override_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/full.toml");
    let path = path.to_str().unwrap();
    let from_file = load(Path::new(path)).unwrap();
    assert_eq!(proxy(&["shadowcat", "run", "--config", path]), from_file);

    let overridden = proxy(&[
        "shadowcat",
        "run",
        "-c",
        path,
        "--shards",
        "3",
        "--io-memory",
        "8MiB",
        "--log-level",
        "warn",
        "--io",
        "glommio",
        "--buffer-pool-memory",
        "0B",
        "--spin-before-park",
        "40us",
        "--hops",
        "forward",
    ]);
    assert_eq!(from_file.runtime.io, Some(shards::IoBackend::Uring));
    assert_eq!(overridden.runtime.hops, crate::config::HopPolicy::Forward);
    assert_eq!(
        overridden.runtime.spin_before_park,
        Some(std::time::Duration::from_micros(40))
    );
    assert_eq!(overridden.runtime.io, Some(shards::IoBackend::Glommio));
    assert_eq!(
        overridden.runtime.cores,
        CoreSelection::Count(NonZeroUsize::new(3).unwrap())
    );
    assert_eq!(overridden.runtime.io_memory, 8 * 1024 * 1024);
    assert_eq!(from_file.runtime.buffer_pool_memory, 16 * 1024 * 1024);
    assert_eq!(overridden.runtime.buffer_pool_memory, 0);
    assert_eq!(overridden.log.level, "warn");
    assert_eq!(overridden.listeners, from_file.listeners);

    let cores = proxy(&["shadowcat", "run", "-c", path, "--cores", "all"]);
    assert_eq!(cores.runtime.cores, CoreSelection::All);
}

#[test]
fn run_errors_name_the_file() {
    let err = command(&["shadowcat", "run", "--config", "/nonexistent.toml"]).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
}

#[test]
fn config_check_passes_the_path_through() {
    let Ok(Command::ConfigCheck(path)) =
        command(&["shadowcat", "config", "check", "shadowcat.toml"])
    else {
        panic!("expected config check")
    };
    assert_eq!(path, PathBuf::from("shadowcat.toml"));
}

#[test]
fn cli_names_match_the_defaults() {
    assert_eq!(defaults::LISTENER_NAME, "main");
    assert_eq!(defaults::REVERSE_UPSTREAM_NAME, "main");
    // `reverse --session-ttl` is the same setting as `[sessions] ttl`.
    let config = proxy(&[
        "shadowcat",
        "reverse",
        "--upstream=http://127.0.0.1:1/",
        "--session-ttl=90s",
    ]);
    assert_eq!(config.sessions.ttl, Duration::from_secs(90));
}

#[test]
fn reverse_upstream_cmd_equals_the_equivalent_toml() {
    let from_flags = proxy(&[
        "shadowcat",
        "reverse",
        "--bind",
        "127.0.0.1:8080",
        "--upstream-cmd",
        "--stdio-mode",
        "shared",
        "--warm",
        "2",
        "--max",
        "8",
        "--env",
        "B=2",
        "--env",
        "A=x=y",
        "--cwd",
        "/",
        "--request-timeout",
        "30s",
        "--",
        "node",
        "server.js",
        "--port",
        "1",
    ]);
    let from_file = from_toml_str(
        r#"
        [listeners.main]
        bind = "127.0.0.1:8080"
        routes = [{ path = "/mcp", upstream = "main" }]
        [upstreams.main]
        command = ["node", "server.js", "--port", "1"]
        env = { A = "x=y", B = "2" }
        cwd = "/"
        mode = "shared"
        warm = 2
        max = 8
        request_timeout = "30s"
        "#,
        "equivalent.toml",
    )
    .unwrap();
    assert_eq!(from_flags, from_file);
    let stdio = from_flags.upstreams[0].stdio().unwrap();
    assert_eq!(stdio.command, ["node", "server.js", "--port", "1"]);
    assert_eq!(stdio.mode, StdioMode::Shared);
}

#[test]
fn reverse_upstream_cmd_gets_the_stdio_defaults() {
    let config = proxy(&[
        "shadowcat",
        "reverse",
        "--upstream-cmd",
        "--",
        "npx",
        "-y",
        "@modelcontextprotocol/server-everything",
        "stdio",
    ]);
    let from_file = from_toml_str(
        "[upstreams.main]\ncommand = [\"npx\", \"-y\", \
         \"@modelcontextprotocol/server-everything\", \"stdio\"]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(config, from_file);
    let stdio = config.upstreams[0].stdio().unwrap();
    assert_eq!(
        (stdio.mode, stdio.warm, stdio.max),
        (StdioMode::PerSession, 1, 64)
    );
}

#[test]
fn reverse_upstream_cmd_errors_name_the_flags() {
    let err = command(&["shadowcat", "reverse", "--upstream-cmd"]).unwrap_err();
    let message = err.to_string();
    assert_eq!(err.key(), Some("--upstream-cmd"), "{message}");
    assert!(message.starts_with("command line: "), "{message}");
    assert!(message.contains("after `--`"), "{message}");

    let cases: [(&[&str], &str, &str); 6] = [
        (&["--warm", "65"], "--warm", "0 to 64"),
        (&["--max", "0"], "--max", "1 to 100000"),
        (&["--warm", "9", "--max", "8"], "--warm", "at most `max`"),
        (
            &["--cwd", "/nonexistent/dir"],
            "--cwd",
            "an existing directory",
        ),
        (
            &["--connect-timeout", "1s"],
            "--connect-timeout",
            "`--upstream-cmd`",
        ),
        (&["--env", "A\u{0}B=1"], "--env", "NUL"),
    ];
    for (flags, flag, fragment) in cases {
        let mut args = vec!["shadowcat", "reverse", "--upstream-cmd"];
        args.extend_from_slice(flags);
        args.extend(["--", "node", "server.js"]);
        let err = command(&args).unwrap_err();
        let message = err.to_string();
        assert_eq!(err.key(), Some(flag), "{message}");
        assert!(message.contains(fragment), "{message}");
    }
    let err = command(&["shadowcat", "reverse", "--upstream-cmd", "--", ""]).unwrap_err();
    assert!(err.to_string().contains("`--upstream-cmd` = \"\""), "{err}");
}

#[test]
fn demo_server_stdio_takes_only_the_log_level() {
    let Ok(Command::DemoStdio(config)) = command(&[
        "shadowcat",
        "demo-server",
        "--stdio",
        "--log-level",
        "debug",
    ]) else {
        panic!("expected demo-server --stdio")
    };
    assert_eq!(config.log.level, "debug");
    let Ok(Command::DemoStdio(config)) = command(&["shadowcat", "demo-server", "--stdio"]) else {
        panic!("expected demo-server --stdio")
    };
    assert_eq!(config.log, LogConfig::default());
}

#[test]
fn upstream_transport_sse_makes_a_legacy_sse_upstream() {
    let Command::Proxy(config) = command(&[
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:9000/sse",
        "--upstream-transport",
        "sse",
    ])
    .unwrap() else {
        panic!("reverse runs the proxy");
    };
    assert_eq!(config.upstreams[0].sse().unwrap().path, "/sse");
    assert!(config.upstreams[0].is_linked());
    let err = command(&[
        "shadowcat",
        "reverse",
        "--upstream-transport",
        "sse",
        "--upstream-cmd",
        "--",
        "x",
    ]);
    assert!(err.is_err(), "--upstream-transport goes with --upstream");
}

#[test]
fn reverse_era_flag_sets_the_route_era() {
    let base = [
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:9000/mcp",
    ];
    let era = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        proxy(&args).listeners[0].routes[0].era
    };
    assert_eq!(era(&[]), RouteEra::Dual);
    assert_eq!(era(&["--era", "modern"]), RouteEra::Modern);
    assert_eq!(era(&["--era", "dual"]), RouteEra::Dual);
    assert!(Cli::try_parse_from(base.iter().chain(&["--era", "legacy"])).is_err());
    let printed = to_toml(&proxy(&[
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:9000/mcp",
        "--era",
        "modern",
    ]));
    assert!(printed.contains("era = \"modern\""), "{printed}");
}

#[test]
fn reverse_flag_and_demo_enable_legacy_sse() {
    let parse = |args: &[&str]| {
        let cli = Cli::try_parse_from(args).unwrap();
        match from_cli(&cli) {
            Ok(Command::Proxy(config)) => *config,
            other => panic!("{other:?}"),
        }
    };
    let on = parse(&[
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:9/mcp",
        "--legacy-sse",
    ]);
    assert!(on.listeners[0].routes[0].legacy_sse.is_some());
    let off = parse(&[
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:9/mcp",
    ]);
    assert!(off.listeners[0].routes[0].legacy_sse.is_none());
    let demo = parse(&["shadowcat", "demo"]);
    assert!(demo.listeners[0].routes[0].legacy_sse.is_some());

    let cli = Cli::try_parse_from([
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:9/mcp",
        "--legacy-sse",
        "--path",
        "/sse",
    ])
    .unwrap();
    let err = from_cli(&cli).unwrap_err();
    assert_eq!(err.key(), Some("--legacy-sse"), "{err}");
}
