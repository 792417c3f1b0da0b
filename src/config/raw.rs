//! The TOML schema exactly as users write it: serde types, unknown keys rejected.
//!
//! Not here: defaults, validation or conversion (see `resolve.rs`). Values keep their written
//! form (durations and addresses as strings) so errors can quote them; the same types print the
//! effective config (`print.rs`), so every field is optional or has a written form.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::rate_limit::RawRateLimit;

/// A whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Shard placement and per-shard memory.
    #[serde(default)]
    pub runtime: RawRuntime,
    /// Listeners by name (`[listeners.NAME]`). When absent and exactly one upstream is defined,
    /// one listener `main` on 127.0.0.1:8080 routes `/mcp` to it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listeners: BTreeMap<String, RawListener>,
    /// Upstreams by name (`[upstreams.NAME]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, RawUpstream>,
    /// Size limits.
    #[serde(default)]
    pub limits: RawLimits,
    /// Connection timeouts.
    #[serde(default)]
    pub timeouts: RawTimeouts,
    /// Session lifetime.
    #[serde(default)]
    pub sessions: RawSessions,
    /// Admin listener; present means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<RawAdmin>,
    /// In-process demo MCP server; present means started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demo: Option<RawDemo>,
    /// Logging.
    #[serde(default)]
    pub log: RawLog,
    /// The audit log (`[audit]`); present means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<RawAudit>,
    /// Session recording (`[recording]`); present means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RawRecording>,
    /// Interception rules (`[[intercept.rules]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intercept: Option<super::intercept_raw::RawIntercept>,
}

/// `[recording]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecording {
    /// The directory tapes are written under (created when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// JSON pointers removed from every recorded message, e.g. "/params/arguments/password".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<Vec<String>>,
    /// `"interval"` (every `flush_interval`), `"always"` (after every write) or `"never"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fsync: Option<String>,
    /// How often each shard writes the lines it gathered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_interval: Option<RawDuration>,
    /// A tape continues in a new part once a write would take it past this size (`0`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<RawSize>,
    /// Keep only the newest N tape files (`0`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
    /// Delete tape files older than this (`"0s"`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<RawDuration>,
}

/// `[audit]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// The log file (JSON Lines; created with mode 0600 when absent, appended to otherwise).
    pub file: String,
    /// Write each `tools/call`'s arguments (canonical JSON) besides their SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<bool>,
    /// Refuse requests (503) while audit lines cannot be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Rotate the file when a batch would take it past this size (`0`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<RawSize>,
    /// Rotated files kept (`FILE.1` newest .. `FILE.N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
    /// How often each shard writes the lines it gathered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_interval: Option<RawDuration>,
}

/// `[runtime]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    /// Number of shards, 1 to 8192, on the first usable cores. Excludes `cores`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u64>,
    /// `"all"` or a core list like `"0-7,16-23"`, one shard per core. Excludes `shards`.
    /// Neither set: one shard per usable core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<String>,
    /// io_uring buffer memory per shard (size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_memory: Option<RawSize>,
    /// Idle pooled I/O buffer memory kept per shard (size); 0 pools nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_pool_memory: Option<RawSize>,
    /// Socket I/O path of the proxy's connections: `"uring"` or `"glommio"`. Unset: uring
    /// where the kernel supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<String>,
    /// How long an idle shard polls for work before it sleeps (duration, at most 10ms; "0s"
    /// or unset: it sleeps at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spin_before_park: Option<RawDuration>,
    /// A request whose session another shard owns: `"auto"` (move the connection once, then
    /// forward), `"move"` or `"forward"`. Unset: auto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<String>,
}

/// `[listeners.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// `IP:port` every shard binds, e.g. `"127.0.0.1:8080"`.
    pub bind: String,
    /// Host names accepted in the `Host` header (no ports). Defaults to localhost names on a
    /// loopback bind; required otherwise. `["*"]` disables the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Extra origins accepted besides those whose host is in `allowed_hosts`, exactly as
    /// browsers send them (`"https://app.example.com"`). `["*"]` disables the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// PEM file of the certificate chain clients are shown (with `tls_key`: TLS listener).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// PEM file of the private key of `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// PEM file of the CAs client certificates must chain to: clients must show one (mTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_ca: Option<String>,
    /// The origin clients reach this listener at (`https://mcp.example.com`): routes'
    /// resource identifiers (token audience) [default: the bind address].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Paths served here (`[[listeners.NAME.routes]]`); at least one.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

/// `[[listeners.NAME.routes]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Exact request path, e.g. `"/mcp"`.
    pub path: String,
    /// Name of an `[upstreams.NAME]` table.
    pub upstream: String,
    /// `"dual"` (legacy sessions and 2026-07-28 stateless requests) or `"modern"`
    /// (2026-07-28 only) [default: dual].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub era: Option<String>,
    /// Also serve the 2024-11-05 HTTP+SSE transport for this upstream: `GET sse_path` opens
    /// the stream, `POST messages_path?sessionId=ID` carries the client's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_sse: Option<bool>,
    /// Path of the legacy SSE stream (default `"/sse"`); only with `legacy_sse = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_path: Option<String>,
    /// Path legacy clients POST to (default `"/messages"`); only with `legacy_sse = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages_path: Option<String>,
    /// Only tools matching one of these globs are listed and callable (`*`, `?`) [default:
    /// every tool].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_tools: Option<Vec<String>>,
    /// Tools matching one of these globs are hidden and refused (wins over `allow_tools`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_tools: Option<Vec<String>>,
    /// Credentials every request must carry (`[listeners.NAME.routes.auth]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawAuth>,
    /// Who may do what (`[[listeners.NAME.routes.policy]]`), first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<RawPolicyRule>,
    /// What no rule decides: `"allow"` or `"deny"` [default: allow].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_default: Option<String>,
    /// Requests admitted per principal (`[listeners.NAME.routes.rate_limit]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RawRateLimit>,
    /// Record this route's sessions when `[recording]` is set [default: true].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<bool>,
}

/// One rule, as written (`[[listeners.NAME.routes.policy]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicyRule {
    /// `"allow"` or `"deny"`.
    pub action: String,
    /// Principal name globs; any matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Claim name → accepted values; every claim named must have one of its values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, Vec<String>>,
    /// Scopes the caller must all hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// JSON-RPC method globs (`tools/*`); any matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Tool name globs; the rule then matches only requests naming a tool (`tools/call`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// `[listeners.NAME.routes.auth]`: OAuth access tokens, API keys, or both.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// The authorization server's issuer URL: bearer tokens it signed are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Its JWK Set URL [default: `jwks_uri` of the issuer's metadata].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// The `aud` tokens must carry [default: the route's public URL].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Scopes every token or key must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// TOML file of API keys (`[keys.NAME] sha256 = ".."`), reloaded on SIGHUP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<String>,
}

/// `[upstreams.NAME]`: exactly one of `url` (an HTTP server) or `command` (a stdio server).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `http://host[:port][/path]`; the host is resolved at load. Excludes `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A stdio MCP server: program and arguments, e.g. `["node", "server.js"]`. Excludes `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `"streamable-http"` (with `url`) or `"stdio"` (with `command`); optional, must agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Streamable HTTP: which protocol eras the server speaks (`"auto"`, `"dual"`, `"legacy"`,
    /// `"modern"`), so the proxy knows when to translate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub era: Option<String>,
    /// stdio: variables set for the children on top of the proxy's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// stdio: working directory of the children; must exist at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// stdio: `"per-session"` (one child per client session) or `"shared"` (one per shard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// stdio: children pre-spawned per shard (integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<u64>,
    /// stdio, per-session mode: most children per shard (integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// stdio: longest stdout line (one message) accepted from a child (size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_line: Option<RawSize>,
    /// stdio: time between `SIGTERM` and `SIGKILL` when a child is stopped (duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace: Option<RawDuration>,
    /// HTTP: time to establish a connection (duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<RawDuration>,
    /// Time for the upstream to start answering (duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<RawDuration>,
    /// HTTP: idle connections kept per shard; 0 disables pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_max_idle: Option<u64>,
    /// Requests in flight to this upstream at once (split over the shards); beyond: 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// HTTPS: PEM file of the CA certificates to trust instead of the system's CA store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<String>,
    /// HTTPS: `true` skips certificate verification (testing only; warned about at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_insecure: Option<bool>,
    /// HTTP and sse: headers sent on every request to the upstream, name -> value; `${env:NAME}`
    /// in a value is replaced from the environment at load (`$${` writes a literal `${`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// HTTP and sse: an OAuth access token sent as `Authorization: Bearer` on every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<RawUpstreamOAuth>,
}

/// `[upstreams.NAME.oauth]`: the proxy's own OAuth client towards the upstream.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamOAuth {
    /// The authorization server's token endpoint (`https://`, `http://` on loopback only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// The proxy's client id there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The environment variable holding the client secret (the secret is never written here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// Scopes asked for (`scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `audience` asked for (RFC 8693 §2.1; many servers take it for client credentials too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// `resource` asked for (RFC 8707): the upstream's URL as the server knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `true`: exchange each caller's access token (RFC 8693) instead of client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<bool>,
}

/// `[limits]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Largest request head (size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_head_bytes: Option<RawSize>,
    /// Most headers per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_headers: Option<u64>,
    /// Largest request body (size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<RawSize>,
    /// Largest single SSE event from an upstream (size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sse_event_bytes: Option<RawSize>,
}

/// `[timeouts]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// The request head must arrive within this (duration); 408 after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<RawDuration>,
    /// Idle keep-alive connections close after this (duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_idle: Option<RawDuration>,
    /// Time in-flight requests get on shutdown (duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace: Option<RawDuration>,
}

/// `[sessions]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    /// Idle time after which a session is dropped (duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<RawDuration>,
    /// How often expired sessions are swept (duration, at most `ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reap_interval: Option<RawDuration>,
    /// Most live sessions per shard; `initialize` beyond it gets 503 (integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_shard: Option<u64>,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// `IP:port` of the admin listener; default `"127.0.0.1:9901"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// File holding the bearer token every admin request but `/health` and `/ready` must carry;
    /// required when `bind` is not a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

/// `[demo]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemo {
    /// `IP:port` of the demo server; port 0 picks a free port at start. Default `"127.0.0.1:0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Answer POSTs with SSE streams instead of JSON; default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<bool>,
    /// Its MCP endpoint path; default `"/mcp"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `[log]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// A level or a tracing EnvFilter, e.g. `"info"` or `"info,shadowcat::proxy=debug"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// A duration as written: a string like `"30s"`, parsed in `resolve.rs` so errors name the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDuration(pub String);

impl Serialize for RawDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"30s\", \"5m\" or \"1h 30m\"")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(text.to_owned()))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A size as written: integer bytes or a string with a binary unit (`"4MiB"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSize {
    /// An integer: bytes.
    Bytes(u64),
    /// A string: digits and an optional unit, parsed in `resolve.rs`.
    Text(String),
}

impl fmt::Display for RawSize {
    /// The value as TOML writes it (strings quoted), for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(bytes) => write!(f, "{bytes}"),
            Self::Text(text) => write!(f, "{text:?}"),
        }
    }
}

impl Serialize for RawSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bytes(bytes) => serializer.serialize_u64(*bytes),
            Self::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: bytes as an integer, or a string like \"64KiB\" or \"4MiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(bytes))
            }
            fn visit_i64<E: serde::de::Error>(self, bytes: i64) -> Result<RawSize, E> {
                u64::try_from(bytes)
                    .map(RawSize::Bytes)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(bytes), &self))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_integers_and_strings_only() {
        #[derive(Debug, Deserialize)]
        struct Doc {
            size: RawSize,
        }
        let doc: Doc = toml::from_str("size = 1024").unwrap();
        assert_eq!(doc.size, RawSize::Bytes(1024));
        let doc: Doc = toml::from_str("size = \"4MiB\"").unwrap();
        assert_eq!(doc.size, RawSize::Text("4MiB".into()));
        for bad in ["size = -1", "size = 1.5", "size = true"] {
            let err = toml::from_str::<Doc>(bad).unwrap_err().to_string();
            assert!(err.contains("a size: bytes as an integer"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_must_be_strings() {
        #[derive(Debug, Deserialize)]
        struct Doc {
            ttl: RawDuration,
        }
        let doc: Doc = toml::from_str("ttl = \"5m\"").unwrap();
        assert_eq!(doc.ttl, RawDuration("5m".into()));
        let err = toml::from_str::<Doc>("ttl = 300").unwrap_err().to_string();
        assert!(err.contains("a duration string like \"30s\""), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_line_numbers() {
        let err = toml::from_str::<RawConfig>("[runtime]\nshards = 2\nshardz = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("unknown field `shardz`"), "{err}");
    }
}
