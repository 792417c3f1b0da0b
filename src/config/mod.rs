//! Configuration: a TOML file or command-line flags -> one validated, typed [`Config`].
//!
//! Not here: starting anything. The runtime builds its per-shard objects from a `Config`
//! (`build(&Config)`), and `main` decides exit codes and printing.
//!
//! Three layers, after ripgrep's low/high args:
//! - [`raw`]: the TOML schema as written (`RawConfig`), unknown keys rejected with file, line
//!   and column; durations, sizes and addresses kept as written.
//! - `resolve.rs`: raw -> [`Config`]: defaults from [`defaults`] applied, every value checked
//!   (errors name the TOML path, the value and what is allowed), route names turned into
//!   typed upstream ids (`ids.rs`: [`UpstreamId`], [`RouteId`]), upstream hosts resolved (blocking DNS, once, at load); with
//!   `sections.rs` (the plain-value sections), `setting.rs` (one value's checks), `stdio.rs`.
//! - `print.rs`: [`Config`] -> TOML ([`to_toml`]); loading the output gives an equal `Config`.
//!
//! Flags take the same road: the cli module turns `reverse`/`demo` flags into a `RawConfig` and
//! resolves it here, so `shadowcat reverse ...` and the equivalent file give equal configs.
//! This module knows nothing of flags: the items marked "for the cli module" below are what
//! that conversion needs.
//!
//! ```
//! let config = shadowcat::config::from_toml_str(
//!     "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n",
//!     "example.toml",
//! )?;
//! assert_eq!(config.listeners[0].bind.to_string(), "127.0.0.1:8080");
//! assert_eq!(config.upstreams[0].http().unwrap().authority, "127.0.0.1:9000");
//! # Ok::<(), shadowcat::config::Error>(())
//! ```

mod admin_token;
mod allow;
mod api_keys;
mod audit;
mod auth;
mod bound;
pub mod defaults;
mod demo_server;
mod error;
mod forward;
mod ids;
pub mod intercept;
mod intercept_raw;
mod listener_tls;
mod model;
mod pem;
mod policy;
mod print;
mod rate_limit;
pub mod raw;
mod recording;
mod recording_settings;
mod resolve;
mod secret;
mod sections;
mod setting;
mod stdio;
mod tools;
mod upstream_headers;
mod upstream_oauth;
mod upstream_tls;
mod url;
mod values;

use std::path::Path;

pub use admin_token::{AdminToken, MIN_TOKEN_LEN};
pub use allow::{host_allowed, local_hosts, origin_allowed};
pub use api_keys::{ApiKey, ApiKeys};
pub use auth::{loopback_host, OAuthConfig, RouteAuth, WELL_KNOWN};
pub use demo_server::{DemoServerConfig, DemoStdioConfig};
pub use error::Error;
pub use forward::{parse_header, ForwardConfig, ForwardTarget};
pub use ids::{ListenerId, PerRoute, PerUpstream, RouteId, UpstreamId, MAX_ROUTES, MAX_UPSTREAMS};
pub use listener_tls::reload_listener_tls;
pub use model::{
    AuditConfig, Config, CoreSelection, DemoConfig, HopPolicy, LegacySseConfig, LimitsConfig,
    ListenerConfig, ListenerTls, LogConfig, ReplaySource, RouteConfig, RouteEra, RuntimeConfig,
    SessionsConfig, StdioMode, StdioUpstream, TimeoutsConfig, UpstreamConfig, UpstreamEra,
    UpstreamTransport, UpstreamTrust, UpstreamUrl,
};
pub use policy::{Action, Policy, Subject};
pub use print::{io_name, to_toml};
pub use rate_limit::{Rate, RateLimit};
pub use raw::{RawAudit, RawRecording};
pub use recording::recording_in;
pub use recording_settings::{Fsync, RecordingConfig};
pub use secret::SealKey;
pub use tools::ToolFilter;
pub use upstream_headers::{UpstreamHeaders, MAX_UPSTREAM_HEADERS, MAX_UPSTREAM_HEADER_BYTES};
pub use upstream_oauth::UpstreamOAuth;
pub(crate) use upstream_tls::trust_for;
pub use values::{
    format_core_list, format_cores, format_duration, format_size, parse_core_list, parse_cores,
    parse_duration, parse_log_level, parse_shards, parse_size,
};

// For the cli module, which builds a `RawConfig` from flags and resolves it with these.
pub(crate) use error::invalid_str;
pub(crate) use print::{duration as raw_duration, raw_cores};
pub(crate) use resolve::resolve;
pub(crate) use sections::resolve_runtime;
pub(crate) use setting::route_path;
pub(crate) use url::parse_upstream_url;

/// Reads, parses and resolves a configuration file.
///
/// # Errors
/// [`Error::Read`] when the file cannot be read, [`Error::Parse`] for TOML or schema errors
/// (unknown keys, wrong types), otherwise [`Error::In`] wrapping the first invalid setting.
pub fn load(path: &Path) -> Result<Config, Error> {
    let (raw, origin) = read_raw(path)?;
    resolve::resolve(&raw).map_err(|error| error.with_origin(&origin))
}

/// Parses and resolves configuration text; `origin` names it in errors (usually a file name).
///
/// # Errors
/// As [`load`], without [`Error::Read`].
pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, Error> {
    let raw = parse_raw(text, origin)?;
    resolve::resolve(&raw).map_err(|error| error.with_origin(origin))
}

/// `shadowcat config check FILE`: loads the file and returns its effective configuration as
/// TOML, for printing.
///
/// # Errors
/// As [`load`].
pub fn check_file(path: &Path) -> Result<String, Error> {
    load(path).map(|config| to_toml(&config))
}

/// Reads and parses a file into the raw schema; returns it with the origin name for errors.
pub(crate) fn read_raw(path: &Path) -> Result<(raw::RawConfig, String), Error> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::Read {
        path: path.to_owned(),
        error,
    })?;
    let origin = path.display().to_string();
    let raw = parse_raw(&text, &origin)?;
    Ok((raw, origin))
}

fn parse_raw(text: &str, origin: &str) -> Result<raw::RawConfig, Error> {
    toml::from_str(text).map_err(|error| Error::Parse {
        origin: origin.to_owned(),
        error: Box::new(error),
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod config_tests;
#[cfg(test)]
#[path = "legacy_sse_tests.rs"]
mod legacy_sse_tests;
#[cfg(test)]
#[path = "listener_tls_tests.rs"]
mod listener_tls_tests;
#[cfg(test)]
#[path = "resolve_tests.rs"]
mod resolve_tests;
#[cfg(test)]
#[path = "stdio_tests.rs"]
mod stdio_tests;
#[cfg(test)]
mod test_files;
#[cfg(test)]
#[path = "upstream_tls_tests.rs"]
mod upstream_tls_tests;
