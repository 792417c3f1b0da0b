//! Command-line interface: clap types only, i.e. what the user typed, each value syntax-checked.
//!
//! [`from_cli`] (`command.rs`) turns them into what `main` runs.
//!
//! Not here: defaults that belong to the config (session TTL, timeouts, limits: see
//! `config::defaults`), validation (the config module resolves what the flags say). Command and
//! flag names are fixed: scripts rely on them.
#![allow(
    rustdoc::bare_urls,
    reason = "doc comments here are clap's --help text, where <...> around URLs would show"
)]

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};

mod command;
mod forward;
pub mod intercept;
pub mod replay;
mod replay_bind;
pub mod replay_run;
pub mod tape;
pub mod tape_run;
mod upstream_oauth;

pub use command::{from_cli, Command};

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
    /// Read recorded sessions (tapes, see --record): list, show, export, stats, verify,
    /// repair, delete.
    #[command(subcommand)]
    Tape(tape::TapeCommand),
    /// Play a tape: serve it as an MCP server (--bind ADDR), or re-send its client side to a
    /// live server and diff the answers (--target URL, or --target -- CMD ARGS).
    Replay(replay::ReplayArgs),
    /// Paused messages and interception rules of a running proxy, over its admin API
    /// (docs/interception.md).
    Intercept(intercept::InterceptArgs),
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

/// The flags of the commands that run the proxy (`demo`, `reverse`, `run`) about its shards'
/// I/O: the socket path, the idle buffer pool, and session recording.
#[derive(Debug, Clone, Default, Args)]
pub struct IoArgs {
    /// Socket I/O path of the proxy's connections: "uring" (one io_uring per shard:
    /// multishot accept and recv, registered files, batched sends) or "glommio" (plain
    /// socket syscalls). Default: uring; where the kernel lacks what it needs, it falls back
    /// to glommio with a warning saying why.
    #[arg(long = "io", value_name = "PATH", value_parser = ["uring", "glommio"])]
    pub io: Option<String>,
    /// Idle I/O buffer memory each shard keeps for reuse, e.g. "8MiB"; buffers returned beyond
    /// it are freed, so a burst of large bodies does not leave memory behind ("0B" pools
    /// nothing) [default: 8MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub buffer_pool_memory: Option<u64>,
    /// How long an idle shard polls for work before it sleeps, e.g. "50us" (at most "10ms").
    /// Cuts the wake-up cost of a lone request (closed-loop latency) for CPU time spent
    /// polling on idle cores [default: 0s: sleeps at once].
    #[arg(long, value_name = "DURATION")]
    pub spin_before_park: Option<String>,
    /// A request whose session another shard owns: "auto" moves the connection to that shard
    /// once and forwards such requests after that (a connection carrying many shards'
    /// sessions stays put), "move" always moves it (TLS: relays it), "forward" never moves
    /// it [default: auto].
    #[arg(long, value_name = "POLICY", value_parser = ["auto", "move", "forward"])]
    pub hops: Option<String>,
    /// Record every client session, both directions, as one tape file per session under DIR
    /// (JSON Lines, docs/tapes.md); credentials are never written. Overrides `[recording]
    /// dir`; TOML `[recording]` sets redaction, fsync, rotation and retention.
    #[arg(long, value_name = "DIR")]
    pub record: Option<String>,
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
    /// Serve clients over TLS with this PEM certificate chain (leaf first); needs --tls-key.
    /// Both files are read again on SIGHUP (new connections get the new certificate).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<String>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<String>,
    /// With --tls-cert: require client certificates chaining to the CAs of this PEM file
    /// (mTLS); clients without one fail the handshake. The certificate's subject
    /// (`CN=alice,O=Example`) is the principal of requests on routes without auth.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<String>,
    /// Also serve the admin API (/metrics, /health, ...) on this address.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
    /// With --admin: a file holding the bearer token the admin API requires
    /// (`Authorization: Bearer TOKEN`; /health and /ready stay open for probes). Required when
    /// --admin is not a loopback address.
    #[arg(long, value_name = "FILE", requires = "admin")]
    pub admin_token_file: Option<PathBuf>,
    /// Protocol eras served on --path: "dual" (legacy sessions and 2026-07-28 stateless
    /// requests) or "modern" (2026-07-28 only: GET/DELETE get 405) [default: dual].
    #[arg(long, value_name = "ERA", value_parser = ["dual", "modern"], hide_possible_values = true)]
    pub era: Option<String>,
    /// Offer only the tools matching this glob ("echo", "add*"; `*` any run, `?` one
    /// character; repeatable): others are left out of tools/list and calls to them get
    /// -32602 "Unknown tool" without reaching the upstream.
    #[arg(long = "allow-tool", value_name = "GLOB")]
    pub allow_tools: Vec<String>,
    /// Hide the tools matching this glob (repeatable; wins over --allow-tool).
    #[arg(long = "deny-tool", value_name = "GLOB")]
    pub deny_tools: Vec<String>,
    /// Authentication flags.
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Who may use the proxy's endpoint (`demo` and `reverse`; TOML: `[listeners.NAME.routes.auth]`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Authentication and limits")]
pub struct AuthArgs {
    /// Require OAuth 2.1 bearer tokens signed by this authorization server (its issuer URL;
    /// https://, or http:// on loopback). Clients without one get 401 and find the server
    /// through /.well-known/oauth-protected-resource (RFC 9728).
    #[arg(long, value_name = "URL")]
    pub auth_issuer: Option<String>,
    /// The issuer's JWK Set URL [default: jwks_uri from the issuer's metadata].
    #[arg(long, value_name = "URL", requires = "auth_issuer")]
    pub auth_jwks: Option<String>,
    /// The audience tokens must be issued for [default: the endpoint's public URL,
    /// --public-url + --path].
    #[arg(long, value_name = "AUD", requires = "auth_issuer")]
    pub auth_audience: Option<String>,
    /// A scope every token (and API key) must carry (repeatable); missing: 403.
    #[arg(long = "auth-scope", value_name = "SCOPE")]
    pub auth_scopes: Vec<String>,
    /// Accept the API keys of this TOML file (`[keys.NAME] sha256 = "<hex>"`, optional
    /// `scopes`), sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`; reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<String>,
    /// The origin clients reach the proxy at, e.g. https://mcp.example.com: the endpoint's
    /// resource URL is this + --path [default: http(s)://--bind].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Admit at most this many requests per principal, e.g. "100/s", "20/m" (over it: 429
    /// with Retry-After).
    #[arg(long, value_name = "RATE")]
    pub rate_limit: Option<String>,
    /// With --rate-limit: the most requests admitted at once after a quiet spell [default:
    /// the per-second count, or 1 for slower rates].
    #[arg(long, value_name = "N", requires = "rate_limit")]
    pub rate_limit_burst: Option<u32>,
    /// Append one JSON line per request decision to this file (who, session, method, tool,
    /// SHA-256 of the arguments, allowed/denied/rate-limited, status, latency); rotated at
    /// 100MiB, 5 kept (TOML `[audit]` for more).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<String>,
    /// With --audit-log: write each tools/call's arguments too, not only their SHA-256.
    #[arg(long, requires = "audit_log")]
    pub audit_arguments: bool,
    /// With --audit-log: refuse requests (503) while audit lines cannot be written, instead
    /// of dropping the lines and counting them.
    #[arg(long, requires = "audit_log")]
    pub audit_required: bool,
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
    /// I/O path and buffer pool flags.
    #[command(flatten)]
    pub io: IoArgs,
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
    /// With --upstream: the transport the server speaks: "streamable-http" (MCP 2025-03-26 and
    /// later) or "sse" (the legacy HTTP+SSE transport of 2024-11-05; --upstream is then its
    /// GET stream URL, e.g. http://127.0.0.1:9000/sse, or https:// for TLS)
    /// [default: streamable-http].
    #[arg(long, value_name = "TRANSPORT", requires = "upstream",
          value_parser = ["streamable-http", "sse"], hide_possible_values = true)]
    pub upstream_transport: Option<String>,
    /// With --upstream (Streamable HTTP): the protocol eras the server speaks: "auto" (found out
    /// on first use), "dual", "legacy" (initialize and sessions) or "modern" (2026-07-28
    /// stateless); the proxy translates between a client's era and the server's [default: auto].
    #[arg(long, value_name = "ERA", requires = "upstream",
          value_parser = ["auto", "dual", "legacy", "modern"], hide_possible_values = true)]
    pub upstream_era: Option<String>,
    /// With an https:// --upstream: PEM file of the CA certificates to trust instead of the
    /// system's CA store.
    #[arg(long, value_name = "FILE", requires = "upstream")]
    pub upstream_ca: Option<String>,
    /// With an https:// --upstream: do not verify its certificate at all (testing only; the
    /// proxy warns at start).
    #[arg(long, requires = "upstream", conflicts_with = "upstream_ca")]
    pub upstream_insecure: bool,
    /// With --upstream: send this header on every request to the server, e.g.
    /// 'Authorization: Bearer ${env:GITHUB_TOKEN}' (repeatable).
    ///
    /// Single quotes keep the shell off ${env:NAME}, which shadowcat replaces from its own
    /// environment at start (an unset variable is an error); $${ writes a literal ${. The header
    /// replaces a client header of the same name; the client's Authorization and X-API-Key never
    /// reach the server anyway. Names the proxy sets itself (Host, Content-Type, Mcp-Session-Id,
    /// ...) are refused. Values are never logged or printed.
    #[arg(long = "upstream-header", value_name = "NAME: VALUE", requires = "upstream",
          value_parser = parse_header_pair)]
    pub upstream_headers: Vec<(String, String)>,
    /// The proxy's OAuth client towards the upstream.
    #[command(flatten)]
    pub upstream_oauth: upstream_oauth::UpstreamOAuthArgs,
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
    /// Idle upstream connections kept per shard (HTTP upstreams; 0 = no pooling). Raise it to
    /// about the number of concurrent requests a shard carries, or connections beyond it are
    /// closed after each answer and opened again [default: 64].
    #[arg(long, value_name = "N")]
    pub pool_max_idle: Option<u64>,
    /// Largest request body accepted, e.g. "4MiB" [default: 4MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_body: Option<u64>,
    /// Also serve the 2024-11-05 HTTP+SSE transport: `GET /sse` opens a client's stream,
    /// `POST /messages?sessionId=ID` carries its messages (paths configurable in TOML).
    #[arg(long)]
    pub legacy_sse: bool,
    /// Runtime flags.
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// I/O path and buffer pool flags.
    #[command(flatten)]
    pub io: IoArgs,
}

/// Parses `--env KEY=VALUE`: split at the first `=`; the name must not be empty.
fn parse_env_pair(text: &str) -> Result<(String, String), &'static str> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err("KEY=VALUE with a non-empty KEY, e.g. NODE_ENV=production"),
    }
}

/// Parses `--upstream-header 'NAME: VALUE'`: split at the first `:`, whitespace around both
/// parts dropped; the name must not be empty. The config module checks name and value.
fn parse_header_pair(text: &str) -> Result<(String, String), &'static str> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err("'NAME: VALUE' with a non-empty NAME, e.g. 'Authorization: Bearer ${env:TOKEN}'"),
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
    /// I/O path and buffer pool flags.
    #[command(flatten)]
    pub io: IoArgs,
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
        shadowcat forward -- npx -y @modelcontextprotocol/server-everything stdio\n  \
        shadowcat forward --deny-tool 'delete_*' -- python server.py"
)]
pub struct ForwardArgs {
    /// The Streamable HTTP MCP server to reach, e.g. https://mcp.example.com/mcp or
    /// http://127.0.0.1:8080/mcp (an https:// target's certificate is verified).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// With an https:// --target: PEM file of the CA certificates to trust instead of the
    /// system's CA store.
    #[arg(long, value_name = "FILE", requires = "target")]
    pub target_ca: Option<String>,
    /// With an https:// --target: do not verify its certificate at all (testing only; a
    /// warning is logged).
    #[arg(long, requires = "target", conflicts_with = "target_ca")]
    pub target_insecure: bool,
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
    /// Offer the client only the tools matching this glob ("echo", "add*"; `*` any run, `?`
    /// one character; repeatable): others are left out of tools/list answers and calls to
    /// them are answered -32602 "Unknown tool" without reaching the target.
    #[arg(long = "allow-tool", value_name = "GLOB")]
    pub allow_tools: Vec<String>,
    /// Hide the tools matching this glob from the client (repeatable; wins over
    /// --allow-tool).
    #[arg(long = "deny-tool", value_name = "GLOB")]
    pub deny_tools: Vec<String>,
    /// Log level (error, warn, info, debug, trace, off) or a filter like
    /// "info,shadowcat::forward=debug" [default: info]. Logs go to stderr.
    #[arg(long, value_name = "FILTER", value_parser = parse_log_level)]
    pub log_level: Option<String>,
    /// Record the session, both directions, as a tape under DIR (JSON Lines, docs/tapes.md;
    /// `--header` values are never written).
    #[arg(long, value_name = "DIR")]
    pub record: Option<String>,
    /// The stdio MCP server to run instead of --target: program and arguments after "--".
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
