//! The typed, validated configuration the runtime consumes: `Config` and its sections.
//!
//! Not here: TOML syntax (see `raw.rs`), validation (see `resolve.rs`), defaults (see
//! `defaults.rs`). Every value here has already been checked; units live in the types
//! (`Duration`, `SocketAddr`, bytes as `usize`).

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use shards::IoBackend;

use super::admin_token::AdminToken;
use super::allow;
use super::auth::RouteAuth;
use super::defaults;
use super::ids::{self, ListenerId, RouteId, UpstreamId};
use super::policy::Policy;
use super::rate_limit::RateLimit;
use super::secret::SealKey;
use super::tools::ToolFilter;
use super::upstream_headers::UpstreamHeaders;
use super::upstream_oauth::UpstreamOAuth;

pub use crate::tls::{ListenerTls, UpstreamTrust};

/// A resolved proxy configuration: the immutable snapshot every shard holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Shards and their memory.
    pub runtime: RuntimeConfig,
    /// Where clients connect; at least one, sorted by name, distinct bind addresses. Like
    /// `upstreams`, fixed after resolution: a [`RouteId`] indexes a listener's routes.
    pub listeners: Vec<ListenerConfig>,
    /// Where requests go; sorted by name. An [`UpstreamId`] names one of these: look it up
    /// with [`Config::upstream`]. Resolution sets the list; nothing may add or remove entries
    /// afterwards, since ids index it.
    pub upstreams: Vec<UpstreamConfig>,
    /// Size bounds on what clients and upstreams send.
    pub limits: LimitsConfig,
    /// Connection-level timeouts.
    pub timeouts: TimeoutsConfig,
    /// Session lifetime.
    pub sessions: SessionsConfig,
    /// Admin listener (`/metrics`, `/health`, ...), when enabled.
    pub admin: Option<SocketAddr>,
    /// The bearer token the admin API requires (`[admin] token_file`), when set.
    pub admin_token: Option<AdminToken>,
    /// Built-in demo MCP server to start in-process (used by `shadowcat demo`).
    pub demo: Option<DemoConfig>,
    /// Logging.
    pub log: LogConfig,
    /// The audit log (`[audit]`, `--audit-log`), when enabled.
    pub audit: Option<AuditConfig>,
    /// Session recording (`[recording]`, `--record`), when enabled.
    pub recording: Option<super::recording_settings::RecordingConfig>,
    /// Interception rules (`[[intercept.rules]]`), validated; each shard compiles them.
    pub intercept: Vec<super::intercept_raw::RawRule>,
    /// Seals `requestState` handles; set by `app::start` (`None` until then: no handle is
    /// issued or accepted without it).
    pub seal_key: Option<SealKey>,
}

impl Config {
    /// The upstream `id` names. Cannot fail: ids come only from this snapshot (see
    /// `config/ids.rs`). Allocates nothing.
    pub fn upstream(&self, id: UpstreamId) -> &UpstreamConfig {
        ids::slot(&self.upstreams, ids::upstream_index(id))
    }

    /// The route `id` names. Cannot fail, as [`Config::upstream`].
    pub fn route(&self, id: RouteId) -> &RouteConfig {
        let (listener, route) = ids::route_index(id);
        ids::slot(&ids::slot(&self.listeners, listener).routes, route)
    }

    /// Every upstream with its id, in config order.
    pub fn upstream_ids(&self) -> impl Iterator<Item = (UpstreamId, &UpstreamConfig)> {
        let upstreams = self.upstreams.iter().enumerate();
        upstreams.map(|(index, upstream)| (UpstreamId::new(index), upstream))
    }

    /// The listener `id` names. Cannot fail, as [`Config::upstream`].
    pub fn listener(&self, id: ListenerId) -> &ListenerConfig {
        ids::slot(&self.listeners, id.index())
    }

    /// Every listener with its id, in config order.
    pub fn listener_ids(&self) -> impl Iterator<Item = (ListenerId, &ListenerConfig)> {
        let listeners = self.listeners.iter().enumerate();
        listeners.map(|(index, listener)| (ListenerId::new(index), listener))
    }

    /// The routes of `listener` with their ids, in config order.
    pub fn route_ids(&self, listener: ListenerId) -> impl Iterator<Item = (RouteId, &RouteConfig)> {
        let routes = self.listener(listener).routes.iter().enumerate();
        routes.map(move |(index, route)| (RouteId::new(listener.index(), index), route))
    }

    /// The route of `listener` for a request target, by exact path match (the query string is
    /// ignored). Allocates nothing.
    pub fn route_for(
        &self,
        listener: ListenerId,
        target: &[u8],
    ) -> Option<(RouteId, &RouteConfig)> {
        let path_len = target
            .iter()
            .position(|&b| b == b'?')
            .unwrap_or(target.len());
        let path = target.get(..path_len)?;
        self.route_ids(listener)
            .find(|(_, route)| route.path.as_bytes() == path)
    }
}

/// Which cores run shards (one shard per core, pinned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreSelection {
    /// One shard on every usable core (the default).
    All,
    /// This many shards, on the first usable cores.
    Count(NonZeroUsize),
    /// One shard on each listed core; sorted, no duplicates (syntax-checked only: the runtime
    /// checks the cores exist).
    List(Vec<usize>),
}

/// `[runtime]`: shard placement and per-shard memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Which cores run shards.
    pub cores: CoreSelection,
    /// io_uring buffer memory registered per shard, in bytes (glommio `io_memory`).
    pub io_memory: usize,
    /// Most capacity of idle pooled I/O buffers a shard keeps, in bytes; beyond it returned
    /// buffers are freed.
    pub buffer_pool_memory: usize,
    /// Socket I/O path asked for (`--io` / `io`); `None`: uring where the kernel supports it.
    /// What runs is decided at startup (`shards::uring::select_backend`).
    pub io: Option<IoBackend>,
    /// How long an idle shard keeps polling before it sleeps (`None`: it sleeps at once).
    /// Spinning trades CPU on idle cores for the wake-up cost of a lone request.
    pub spin_before_park: Option<Duration>,
    /// What a shard does with a request whose session another shard owns.
    pub hops: HopPolicy,
}

/// `runtime.hops`: how a request reaches the shard owning its session (DESIGN §3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HopPolicy {
    /// A connection moves to the owner on its first such request and stays there; after that
    /// (it carries sessions of several shards, like a backend's connection pool) each such
    /// request is forwarded and the connection stays.
    #[default]
    Auto,
    /// The connection always moves to the owner (a TLS connection is relayed to it).
    Move,
    /// The connection never moves: each such request is forwarded to the owner and its answer
    /// streamed back.
    Forward,
}

impl HopPolicy {
    /// The TOML and flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            HopPolicy::Auto => "auto",
            HopPolicy::Move => "move",
            HopPolicy::Forward => "forward",
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cores: CoreSelection::All,
            io_memory: to_usize(defaults::IO_MEMORY),
            buffer_pool_memory: to_usize(defaults::BUFFER_POOL_MEMORY),
            io: None,
            spin_before_park: None,
            hops: HopPolicy::Auto,
        }
    }
}

/// `[listeners.NAME]`: an address clients connect to and the routes served there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The table name (`main` in `[listeners.main]`); letters, digits, `_`, `-`.
    pub name: String,
    /// Address every shard binds (SO_REUSEPORT).
    pub bind: SocketAddr,
    /// Request paths served here; at least one, distinct paths.
    pub routes: Vec<RouteConfig>,
    /// Accepted `Host` header names, lowercase, IPv6 in brackets, no ports; `"*"` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Origins accepted besides those whose host is in `allowed_hosts`: exact
    /// `scheme://host[:port]`, lowercase; `"*"` accepts any.
    pub allowed_origins: Vec<String>,
    /// `tls_cert`/`tls_key`: clients connect over TLS.
    pub tls: Option<ListenerTls>,
    /// The origin clients reach the listener at (`public_url`; default from the bind).
    pub public_url: String,
}

impl ListenerConfig {
    /// Whether a `Host` header value is acceptable here (see [`allow::host_allowed`]).
    pub fn host_allowed(&self, host: &[u8]) -> bool {
        allow::host_allowed(&self.allowed_hosts, host)
    }

    /// Whether an `Origin` header value is acceptable here (see [`allow::origin_allowed`]).
    pub fn origin_allowed(&self, origin: &[u8]) -> bool {
        allow::origin_allowed(&self.allowed_hosts, &self.allowed_origins, origin)
    }
}

/// `[[listeners.NAME.routes]]`: one path and the upstream it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// Exact request path, starting with `/` (no query, no fragment).
    pub path: String,
    /// Where its requests go (look it up with [`Config::upstream`]).
    pub upstream: UpstreamId,
    /// Which protocol eras the route serves.
    pub era: RouteEra,
    /// The 2024-11-05 HTTP+SSE transport for the same upstream, when enabled.
    pub legacy_sse: Option<LegacySseConfig>,
    /// The tools this route offers (`allow_tools`/`deny_tools`); `None` offers every tool.
    pub tools: Option<ToolFilter>,
    /// The credentials its requests must carry (`auth`); `None`: anyone who reaches it.
    pub auth: Option<RouteAuth>,
    /// Who may do what (`policy`, `policy_default`); `None`: everyone everything.
    pub policy: Option<Policy>,
    /// Requests admitted per principal (`rate_limit`); `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Its sessions are recorded (`[recording]` is set and the route did not opt out).
    pub record: bool,
}

/// The legacy HTTP+SSE endpoints of a route (`legacy_sse = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySseConfig {
    /// `GET` here opens the stream (`sse_path`).
    pub sse_path: String,
    /// `POST` here with `?sessionId=ID` (`messages_path`); announced in the `endpoint` event.
    pub messages_path: String,
}

/// Which MCP protocol eras a route serves (MCP-NOTES §6 "Dual-era").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RouteEra {
    /// Legacy sessions (`initialize`, `Mcp-Session-Id`, GET/DELETE) and 2026-07-28 stateless
    /// requests on the same path; the first message of each POST decides.
    #[default]
    Dual,
    /// 2026-07-28 stateless requests only: GET/DELETE get 405, `initialize` and session
    /// requests get 400.
    Modern,
}

impl RouteEra {
    /// The config spelling: `"dual"` or `"modern"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dual => "dual",
            Self::Modern => "modern",
        }
    }
}

/// `[upstreams.NAME]`: an MCP server requests are forwarded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// The table name (`demo` in `[upstreams.demo]`); letters, digits, `_`, `-`.
    pub name: String,
    /// How the proxy reaches it: an HTTP URL or a command to run.
    pub transport: UpstreamTransport,
    /// Time allowed to establish a TCP connection (HTTP upstreams).
    pub connect_timeout: Duration,
    /// Time allowed for the upstream to start answering a request.
    pub request_timeout: Duration,
    /// Idle connections kept per shard; 0 disables pooling (HTTP upstreams).
    pub pool_max_idle: usize,
    /// Requests in flight to it at once over all shards (`max_in_flight`); `None`: no limit.
    pub max_in_flight: Option<usize>,
    /// Which protocol eras it speaks (Streamable HTTP upstreams; stdio and legacy SSE ones are
    /// [`UpstreamEra::Legacy`]).
    pub era: UpstreamEra,
    /// How the certificate of an `https://` upstream is checked; `None` for every other one.
    pub tls: Option<UpstreamTrust>,
    /// Headers sent on every request to it (`headers`; HTTP and legacy SSE upstreams), values
    /// expanded and rendered at load; empty for most upstreams.
    pub headers: UpstreamHeaders,
    /// The proxy's OAuth client towards it (`oauth`; HTTP and legacy SSE upstreams): its
    /// requests carry `Authorization: Bearer` with a token from that server.
    pub oauth: Option<UpstreamOAuth>,
}

/// Which MCP protocol eras an upstream speaks: decides when the proxy translates between a
/// client's era and the upstream's (MCP-NOTES §6-§9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamEra {
    /// Found out on first use, the way the spec tells clients to (a 2026-07-28 request first;
    /// a non-modern 400 means legacy), and remembered per shard.
    #[default]
    Auto,
    /// Both eras on one endpoint: every request passes in its own era, never translated.
    Dual,
    /// `initialize` and sessions only (2024-11-05 … 2025-11-25): modern clients are translated.
    Legacy,
    /// 2026-07-28 stateless only: legacy (session) clients are translated.
    Modern,
}

impl UpstreamEra {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Dual => "dual",
            Self::Legacy => "legacy",
            Self::Modern => "modern",
        }
    }
}

impl UpstreamConfig {
    /// The URL of a Streamable HTTP upstream; `None` for the other transports.
    pub fn http(&self) -> Option<&UpstreamUrl> {
        match &self.transport {
            UpstreamTransport::Http(url) => Some(url),
            _ => None,
        }
    }

    /// The command of a stdio upstream; `None` for the other transports.
    pub fn stdio(&self) -> Option<&StdioUpstream> {
        match &self.transport {
            UpstreamTransport::Stdio(stdio) => Some(stdio),
            _ => None,
        }
    }

    /// The stream URL of a legacy HTTP+SSE upstream; `None` for the other transports.
    pub fn sse(&self) -> Option<&UpstreamUrl> {
        match &self.transport {
            UpstreamTransport::Sse(url) => Some(url),
            _ => None,
        }
    }

    /// Whether sessions reach it through a per-session link (stdio child or legacy SSE
    /// session) rather than pooled HTTP requests.
    pub fn is_linked(&self) -> bool {
        !matches!(self.transport, UpstreamTransport::Http(_))
    }
}

/// How an upstream is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTransport {
    /// Streamable HTTP at this URL (`url = "http://..."`).
    Http(UpstreamUrl),
    /// A stdio MCP server the proxy runs as child processes (`command = [...]`).
    Stdio(StdioUpstream),
    /// A legacy HTTP+SSE (2024-11-05) server whose GET stream is at this URL
    /// (`transport = "sse"`): one upstream session per client session.
    Sse(UpstreamUrl),
}

/// `[upstreams.NAME]` with `command`: a stdio MCP server run by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioUpstream {
    /// Program (looked up on `PATH` unless it contains a `/`) and its arguments; never empty.
    pub command: Vec<String>,
    /// Variables set on top of the proxy's environment (which children inherit); sorted by name.
    pub env: Vec<(String, String)>,
    /// Working directory of the children; the proxy's when `None`.
    pub cwd: Option<std::path::PathBuf>,
    /// One child per client session, or one shared child per shard.
    pub mode: StdioMode,
    /// Per-session mode: children pre-spawned per shard, waiting for a session. Shared mode:
    /// when > 0, the shared child is started and initialized at startup instead of on the
    /// first session.
    pub warm: usize,
    /// Per-session mode: most children (live sessions) per shard; `initialize` beyond it gets 503
    /// with `Retry-After`. Ignored in shared mode.
    pub max: usize,
    /// Longest stdout line (one message) accepted from a child; a longer one ends the child.
    pub max_line: usize,
    /// After `SIGTERM`, time a child gets to exit before `SIGKILL`.
    pub kill_grace: Duration,
}

/// How client sessions map onto stdio children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioMode {
    /// One child per client session (the default): full isolation, per-client server state.
    PerSession,
    /// One child per shard serving every session on that shard, with JSON-RPC id remapping.
    Shared,
}

/// A parsed `http://` or `https://` upstream URL with its addresses resolved at load (off the
/// request path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `https://`: connections run TLS (server name: `host`).
    pub tls: bool,
    /// Host as written, lowercase; an IPv6 literal keeps its brackets (`[::1]`).
    pub host: String,
    /// TCP port (80, or 443 for `https://`, when the URL has none).
    pub port: u16,
    /// Request target: path and query, starting with `/` (`/` when the URL has none).
    pub path: String,
    /// Value for the `Host` header: host, plus `:port` unless it is the scheme's default.
    pub authority: String,
    /// Addresses the host resolved to at load, in resolver order, without duplicates.
    pub addrs: Vec<SocketAddr>,
}

impl UpstreamUrl {
    /// The URL in the form the config accepts: `http[s]://authority/path`.
    pub fn to_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path)
    }

    /// Points the URL at one literal address (keeps the path).
    pub(crate) fn set_addr(&mut self, addr: SocketAddr) {
        self.host = match addr {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        self.port = addr.port();
        self.authority = authority(&self.host, self.port, self.tls);
        self.addrs = vec![addr];
    }
}

/// The `Host` header value for `host` and `port`: the port is left out when it is the scheme's
/// default (80, or 443 with `tls`).
pub(crate) fn authority(host: &str, port: u16, tls: bool) -> String {
    if port == if tls { 443 } else { 80 } {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

/// `[limits]`: bounds on sizes, all in bytes except `max_headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Largest request head (request line and headers); larger gets 431.
    pub max_head_bytes: usize,
    /// Most headers in one request head; more gets 431.
    pub max_headers: usize,
    /// Largest request body; larger gets 413.
    pub max_body_bytes: usize,
    /// Largest single SSE event from an upstream; a larger one ends the stream with an error.
    pub max_sse_event_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_head_bytes: to_usize(defaults::MAX_HEAD_BYTES),
            max_headers: to_usize(defaults::MAX_HEADERS),
            max_body_bytes: to_usize(defaults::MAX_BODY_BYTES),
            max_sse_event_bytes: to_usize(defaults::MAX_SSE_EVENT_BYTES),
        }
    }
}

/// `[timeouts]`: connection-level timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutsConfig {
    /// The request head must arrive within this; 408 after.
    pub head: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keepalive_idle: Duration,
    /// On shutdown, in-flight requests get this long before connections are closed.
    pub shutdown_grace: Duration,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self {
            head: defaults::HEAD_TIMEOUT,
            keepalive_idle: defaults::KEEPALIVE_IDLE,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
        }
    }
}

/// `[sessions]`: MCP session lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionsConfig {
    /// A session unused for this long is dropped.
    pub ttl: Duration,
    /// How often each shard sweeps expired sessions; never longer than `ttl`.
    pub reap_interval: Duration,
    /// Most live sessions per shard; `initialize` beyond it gets 503.
    pub max_per_shard: usize,
}

/// `[demo]`: the built-in demo MCP server, started in the proxy process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Where it listens. Port 0 until [`Config::set_demo_addr`] records the bound port.
    pub bind: SocketAddr,
    /// Answer POSTs with `text/event-stream` instead of `application/json`.
    pub sse: bool,
    /// Its MCP endpoint path.
    pub path: String,
    /// Serve this tape instead of the demo tools (`shadowcat replay TAPE --bind`; no TOML key).
    pub replay: Option<ReplaySource>,
}

/// The tape `shadowcat replay --bind` serves, and how fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySource {
    /// The tape file.
    pub tape: std::path::PathBuf,
    /// `--speed` in millionths: recorded pauses are divided by it; 0 plays without pauses.
    pub speed_millionths: u64,
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or a tracing `EnvFilter`
    /// directive list; already checked to parse.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: defaults::LOG_LEVEL.to_owned(),
        }
    }
}

/// Byte counts from `defaults.rs` are `u64`; they are small enough for any `usize`.
fn to_usize(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// The audit log, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// The log file.
    pub file: PathBuf,
    /// Write `tools/call` arguments themselves, not only their hash.
    pub arguments: bool,
    /// Requests get 503 while lines cannot be written (else they are dropped and counted).
    pub required: bool,
    /// Rotation size in bytes; 0: never rotate.
    pub max_size: u64,
    /// Rotated files kept.
    pub keep: u32,
    /// How often each shard writes its batch.
    pub flush_interval: Duration,
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
