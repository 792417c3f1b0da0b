//! Parsed command line -> what `main` runs: [`Command::Proxy`], [`Command::DemoServer`],
//! [`Command::DemoStdio`] or [`Command::ConfigCheck`].
//!
//! Not here: flag syntax (`cli/mod.rs`), validation (flags become a raw config and go through
//! the config module's resolve step, so `reverse` and the equivalent TOML give equal `Config`s).
//! Errors about flags name the flag (`--upstream`), not the TOML path it fills.

use std::path::PathBuf;

use super::{
    AuthArgs, Cli, CliCommand, ConfigCommand, DemoArgs, DemoServerArgs, IoArgs, ListenerArgs,
    ReverseArgs, RuntimeArgs,
};
use crate::config::defaults as d;
use crate::config::raw::{
    RawAdmin, RawAuth, RawConfig, RawDemo, RawDuration, RawListener, RawRateLimit, RawRoute,
    RawSize, RawUpstream,
};
use crate::config::{
    raw_cores, raw_duration as duration, read_raw, resolve, resolve_runtime, route_path, Config,
    CoreSelection, DemoServerConfig, DemoStdioConfig, Error, ForwardConfig, LimitsConfig,
    LogConfig, RawAudit, TimeoutsConfig,
};

/// Origin named in errors about flags.
const CLI_ORIGIN: &str = "command line";

/// What `main` should do.
#[derive(Debug)]
pub enum Command {
    /// Run the proxy (`demo`, `reverse`, `run`). When `config.demo` is set, first start the
    /// demo server on `demo.bind`, then call [`Config::set_demo_addr`] with the bound address,
    /// then start the proxy shards with the config.
    Proxy(Box<Config>),
    /// Run the demo MCP server alone (`demo-server`).
    DemoServer(DemoServerConfig),
    /// Run the demo MCP server on stdin/stdout (`demo-server --stdio`).
    DemoStdio(DemoStdioConfig),
    /// Validate this file and print its effective configuration (`config check`); see
    /// [`crate::config::check_file`].
    ConfigCheck(PathBuf),
    /// Relay a stdio client to a target (`forward`).
    Forward(Box<ForwardConfig>),
    /// Read tapes (`tape …`).
    Tape(super::tape::TapeCommand),
    /// Play a tape (`replay`).
    Replay(Box<super::replay::ReplayArgs>),
    /// Talk to a running proxy's interception API (`intercept`).
    Intercept(Box<super::intercept::InterceptArgs>),
}

/// Turns the parsed command line into what `main` runs. `run` reads and resolves its file here
/// (file I/O and DNS at startup); the other commands touch no file.
///
/// # Errors
/// [`Error`] naming the flag or TOML key at fault; exit with [`Error::exit_code`].
pub fn from_cli(cli: &Cli) -> Result<Command, Error> {
    match &cli.command {
        CliCommand::Demo(args) => proxy_from_flags(&demo_raw(args)),
        CliCommand::Reverse(args) => {
            check_reverse(args)?;
            proxy_from_flags(&reverse_raw(args))
        }
        CliCommand::Run(args) => {
            let (mut raw, origin) = read_raw(&args.config)?;
            apply_runtime_args(&mut raw, &args.runtime);
            apply_io_args(&mut raw, &args.io);
            let config = resolve(&raw).map_err(|error| error.with_origin(&origin))?;
            Ok(Command::Proxy(Box::new(config)))
        }
        CliCommand::Intercept(args) => Ok(Command::Intercept(Box::new(args.clone()))),
        CliCommand::Config(ConfigCommand::Check(args)) => {
            Ok(Command::ConfigCheck(args.path.clone()))
        }
        CliCommand::DemoServer(args) if args.stdio => {
            let mut raw = RawConfig::default();
            apply_runtime_args(&mut raw, &args.runtime);
            let level = raw.log.level.unwrap_or_else(|| d::LOG_LEVEL.to_owned());
            Ok(Command::DemoStdio(DemoStdioConfig {
                log: LogConfig { level },
            }))
        }
        CliCommand::DemoServer(args) => demo_server(args)
            .map(Command::DemoServer)
            .map_err(|error| error.rename_keys(&flag_for_key).with_origin(CLI_ORIGIN)),
        CliCommand::Forward(args) => super::forward::forward_config(args)
            .map(|config| Command::Forward(Box::new(config)))
            .map_err(|error| error.with_origin(CLI_ORIGIN)),
        CliCommand::Tape(command) => Ok(Command::Tape(command.clone())),
        CliCommand::Replay(args) => Ok(Command::Replay(Box::new(args.clone()))),
    }
}

fn proxy_from_flags(raw: &RawConfig) -> Result<Command, Error> {
    resolve(raw)
        .map(|config| Command::Proxy(Box::new(config)))
        .map_err(|error| error.rename_keys(&flag_for_key).with_origin(CLI_ORIGIN))
}

/// `reverse`: one listener `main` routing `--path` to one upstream `main`: the HTTP server at
/// `--upstream`, or the stdio server `-- CMD ARGS...` with `--upstream-cmd`.
pub(crate) fn reverse_raw(args: &ReverseArgs) -> RawConfig {
    let upstream = RawUpstream {
        url: args.upstream.clone(),
        transport: args.upstream_transport.clone(),
        era: args.upstream_era.clone(),
        command: args.upstream_cmd.then(|| args.command.clone()),
        env: (!args.env.is_empty()).then(|| args.env.iter().cloned().collect()),
        cwd: args.cwd.clone(),
        mode: args.stdio_mode.clone(),
        warm: args.warm,
        max: args.max,
        connect_timeout: args.connect_timeout.map(duration),
        request_timeout: args.request_timeout.map(duration),
        pool_max_idle: args.pool_max_idle,
        tls_ca: args.upstream_ca.clone(),
        tls_insecure: args.upstream_insecure.then_some(true),
        headers: (!args.upstream_headers.is_empty())
            .then(|| args.upstream_headers.iter().cloned().collect()),
        oauth: args.upstream_oauth.to_raw(),
        ..RawUpstream::default()
    };
    let mut raw = one_route(
        &args.listener,
        d::REVERSE_UPSTREAM_NAME,
        upstream,
        args.legacy_sse,
    );
    raw.sessions.ttl = args.session_ttl.map(duration);
    raw.limits.max_body_bytes = args.max_body.map(RawSize::Bytes);
    apply_runtime_args(&mut raw, &args.runtime);
    apply_io_args(&mut raw, &args.io);
    raw
}

/// `reverse --upstream-cmd` needs the command after `--`, and one `--upstream-header` name
/// given twice (any case) is refused rather than silently dropped; clap cannot say so.
fn check_reverse(args: &ReverseArgs) -> Result<(), Error> {
    if args.upstream_cmd && args.command.is_empty() {
        return Err(Error::Missing {
            key: "--upstream-cmd".into(),
            allowed: "give the stdio server's command after `--`, e.g. `shadowcat reverse \
                      --upstream-cmd -- npx -y @modelcontextprotocol/server-everything stdio`",
        }
        .with_origin(CLI_ORIGIN));
    }
    let names = args.upstream_headers.iter().map(|(name, _)| name);
    for (index, name) in names.clone().enumerate() {
        if names
            .clone()
            .take(index)
            .any(|seen| seen.eq_ignore_ascii_case(name))
        {
            return Err(Error::BadHeader {
                key: "--upstream-header".into(),
                header: name.clone(),
                allowed: "each header name once (names are case-insensitive)",
            }
            .with_origin(CLI_ORIGIN));
        }
    }
    Ok(())
}

/// `demo`: one listener `main` routing `--path` to upstream `demo`, which points at the
/// in-process demo server on 127.0.0.1 port 0 (fixed up by [`Config::set_demo_addr`]).
pub(crate) fn demo_raw(args: &DemoArgs) -> RawConfig {
    let path = &args.listener.path;
    let upstream = RawUpstream {
        url: Some(format!("http://{}{path}", d::DEMO_BIND_TEXT)),
        ..RawUpstream::default()
    };
    // `demo` serves both client transports: Streamable HTTP on `--path` and legacy HTTP+SSE
    // on /sse + /messages, so any SDK client can try the proxy without flags.
    let mut raw = one_route(&args.listener, d::DEMO_UPSTREAM_NAME, upstream, true);
    raw.demo = Some(RawDemo {
        bind: Some(d::DEMO_BIND_TEXT.to_owned()),
        sse: Some(args.sse),
        path: Some(path.clone()),
    });
    apply_runtime_args(&mut raw, &args.runtime);
    apply_io_args(&mut raw, &args.io);
    raw
}

/// A config with listener `main` routing `--path` to `upstream` (named `name`), with the
/// listener flags' allow-lists and admin address, and the legacy SSE endpoints (default
/// paths) when `legacy_sse`.
fn one_route(
    flags: &ListenerArgs,
    name: &str,
    upstream: RawUpstream,
    legacy_sse: bool,
) -> RawConfig {
    let non_empty = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
    let listener = RawListener {
        bind: flags.bind.to_string(),
        allowed_hosts: non_empty(&flags.allowed_hosts),
        allowed_origins: non_empty(&flags.allowed_origins),
        tls_cert: flags.tls_cert.clone(),
        tls_key: flags.tls_key.clone(),
        tls_client_ca: flags.tls_client_ca.clone(),
        public_url: flags.auth.public_url.clone(),
        routes: vec![RawRoute {
            path: flags.path.clone(),
            upstream: name.to_owned(),
            era: flags.era.clone(),
            legacy_sse: legacy_sse.then_some(true),
            allow_tools: non_empty(&flags.allow_tools),
            deny_tools: non_empty(&flags.deny_tools),
            auth: raw_auth(&flags.auth),
            rate_limit: flags.auth.rate_limit.as_ref().map(|rate| RawRateLimit {
                rate: Some(rate.clone()),
                burst: flags.auth.rate_limit_burst,
                ..RawRateLimit::default()
            }),
            ..RawRoute::default()
        }],
    };
    let mut raw = RawConfig::default();
    raw.listeners.insert(d::LISTENER_NAME.to_owned(), listener);
    raw.upstreams.insert(name.to_owned(), upstream);
    raw.admin = flags.admin.map(|bind| RawAdmin {
        bind: Some(bind.to_string()),
        token_file: flags
            .admin_token_file
            .as_ref()
            .map(|file| file.display().to_string()),
    });
    raw.audit = flags.auth.audit_log.as_ref().map(|file| RawAudit {
        file: file.clone(),
        arguments: flags.auth.audit_arguments.then_some(true),
        required: flags.auth.audit_required.then_some(true),
        ..RawAudit::default()
    });
    raw
}

/// The route's `auth` table from the `--auth-*` and `--api-keys` flags; `None` without any
/// (`--public-url` alone sets only the listener's URL).
fn raw_auth(flags: &AuthArgs) -> Option<RawAuth> {
    let any =
        flags.auth_issuer.is_some() || flags.api_keys.is_some() || !flags.auth_scopes.is_empty();
    any.then(|| RawAuth {
        issuer: flags.auth_issuer.clone(),
        jwks: flags.auth_jwks.clone(),
        audience: flags.auth_audience.clone(),
        scopes: (!flags.auth_scopes.is_empty()).then(|| flags.auth_scopes.clone()),
        api_keys: flags.api_keys.clone(),
    })
}

fn demo_server(args: &DemoServerArgs) -> Result<DemoServerConfig, Error> {
    let mut raw = RawConfig::default();
    apply_runtime_args(&mut raw, &args.runtime);
    let level = raw.log.level.unwrap_or_else(|| d::LOG_LEVEL.to_owned());
    Ok(DemoServerConfig {
        bind: args.http,
        sse: args.sse,
        path: route_path("--path", &args.path)?,
        runtime: resolve_runtime(&raw.runtime)?,
        limits: LimitsConfig::default(),
        timeouts: TimeoutsConfig::default(),
        log: LogConfig { level },
    })
}

/// Applies `--shards`/`--cores`, `--io-memory` and `--log-level` over what `raw` says: flags win.
pub(crate) fn apply_runtime_args(raw: &mut RawConfig, args: &RuntimeArgs) {
    let selection = match (&args.cores.shards, &args.cores.cores) {
        (Some(count), _) => Some(CoreSelection::Count(*count)),
        (None, cores) => cores.clone(),
    };
    if let Some(selection) = selection {
        (raw.runtime.shards, raw.runtime.cores) = raw_cores(&selection);
    }
    if let Some(bytes) = args.io_memory {
        raw.runtime.io_memory = Some(RawSize::Bytes(bytes));
    }
    if let Some(level) = &args.log_level {
        raw.log.level = Some(level.clone());
    }
}

/// Applies `--io`, `--buffer-pool-memory` and `--record` over what `raw` says: flags win.
pub(crate) fn apply_io_args(raw: &mut RawConfig, args: &IoArgs) {
    if let Some(io) = &args.io {
        raw.runtime.io = Some(io.clone());
    }
    if let Some(bytes) = args.buffer_pool_memory {
        raw.runtime.buffer_pool_memory = Some(RawSize::Bytes(bytes));
    }
    if let Some(spin) = &args.spin_before_park {
        raw.runtime.spin_before_park = Some(RawDuration(spin.clone()));
    }
    if let Some(hops) = &args.hops {
        raw.runtime.hops = Some(hops.clone());
    }
    if let Some(dir) = &args.record {
        raw.recording.get_or_insert_with(Default::default).dir = Some(dir.clone());
    }
}

/// The flag that set a TOML key in configs built by [`reverse_raw`] and [`demo_raw`]; keys
/// under a prefix (`listeners.main.allowed_hosts[2]`) map like the prefix.
fn flag_for_key(key: &str) -> Option<&'static str> {
    const FLAGS: [(&str, &str); 56] = [
        ("listeners.main.bind", "--bind"),
        ("audit.file", "--audit-log"),
        ("recording.dir", "--record"),
        ("listeners.main.routes[0].rate_limit.rate", "--rate-limit"),
        (
            "listeners.main.routes[0].rate_limit.burst",
            "--rate-limit-burst",
        ),
        ("listeners.main.public_url", "--public-url"),
        ("listeners.main.routes[0].auth.issuer", "--auth-issuer"),
        ("listeners.main.routes[0].auth.jwks", "--auth-jwks"),
        ("listeners.main.routes[0].auth.audience", "--auth-audience"),
        ("listeners.main.routes[0].auth.scopes", "--auth-scope"),
        ("listeners.main.routes[0].auth.api_keys", "--api-keys"),
        ("listeners.main.allowed_hosts", "--allowed-host"),
        ("listeners.main.allowed_origins", "--allowed-origin"),
        ("listeners.main.routes[0].era", "--era"),
        ("listeners.main.routes[0].allow_tools", "--allow-tool"),
        ("listeners.main.routes[0].deny_tools", "--deny-tool"),
        ("listeners.main.routes[0].sse_path", "--legacy-sse"),
        ("listeners.main.routes[0].messages_path", "--legacy-sse"),
        ("listeners.main.routes", "--path"),
        ("listeners.main.tls_cert", "--tls-cert"),
        ("listeners.main.tls_key", "--tls-key"),
        ("listeners.main.tls_client_ca", "--tls-client-ca"),
        ("upstreams.main.url", "--upstream"),
        ("upstreams.main.command", "--upstream-cmd"),
        ("upstreams.main.tls_ca", "--upstream-ca"),
        ("upstreams.main.tls_insecure", "--upstream-insecure"),
        ("upstreams.main.headers", "--upstream-header"),
        (
            "upstreams.main.oauth.token_url",
            "--upstream-oauth-token-url",
        ),
        (
            "upstreams.main.oauth.client_id",
            "--upstream-oauth-client-id",
        ),
        (
            "upstreams.main.oauth.client_secret_env",
            "--upstream-oauth-client-secret-env",
        ),
        ("upstreams.main.oauth.scopes", "--upstream-oauth-scope"),
        ("upstreams.main.oauth.audience", "--upstream-oauth-audience"),
        ("upstreams.main.oauth.resource", "--upstream-oauth-resource"),
        (
            "upstreams.main.oauth.token_exchange",
            "--upstream-token-exchange",
        ),
        ("upstreams.main.oauth", "--upstream-oauth-token-url"),
        ("upstreams.main.env", "--env"),
        ("upstreams.main.cwd", "--cwd"),
        ("upstreams.main.mode", "--stdio-mode"),
        ("upstreams.main.warm", "--warm"),
        ("upstreams.main.max", "--max"),
        ("upstreams.main.connect_timeout", "--connect-timeout"),
        ("upstreams.main.pool_max_idle", "--pool-max-idle"),
        ("upstreams.main.request_timeout", "--request-timeout"),
        ("sessions.ttl", "--session-ttl"),
        ("limits.max_body_bytes", "--max-body"),
        ("admin.bind", "--admin"),
        ("admin.token_file", "--admin-token-file"),
        ("demo.path", "--path"),
        ("runtime.shards", "--shards"),
        ("runtime.cores", "--cores"),
        ("runtime.io_memory", "--io-memory"),
        ("runtime.buffer_pool_memory", "--buffer-pool-memory"),
        ("runtime.io", "--io"),
        ("runtime.spin_before_park", "--spin-before-park"),
        ("runtime.hops", "--hops"),
        ("log.level", "--log-level"),
    ];
    FLAGS.iter().find_map(|(prefix, flag)| {
        let rest = key.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with(['[', '.'])).then_some(*flag)
    })
}

#[cfg(test)]
#[path = "header_flags_tests.rs"]
mod header_flags_tests;
#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
#[cfg(test)]
#[path = "tls_flags_tests.rs"]
mod tls_flags_tests;
