//! Tests for the clap definitions: every command parses, conflicts and value syntax are
//! rejected by clap, and `--help` defaults agree with `config::defaults`.
//!
//! Not here: flags -> `Config` (see `command_tests.rs`).

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use super::*;
use crate::config::defaults;
use crate::config::{format_duration, format_size};

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn parse_err(args: &[&str]) -> clap::Error {
    match Cli::try_parse_from(args) {
        Ok(cli) => panic!("{args:?} parsed: {cli:?}"),
        Err(err) => err,
    }
}

#[test]
fn the_cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn demo_parses_with_defaults_and_flags() {
    let CliCommand::Demo(args) = parse(&["shadowcat", "demo"]).command else {
        panic!("not demo")
    };
    assert_eq!(args.listener.bind.to_string(), "127.0.0.1:8080");
    assert!(!args.sse);
    assert_eq!(args.listener.path, "/mcp");
    assert!(args.listener.allowed_hosts.is_empty() && args.listener.admin.is_none());
    assert!(args.runtime.cores.shards.is_none() && args.runtime.cores.cores.is_none());

    let cli = parse(&[
        "shadowcat",
        "demo",
        "--bind",
        "127.0.0.1:1",
        "--sse",
        "--cores",
        "0-1",
    ]);
    let CliCommand::Demo(args) = cli.command else {
        panic!("not demo")
    };
    assert!(args.sse);
    assert_eq!(
        args.runtime.cores.cores,
        Some(CoreSelection::List(vec![0, 1]))
    );
}

#[test]
fn reverse_parses_every_flag() {
    let cli = parse(&[
        "shadowcat",
        "reverse",
        "--bind",
        "0.0.0.0:8080",
        "--upstream",
        "http://127.0.0.1:9000/mcp",
        "--shards",
        "4",
        "--allowed-host",
        "a.example",
        "--allowed-host",
        "b.example",
        "--allowed-origin",
        "https://app.example",
        "--path",
        "/rpc",
        "--session-ttl",
        "30m",
        "--request-timeout",
        "60s",
        "--connect-timeout",
        "5s",
        "--pool-max-idle",
        "1024",
        "--max-body",
        "4MiB",
        "--admin",
        "127.0.0.1:9901",
        "--io-memory",
        "1MiB",
        "--log-level",
        "debug",
    ]);
    let CliCommand::Reverse(args) = cli.command else {
        panic!("not reverse")
    };
    assert_eq!(args.upstream.as_deref(), Some("http://127.0.0.1:9000/mcp"));
    assert_eq!(args.runtime.cores.shards, NonZeroUsize::new(4));
    assert_eq!(args.listener.bind.to_string(), "0.0.0.0:8080");
    assert_eq!(args.listener.allowed_hosts, ["a.example", "b.example"]);
    assert_eq!(args.listener.allowed_origins, ["https://app.example"]);
    assert_eq!(args.listener.path, "/rpc");
    assert_eq!(args.session_ttl, Some(Duration::from_secs(1800)));
    assert_eq!(args.request_timeout, Some(Duration::from_secs(60)));
    assert_eq!(args.connect_timeout, Some(Duration::from_secs(5)));
    assert_eq!(args.pool_max_idle, Some(1024));
    assert_eq!(args.max_body, Some(4 * 1024 * 1024));
    assert_eq!(args.listener.admin.map(|a| a.port()), Some(9901));
    assert_eq!(args.runtime.io_memory, Some(1024 * 1024));
    assert_eq!(args.runtime.log_level.as_deref(), Some("debug"));
}

#[test]
fn reverse_requires_an_upstream() {
    let err = parse_err(&["shadowcat", "reverse"]);
    assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    assert!(err.to_string().contains("--upstream <URL>"), "{err}");
    assert!(err.to_string().contains("--upstream-cmd"), "{err}");
}

#[test]
fn reverse_parses_upstream_cmd_and_the_trailing_command() {
    let cli = parse(&[
        "shadowcat",
        "reverse",
        "--upstream-cmd",
        "--stdio-mode",
        "shared",
        "--warm",
        "0",
        "--max",
        "9",
        "--env",
        "A=1",
        "--env",
        "B=x=y",
        "--cwd",
        "/tmp",
        "--shards",
        "2",
        "--",
        "node",
        "server.js",
        "--port",
        "7",
    ]);
    let CliCommand::Reverse(args) = cli.command else {
        panic!("not reverse")
    };
    assert!(args.upstream_cmd && args.upstream.is_none());
    assert_eq!(args.stdio_mode.as_deref(), Some("shared"));
    assert_eq!((args.warm, args.max), (Some(0), Some(9)));
    assert_eq!(
        args.env,
        [("A".into(), "1".into()), ("B".into(), "x=y".into())]
    );
    assert_eq!(args.cwd.as_deref(), Some("/tmp"));
    assert_eq!(args.command, ["node", "server.js", "--port", "7"]);
    assert_eq!(args.runtime.cores.shards, NonZeroUsize::new(2));
}

#[test]
fn upstream_and_upstream_cmd_exclude_each_other_and_so_do_stdio_flags() {
    let err = parse_err(&[
        "shadowcat",
        "reverse",
        "--upstream",
        "http://127.0.0.1:1/",
        "--upstream-cmd",
        "--",
        "x",
    ]);
    assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{err}");
    for flags in [
        &["--stdio-mode", "shared"][..],
        &["--warm", "1"],
        &["--max", "1"],
        &["--env", "A=1"],
        &["--cwd", "/"],
        &["--", "node"],
    ] {
        let mut args = vec!["shadowcat", "reverse", "--upstream", "http://127.0.0.1:1/"];
        args.extend_from_slice(flags);
        let err = parse_err(&args);
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{flags:?}: {err}");
        assert!(
            err.to_string().contains("'--upstream <URL>'"),
            "{flags:?}: {err}"
        );
    }
    for (flag, value, fragment) in [
        ("--stdio-mode", "pooled", "per-session"),
        ("--env", "=1", "KEY=VALUE"),
        ("--env", "NOEQUALS", "KEY=VALUE"),
        ("--warm", "many", "--warm"),
    ] {
        let err = parse_err(&["shadowcat", "reverse", "--upstream-cmd", flag, value]);
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ),
            "{flag} {value}: {err}"
        );
        assert!(err.to_string().contains(fragment), "{flag} {value}: {err}");
    }
}

#[test]
fn demo_server_stdio_excludes_the_http_flags() {
    let CliCommand::DemoServer(args) = parse(&["shadowcat", "demo-server", "--stdio"]).command
    else {
        panic!("not demo-server")
    };
    assert!(args.stdio);
    for flags in [
        &["--http", "127.0.0.1:1"][..],
        &["--sse"],
        &["--path", "/x"],
        &["--shards", "2"],
    ] {
        let mut args = vec!["shadowcat", "demo-server", "--stdio"];
        args.extend_from_slice(flags);
        let err = parse_err(&args);
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{flags:?}: {err}");
    }
}

#[test]
fn run_config_check_and_demo_server_parse() {
    let CliCommand::Run(args) =
        parse(&["shadowcat", "run", "--config", "s.toml", "--cores", "all"]).command
    else {
        panic!("not run")
    };
    assert_eq!(args.config, PathBuf::from("s.toml"));
    assert_eq!(args.runtime.cores.cores, Some(CoreSelection::All));
    assert_eq!(
        parse_err(&["shadowcat", "run"]).kind(),
        ErrorKind::MissingRequiredArgument
    );

    let CliCommand::Config(ConfigCommand::Check(args)) =
        parse(&["shadowcat", "config", "check", "s.toml"]).command
    else {
        panic!("not config check")
    };
    assert_eq!(args.path, PathBuf::from("s.toml"));

    let cli = parse(&[
        "shadowcat",
        "demo-server",
        "--http",
        "127.0.0.1:9000",
        "--sse",
        "--path",
        "/x",
    ]);
    let CliCommand::DemoServer(args) = cli.command else {
        panic!("not demo-server")
    };
    assert!(args.sse);
    assert_eq!(args.path, "/x");
    assert_eq!(args.http.port(), 9000);
}

#[test]
fn shards_and_cores_conflict_on_every_command() {
    for command in [
        &["shadowcat", "demo"][..],
        &["shadowcat", "reverse", "--upstream", "http://127.0.0.1:1/"],
        &["shadowcat", "run", "--config", "s.toml"],
        &["shadowcat", "demo-server"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--shards", "2", "--cores", "0,1"]);
        let err = parse_err(&args);
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}: {err}");
    }
}

#[test]
fn bad_values_are_rejected_with_the_syntax() {
    for (args, fragment) in [
        (
            &["shadowcat", "demo", "--shards", "0"][..],
            "from 1 to 8192",
        ),
        (&["shadowcat", "demo", "--cores", "3-1"], "0-7,16-23"),
        (&["shadowcat", "demo", "--bind", "localhost:80"], "--bind"),
        (&["shadowcat", "demo", "--io-memory", "2MB"], "binary unit"),
        (&["shadowcat", "demo", "--log-level", "loud"], "EnvFilter"),
        (
            &[
                "shadowcat",
                "reverse",
                "--upstream=u",
                "--session-ttl",
                "0s",
            ],
            "non-zero duration",
        ),
        (
            &["shadowcat", "reverse", "--upstream=u", "--max-body", "big"],
            "binary unit",
        ),
    ] {
        let err = parse_err(args);
        assert_eq!(err.kind(), ErrorKind::ValueValidation, "{args:?}");
        assert!(err.to_string().contains(fragment), "{args:?}: {err}");
    }
}

#[test]
fn unknown_commands_and_flags_are_rejected() {
    assert_eq!(
        parse_err(&["shadowcat", "proxy"]).kind(),
        ErrorKind::InvalidSubcommand
    );
    assert_eq!(
        parse_err(&["shadowcat", "demo", "--upstream", "x"]).kind(),
        ErrorKind::UnknownArgument
    );
}

/// Help texts state defaults that live in `config::defaults`; keep them in step.
#[test]
fn help_defaults_match_config_defaults() {
    let cli = Cli::command();
    let reverse = cli.find_subcommand("reverse").unwrap();
    let help_of = |id: &str| {
        let arg = reverse.get_arguments().find(|a| a.get_id() == id).unwrap();
        arg.get_help().unwrap().to_string()
    };
    let expect = [
        ("session_ttl", format_duration(defaults::SESSION_TTL)),
        (
            "request_timeout",
            format_duration(defaults::UPSTREAM_REQUEST_TIMEOUT),
        ),
        (
            "connect_timeout",
            format_duration(defaults::UPSTREAM_CONNECT_TIMEOUT),
        ),
        ("max_body", format_size(defaults::MAX_BODY_BYTES)),
        ("io_memory", format_size(defaults::IO_MEMORY)),
        (
            "buffer_pool_memory",
            format_size(defaults::BUFFER_POOL_MEMORY),
        ),
        ("log_level", defaults::LOG_LEVEL.to_owned()),
        ("stdio_mode", defaults::STDIO_MODE_TEXT.to_owned()),
        ("warm", defaults::STDIO_WARM.to_string()),
        ("max", defaults::STDIO_MAX.to_string()),
    ];
    for (id, default) in expect {
        let help = help_of(id);
        assert!(
            help.contains(&format!("[default: {default}]")),
            "{id}: {help}"
        );
    }
}
