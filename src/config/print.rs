//! Typed `Config` -> TOML text: the effective configuration, every default written out.
//!
//! Not here: validation. The output goes through the raw schema (`raw.rs`), so it loads back
//! into an equal `Config` (tested in `config_tests.rs`). Secrets stay out: upstream `headers`
//! print as written (`${env:NAME}` unexpanded), the admin token and TLS keys as their paths.

use std::collections::BTreeMap;

use super::auth::RouteAuth;
use super::model::{
    Config, CoreSelection, ListenerConfig, RouteConfig, StdioMode, UpstreamConfig,
    UpstreamTransport, UpstreamTrust, UpstreamUrl,
};
use super::raw::{
    RawAdmin, RawAuth, RawConfig, RawDemo, RawDuration, RawLimits, RawListener, RawLog, RawRoute,
    RawRuntime, RawSessions, RawSize, RawTimeouts, RawUpstream,
};
use super::upstream_oauth::UpstreamOAuth;
use super::values::{format_core_list, format_duration, format_size};

/// Prints the effective configuration as TOML, with every default filled in.
///
/// Loading the output with [`super::from_toml_str`] gives back an equal `Config` (upstream
/// hosts are resolved again). The raw schema holds only strings, integers, booleans and tables,
/// all of which TOML can express; should the serializer still refuse, the text is a TOML comment
/// saying why, rather than a panic.
pub fn to_toml(config: &Config) -> String {
    toml::to_string_pretty(&to_raw(config))
        .unwrap_or_else(|error| format!("# cannot print the configuration: {error}\n"))
}

/// A route's `auth` table (the key file by path: its digests stay in the file).
fn raw_auth(auth: &RouteAuth) -> RawAuth {
    RawAuth {
        issuer: auth.oauth.as_ref().map(|o| o.issuer.clone()),
        jwks: auth.oauth.as_ref().and_then(|o| o.jwks.clone()),
        audience: auth.oauth.as_ref().map(|o| o.audience.clone()),
        scopes: Some(auth.scopes.clone()),
        api_keys: auth.api_keys.as_ref().map(|k| k.file.display().to_string()),
    }
}

/// A listener's raw form.
fn raw_listener(config: &Config, listener: &ListenerConfig) -> RawListener {
    RawListener {
        bind: listener.bind.to_string(),
        allowed_hosts: Some(listener.allowed_hosts.clone()),
        allowed_origins: Some(listener.allowed_origins.clone()),
        tls_cert: listener
            .tls
            .as_ref()
            .map(|t| t.cert_file.display().to_string()),
        tls_key: listener
            .tls
            .as_ref()
            .map(|t| t.key_file.display().to_string()),
        tls_client_ca: listener
            .tls
            .as_ref()
            .and_then(|t| t.client_ca.as_ref())
            .map(|(file, _)| file.display().to_string()),
        public_url: Some(listener.public_url.clone()),
        routes: listener
            .routes
            .iter()
            .map(|r| raw_route(config, r))
            .collect(),
    }
}

/// A route's raw form.
fn raw_route(config: &Config, route: &RouteConfig) -> RawRoute {
    RawRoute {
        path: route.path.clone(),
        upstream: config.upstream(route.upstream).name.clone(),
        era: Some(route.era.as_str().to_owned()),
        legacy_sse: Some(route.legacy_sse.is_some()),
        sse_path: route.legacy_sse.as_ref().map(|l| l.sse_path.clone()),
        messages_path: route.legacy_sse.as_ref().map(|l| l.messages_path.clone()),
        allow_tools: route
            .tools
            .as_ref()
            .filter(|t| !t.allow().is_empty())
            .map(|t| t.allow().to_vec()),
        deny_tools: route
            .tools
            .as_ref()
            .filter(|t| !t.deny().is_empty())
            .map(|t| t.deny().to_vec()),
        auth: route.auth.as_ref().map(raw_auth),
        policy: route
            .policy
            .as_ref()
            .map(|p| p.parts().0)
            .unwrap_or_default(),
        policy_default: route
            .policy
            .as_ref()
            .map(|p| p.parts().1.as_str().to_owned()),
        rate_limit: route.rate_limit.as_ref().map(|r| r.to_raw()),
        record: config.recording.is_some().then_some(route.record),
    }
}

/// The raw form of a resolved config, all optional fields set.
pub(crate) fn to_raw(config: &Config) -> RawConfig {
    let (shards, cores) = raw_cores(&config.runtime.cores);
    let listeners = config
        .listeners
        .iter()
        .map(|listener| (listener.name.clone(), raw_listener(config, listener)));
    let upstreams = config
        .upstreams
        .iter()
        .map(|upstream| (upstream.name.clone(), raw_upstream(upstream)));
    let limits = &config.limits;
    RawConfig {
        runtime: RawRuntime {
            shards,
            cores,
            io_memory: Some(size(config.runtime.io_memory)),
            buffer_pool_memory: Some(size(config.runtime.buffer_pool_memory)),
            io: config.runtime.io.map(|io| io_name(io).to_owned()),
            spin_before_park: config.runtime.spin_before_park.map(duration),
            hops: Some(config.runtime.hops.name().to_owned()),
        },
        listeners: listeners.collect(),
        upstreams: upstreams.collect(),
        limits: RawLimits {
            max_head_bytes: Some(size(limits.max_head_bytes)),
            max_headers: Some(limits.max_headers as u64),
            max_body_bytes: Some(size(limits.max_body_bytes)),
            max_sse_event_bytes: Some(size(limits.max_sse_event_bytes)),
        },
        timeouts: RawTimeouts {
            head: Some(duration(config.timeouts.head)),
            keepalive_idle: Some(duration(config.timeouts.keepalive_idle)),
            shutdown_grace: Some(duration(config.timeouts.shutdown_grace)),
        },
        sessions: RawSessions {
            ttl: Some(duration(config.sessions.ttl)),
            reap_interval: Some(duration(config.sessions.reap_interval)),
            max_per_shard: Some(config.sessions.max_per_shard as u64),
        },
        admin: config.admin.map(|addr| RawAdmin {
            bind: Some(addr.to_string()),
            token_file: config
                .admin_token
                .as_ref()
                .map(|token| token.file().display().to_string()),
        }),
        demo: config.demo.as_ref().map(|demo| RawDemo {
            bind: Some(demo.bind.to_string()),
            sse: Some(demo.sse),
            path: Some(demo.path.clone()),
        }),
        log: RawLog {
            level: Some(config.log.level.clone()),
        },
        audit: config.audit.as_ref().map(super::audit::raw_audit),
        recording: config
            .recording
            .as_ref()
            .map(super::recording::raw_recording),
        intercept: (!config.intercept.is_empty()).then(|| super::intercept_raw::RawIntercept {
            rules: config.intercept.clone(),
        }),
    }
}

/// `tls_ca` of an upstream that trusts a CA file.
fn raw_tls_ca(upstream: &UpstreamConfig) -> Option<String> {
    match &upstream.tls {
        Some(UpstreamTrust::CaFile { path, .. }) => Some(path.display().to_string()),
        _ => None,
    }
}

/// `tls_insecure` of an `https://` upstream (plain ones may not carry it).
fn raw_tls_insecure(upstream: &UpstreamConfig, url: &UpstreamUrl) -> Option<bool> {
    url.tls
        .then_some(upstream.tls == Some(UpstreamTrust::Insecure))
}

/// One upstream with every key that applies to its transport (the others would be rejected).
fn raw_upstream(upstream: &UpstreamConfig) -> RawUpstream {
    let request_timeout = Some(duration(upstream.request_timeout));
    match &upstream.transport {
        UpstreamTransport::Http(url) => RawUpstream {
            url: Some(url.to_url()),
            transport: Some("streamable-http".to_owned()),
            era: Some(upstream.era.as_str().to_owned()),
            connect_timeout: Some(duration(upstream.connect_timeout)),
            request_timeout,
            pool_max_idle: Some(upstream.pool_max_idle as u64),
            max_in_flight: upstream.max_in_flight.map(|n| n as u64),
            tls_ca: raw_tls_ca(upstream),
            tls_insecure: raw_tls_insecure(upstream, url),
            headers: raw_headers(upstream),
            oauth: upstream.oauth.as_ref().map(UpstreamOAuth::to_raw),
            ..RawUpstream::default()
        },
        UpstreamTransport::Sse(url) => RawUpstream {
            url: Some(url.to_url()),
            transport: Some("sse".to_owned()),
            connect_timeout: Some(duration(upstream.connect_timeout)),
            request_timeout,
            tls_ca: raw_tls_ca(upstream),
            tls_insecure: raw_tls_insecure(upstream, url),
            headers: raw_headers(upstream),
            oauth: upstream.oauth.as_ref().map(UpstreamOAuth::to_raw),
            ..RawUpstream::default()
        },
        UpstreamTransport::Stdio(stdio) => RawUpstream {
            command: Some(stdio.command.clone()),
            transport: Some("stdio".to_owned()),
            env: (!stdio.env.is_empty()).then(|| stdio.env.iter().cloned().collect()),
            cwd: stdio.cwd.as_ref().map(|cwd| cwd.display().to_string()),
            mode: Some(
                match stdio.mode {
                    StdioMode::PerSession => "per-session",
                    StdioMode::Shared => "shared",
                }
                .to_owned(),
            ),
            warm: Some(stdio.warm as u64),
            max: Some(stdio.max as u64),
            max_line: Some(size(stdio.max_line)),
            kill_grace: Some(duration(stdio.kill_grace)),
            request_timeout,
            ..RawUpstream::default()
        },
    }
}

/// An upstream's `headers` as written: `${env:NAME}` unexpanded, so the printed file holds no
/// secret from the environment and loads back into an equal config.
fn raw_headers(upstream: &UpstreamConfig) -> Option<BTreeMap<String, String>> {
    let templates = upstream.headers.templates();
    let written = templates.map(|(name, template)| (name.to_owned(), template.to_owned()));
    (!upstream.headers.is_empty()).then(|| written.collect())
}

/// `runtime.shards` and `runtime.cores` for a selection (exactly one is set).
pub(crate) fn raw_cores(selection: &CoreSelection) -> (Option<u64>, Option<String>) {
    match selection {
        CoreSelection::All => (None, Some("all".to_owned())),
        CoreSelection::Count(count) => (Some(count.get() as u64), None),
        CoreSelection::List(list) => (None, Some(format_core_list(list))),
    }
}

pub(crate) fn duration(value: std::time::Duration) -> RawDuration {
    RawDuration(format_duration(value))
}

fn size(bytes: usize) -> RawSize {
    RawSize::Text(format_size(bytes as u64))
}

/// The TOML (and `--io`) name of an I/O path.
pub fn io_name(io: shards::IoBackend) -> &'static str {
    match io {
        shards::IoBackend::Uring => "uring",
        shards::IoBackend::Glommio => "glommio",
    }
}
