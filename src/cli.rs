//! Command-line interface: clap types only, i.e. what the user typed, each value syntax-checked.
//!
//! Not here: defaults that belong to the config (session TTL, timeouts, limits: see
//! `config::defaults`), checks across flags beyond `--shards`/`--cores`, or building a `Config`
//! (see `config::from_cli`). Command and flag names are fixed: scripts rely on them.
#![allow(
    rustdoc::bare_urls,
    reason = "doc comments here are clap's --help text, where <...> around URLs would show"
)]

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::config::defaults::{DEMO_SERVER_ADDR_TEXT, LISTEN_ADDR_TEXT, MCP_PATH};
use crate::config::{
    parse_cores, parse_duration, parse_log_level, parse_shards, parse_size, CoreSelection,
};

/// shadowcat: a thread-per-core proxy for the Model Context Protocol.
#[derive(Debug, Parser)]
#[command(name = "shadowcat", version, about, propagate_version = true)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at startup; boxing would only obscure the clap types"
)]
pub enum CliCommand {
    /// Proxy in front of the built-in demo MCP server, both in this process (no setup needed).
    Demo(DemoArgs),
    /// Reverse-proxy one MCP server: an HTTP one (--upstream URL) or a stdio one
    /// (--upstream-cmd -- CMD ARGS...).
    Reverse(ReverseArgs),
    /// Run from a configuration file; flags given here override the file.
    Run(RunArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the built-in demo MCP server alone (an upstream for tests and benchmarks).
    DemoServer(DemoServerArgs),
    /// Connect a stdio MCP client (an IDE that launches this command) to a Streamable HTTP
    /// server (--target URL) or to a stdio server run as a child (-- CMD ARGS...).
    Forward(ForwardArgs),
}

/// `shadowcat config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and print the effective configuration (all defaults
    /// filled in) as TOML. Exits with 2 when the file is invalid.
    Check(ConfigCheckArgs),
}

/// Arguments of `config check`.
#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// The configuration file.
    #[arg(value_name = "FILE")]
    pub path: PathBuf,
}

/// How many shards, or on which cores; at most one of the two.
#[derive(Debug, Clone, Default, Args)]
#[group(id = "core_selection", multiple = false)]
pub struct CoreArgs {
    /// Number of shards, one pinned thread each, on the first usable cores
    /// [default: one per usable core].
    #[arg(long, value_name = "N", value_parser = parse_shards)]
    pub shards: Option<NonZeroUsize>,
    /// Cores to run shards on, one shard per core: "all", or a list like "0,1" or
    /// "0-7,16-23".
    #[arg(long, value_name = "LIST", value_parser = parse_cores)]
    pub cores: Option<CoreSelection>,
}

/// Flags shared by every command that starts shards.
#[derive(Debug, Clone, Default, Args)]
pub struct RuntimeArgs {
    /// Shard count or cores.
    #[command(flatten)]
    pub cores: CoreArgs,
    /// io_uring buffer memory per shard, e.g. "2MiB" [default: 2MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub io_memory: Option<u64>,
    /// Log level (error, warn, info, debug, trace, off) or a filter like
    /// "info,shadowcat::proxy=debug" [default: info].
    #[arg(long, value_name = "FILTER", value_parser = parse_log_level)]
    pub log_level: Option<String>,
}

/// The proxy listener flags `demo` and `reverse` share.
#[derive(Debug, Clone, Args)]
pub struct ListenerArgs {
    /// Address the proxy listens on.
    #[arg(long, value_name = "ADDR", default_value = LISTEN_ADDR_TEXT)]
    pub bind: SocketAddr,
    /// MCP endpoint path clients use on the proxy (in `demo`, also the demo server's path).
    #[arg(long, value_name = "PATH", default_value = MCP_PATH)]
    pub path: String,
    /// Accept this Host header name (repeatable; "*" accepts any). Default on a loopback
    /// --bind: localhost, 127.0.0.1, ::1; required on any other address.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Also accept this browser Origin, e.g. https://app.example.com (repeatable; "*" accepts
    /// any). Origins whose host is an allowed host are always accepted.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Also serve the admin API (/metrics, /health, ...) on this address.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
}

/// Arguments of `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Make the demo server answer POSTs with SSE streams instead of JSON.
    #[arg(long)]
    pub sse: bool,
    /// Listener flags.
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// Runtime flags.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Arguments of `reverse`.
#[derive(Debug, Clone, Args)]
#[command(group(
    ArgGroup::new("upstream_kind")
        .required(true)
        .args(["upstream", "upstream_cmd"])
))]
pub struct ReverseArgs {
    /// The MCP server to proxy, e.g. http://127.0.0.1:9000/mcp (http:// only for now).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Proxy a stdio MCP server instead: the proxy runs the command given after `--`
    /// (e.g. `--upstream-cmd -- npx -y @modelcontextprotocol/server-everything stdio`)
    /// as child processes and speaks JSON-RPC lines on their stdin/stdout.
    #[arg(long)]
    pub upstream_cmd: bool,
    /// With --upstream-cmd: "per-session" runs one child per client session; "shared" runs
    /// one child per shard for every session (ids remapped) [default: per-session].
    #[arg(long, value_name = "MODE", conflicts_with = "upstream",
          value_parser = ["per-session", "shared"], hide_possible_values = true)]
    pub stdio_mode: Option<String>,
    /// With --upstream-cmd: children started ahead of time on each shard, so `initialize`
    /// does not wait for the process to start (0 to 64) [default: 1].
    #[arg(long, value_name = "N", conflicts_with = "upstream")]
    pub warm: Option<u64>,
    /// With --upstream-cmd: most children (client sessions) per shard in per-session mode;
    /// a new session beyond it gets 503 with Retry-After (1 to 100000) [default: 64].
    #[arg(long, value_name = "N", conflicts_with = "upstream")]
    pub max: Option<u64>,
    /// With --upstream-cmd: set this variable for the children, on top of the proxy's own
    /// environment (repeatable; the last value for a name wins).
    #[arg(long = "env", value_name = "KEY=VALUE", conflicts_with = "upstream",
          value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// With --upstream-cmd: working directory of the children (must exist)
    /// [default: the proxy's].
    #[arg(long, value_name = "DIR", conflicts_with = "upstream")]
    pub cwd: Option<String>,
    /// The stdio server's program and arguments, after `--` (with --upstream-cmd).
    #[arg(last = true, value_name = "CMD", conflicts_with = "upstream")]
    pub command: Vec<String>,
    /// Listener flags.
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// Drop sessions idle for this long, e.g. "30m" [default: 30m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub session_ttl: Option<Duration>,
    /// Time the upstream has to start answering, e.g. "60s" [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
    /// Time to connect to the upstream, e.g. "5s" (HTTP upstreams) [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Largest request body accepted, e.g. "4MiB" [default: 4MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_body: Option<u64>,
    /// Runtime flags.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Parses `--env KEY=VALUE`: split at the first `=`; the name must not be empty.
fn parse_env_pair(text: &str) -> Result<(String, String), &'static str> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err("KEY=VALUE with a non-empty KEY, e.g. NODE_ENV=production"),
    }
}

/// Arguments of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The configuration file (see docs/configuration.md).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// Runtime flags; each overrides the same setting in the file.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Arguments of `demo-server`.
#[derive(Debug, Clone, Args)]
pub struct DemoServerArgs {
    /// Address to serve Streamable HTTP on.
    #[arg(long, value_name = "ADDR", default_value = DEMO_SERVER_ADDR_TEXT)]
    pub http: SocketAddr,
    /// Answer POSTs with SSE streams instead of JSON.
    #[arg(long)]
    pub sse: bool,
    /// MCP endpoint path.
    #[arg(long, value_name = "PATH", default_value = MCP_PATH)]
    pub path: String,
    /// Speak MCP on stdin/stdout instead (newline-delimited JSON-RPC, logs on stderr), as a
    /// stdio server for `reverse --upstream-cmd` or any stdio client; exits at end of input.
    #[arg(long, conflicts_with_all = ["http", "sse", "path", "shards", "cores", "io_memory"])]
    pub stdio: bool,
    /// Runtime flags.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Arguments of `forward`.
#[derive(Debug, Clone, Args)]
#[command(
    group(clap::ArgGroup::new("forward_target").required(true).args(["target", "command"])),
    after_help = "stdin/stdout carry newline-delimited JSON-RPC to the client that launched \
        shadowcat; logs go to stderr.\n\nExamples:\n  \
        shadowcat forward --target http://127.0.0.1:8080/mcp --header 'Authorization: Bearer TOKEN'\n  \
        shadowcat forward -- npx -y @modelcontextprotocol/server-everything stdio"
)]
pub struct ForwardArgs {
    /// The Streamable HTTP MCP server to reach, e.g. http://127.0.0.1:8080/mcp (http:// only).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Send this header with every request to --target, e.g. "Authorization: Bearer TOKEN"
    /// (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE", conflicts_with = "command",
        value_parser = crate::config::parse_header)]
    pub headers: Vec<(String, String)>,
    /// Time the target has to start answering a request, and the longest silence inside a
    /// streamed answer, e.g. "60s" [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
    /// Time to connect to --target, e.g. "5s" [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Set this variable for the child (repeatable); it inherits shadowcat's environment.
    #[arg(long = "env", value_name = "KEY=VALUE", conflicts_with = "target",
        value_parser = parse_env_pair)]
    pub env: Vec<(String, String)>,
    /// Working directory of the child [default: the current one].
    #[arg(long, value_name = "DIR", conflicts_with = "target")]
    pub cwd: Option<PathBuf>,
    /// Time the child gets to exit after its stdin closes before its process group is killed,
    /// e.g. "2s" [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub kill_grace: Option<Duration>,
    /// Log level (error, warn, info, debug, trace, off) or a filter like
    /// "info,shadowcat::forward=debug" [default: info]. Logs go to stderr.
    #[arg(long, value_name = "FILTER", value_parser = parse_log_level)]
    pub log_level: Option<String>,
    /// The stdio MCP server to run instead of --target: program and arguments after "--".
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[cfg(test)]
mod tests {
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
}
