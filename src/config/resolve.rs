//! Raw TOML schema -> typed, validated `Config`: the whole file, upstreams and listeners
//! (routes, legacy SSE paths, allow-lists); defaults applied, every value checked, names turned
//! into typed ids (`UpstreamId`), upstream hosts resolved.
//!
//! Not here: TOML parsing (see `mod.rs`), flag handling (the cli module), the plain-value
//! sections (`sections.rs`), checks of one value (`setting.rs`), stdio upstream keys
//! (`stdio.rs`). Runs once at load, before any shard exists; allocation and blocking
//! DNS are fine here and nowhere later.
//! Every error names the TOML path, the value as written and what is allowed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use super::admin_token::AdminToken;
use super::allow::{normalize_host_entry, normalize_origin_entry};
use super::auth::{public_url, resolve_auth};
use super::defaults as d;
use super::error::{invalid_str, Error};
use super::ids::{UpstreamId, MAX_ROUTES, MAX_UPSTREAMS};
use super::listener_tls::resolve_listener_tls;
use super::model::{
    Config, DemoConfig, LegacySseConfig, ListenerConfig, LogConfig, RouteConfig, RouteEra,
    UpstreamConfig, UpstreamEra, UpstreamTransport, UpstreamUrl,
};
use super::policy::Policy;
use super::rate_limit::RateLimit;
use super::raw::{RawAdmin, RawConfig, RawListener, RawRoute, RawUpstream};
use super::sections::{
    resolve_demo, resolve_limits, resolve_runtime, resolve_sessions, resolve_timeouts,
};
use super::setting::{bind_addr, check_name, count, duration, route_path, Bound};
use super::stdio::{resolve_stdio, upstream_kind, UpstreamKind};
use super::tools::ToolFilter;
use super::upstream_headers::resolve_headers;
use super::upstream_oauth::{check_route, resolve_oauth};
use super::upstream_tls::resolve_upstream_tls;
use super::url::parse_upstream_url;
use super::values::parse_log_level;

/// Resolves a raw config. See the module docs for what is checked.
///
/// # Errors
/// The first problem found, as an [`Error`] naming its TOML path.
pub(crate) fn resolve(raw: &RawConfig) -> Result<Config, Error> {
    let runtime = resolve_runtime(&raw.runtime)?;
    let demo = raw.demo.as_ref().map(resolve_demo).transpose()?;
    let upstreams = resolve_upstreams(&raw.upstreams, demo.as_ref())?;
    let listeners = resolve_listeners(&raw.listeners, &upstreams)?;
    let admin = match &raw.admin {
        Some(admin) => Some(bind_addr(
            "admin.bind",
            admin.bind.as_deref().unwrap_or(d::ADMIN_ADDR_TEXT),
        )?),
        None => None,
    };
    let admin_token = resolve_admin_token(raw.admin.as_ref(), admin)?;
    check_unique_binds(&listeners, admin, demo.as_ref())?;
    let level = raw.log.level.as_deref().unwrap_or(d::LOG_LEVEL);
    let level =
        parse_log_level(level).map_err(|allowed| invalid_str("log.level", level, allowed))?;
    let recording = super::recording::resolve_recording(raw.recording.as_ref())?;
    let listeners = routes_recorded(raw, listeners, recording.is_some())?;
    Ok(Config {
        runtime,
        listeners,
        upstreams,
        limits: resolve_limits(&raw.limits)?,
        timeouts: resolve_timeouts(&raw.timeouts)?,
        sessions: resolve_sessions(&raw.sessions)?,
        admin,
        admin_token,
        demo,
        log: LogConfig { level },
        audit: super::audit::resolve_audit(raw.audit.as_ref())?,
        recording,
        intercept: resolve_intercept(raw.intercept.as_ref())?,
        seal_key: None,
    })
}

/// The listeners with each route's `record` settled: off everywhere without `[recording]`,
/// where a route asking for it is refused.
///
/// # Errors
/// `record = true` on a route while `[recording]` is absent.
fn routes_recorded(
    raw: &RawConfig,
    mut listeners: Vec<ListenerConfig>,
    enabled: bool,
) -> Result<Vec<ListenerConfig>, Error> {
    if enabled {
        return Ok(listeners);
    }
    for (name, listener) in &raw.listeners {
        if let Some(at) = listener.routes.iter().position(|r| r.record == Some(true)) {
            return Err(Error::Invalid {
                key: format!("listeners.{name}.routes[{at}].record"),
                value: "true".into(),
                allowed: "false or unset without recording: add a [recording] table with `dir` \
                          (or --record DIR)",
            });
        }
    }
    for listener in &mut listeners {
        for route in &mut listener.routes {
            route.record = false;
        }
    }
    Ok(listeners)
}

/// `[[intercept.rules]]`, compiled once to check them.
fn resolve_intercept(
    raw: Option<&super::intercept_raw::RawIntercept>,
) -> Result<Vec<super::intercept_raw::RawRule>, Error> {
    let rules = raw.map(|r| r.rules.clone()).unwrap_or_default();
    super::intercept::InterceptRules::compile(&rules).map_err(|why| Error::Invalid {
        key: "intercept".to_owned(),
        value: why,
        allowed: "rules as docs/interception.md describes",
    })?;
    Ok(rules)
}

fn resolve_upstreams(
    raw: &BTreeMap<String, RawUpstream>,
    demo: Option<&DemoConfig>,
) -> Result<Vec<UpstreamConfig>, Error> {
    if raw.is_empty() {
        return Err(Error::Missing {
            key: "upstreams".into(),
            allowed: "define at least one [upstreams.NAME] table with a url or a command",
        });
    }
    if raw.len() > MAX_UPSTREAMS {
        return Err(Error::Invalid {
            key: "upstreams".into(),
            value: format!("{} tables", raw.len()),
            allowed: "at most 65536 upstreams (an upstream id is 16 bits)",
        });
    }
    raw.iter()
        .map(|(name, upstream)| resolve_upstream(name, upstream, demo))
        .collect()
}

fn resolve_upstream(
    name: &str,
    raw: &RawUpstream,
    demo: Option<&DemoConfig>,
) -> Result<UpstreamConfig, Error> {
    check_name("upstreams", name)?;
    let key = |field: &str| format!("upstreams.{name}.{field}");
    let transport = match upstream_kind(name, raw)? {
        UpstreamKind::Http(url) => UpstreamTransport::Http(resolve_url(&key("url"), url, demo)?),
        UpstreamKind::Sse(url) => UpstreamTransport::Sse(resolve_url(&key("url"), url, demo)?),
        UpstreamKind::Stdio(command) => {
            UpstreamTransport::Stdio(resolve_stdio(name, raw, command)?)
        }
    };
    let tls = resolve_upstream_tls(name, raw, &transport)?;
    let stdio = matches!(transport, UpstreamTransport::Stdio(_));
    let headers = resolve_headers(name, raw, stdio)?;
    let sse = matches!(transport, UpstreamTransport::Sse(_));
    let oauth = resolve_oauth(name, raw, (sse, stdio), &headers)?;
    Ok(UpstreamConfig {
        name: name.to_owned(),
        oauth,
        tls,
        headers,
        transport,
        connect_timeout: duration(
            &key("connect_timeout"),
            raw.connect_timeout.as_ref(),
            d::UPSTREAM_CONNECT_TIMEOUT,
        )?,
        request_timeout: duration(
            &key("request_timeout"),
            raw.request_timeout.as_ref(),
            d::UPSTREAM_REQUEST_TIMEOUT,
        )?,
        pool_max_idle: count(&key("pool_max_idle"), raw.pool_max_idle, &POOL_MAX_IDLE)?,
        max_in_flight: raw
            .max_in_flight
            .map(|n| count(&key("max_in_flight"), Some(n), &MAX_IN_FLIGHT))
            .transpose()?,
        era: upstream_era(&key("era"), raw)?,
    })
}

fn resolve_url(key: &str, text: &str, demo: Option<&DemoConfig>) -> Result<UpstreamUrl, Error> {
    let url = parse_upstream_url(key, text)?;
    let points_at_demo = demo.is_some_and(|demo| url.addrs == [demo.bind]);
    if url.port == 0 && !points_at_demo {
        return Err(invalid_str(
            key,
            text,
            "a port from 1 to 65535 (port 0 only in a URL equal to [demo] bind, which is \
             filled in when the demo server starts)",
        ));
    }
    Ok(url)
}

fn resolve_listeners(
    raw: &BTreeMap<String, RawListener>,
    upstreams: &[UpstreamConfig],
) -> Result<Vec<ListenerConfig>, Error> {
    if raw.len() > MAX_ROUTES {
        return Err(Error::Invalid {
            key: "listeners".into(),
            value: format!("{} tables", raw.len()),
            allowed: "at most 65536 listeners (a route id is 2 × 16 bits)",
        });
    }
    if !raw.is_empty() {
        return raw
            .iter()
            .map(|(name, listener)| resolve_listener(name, listener, upstreams))
            .collect();
    }
    // No listeners: the file is "proxy this one upstream", like `reverse`.
    let [only] = upstreams else {
        return Err(Error::Missing {
            key: "listeners".into(),
            allowed: "with several upstreams, define [listeners.NAME] tables whose routes say \
                      which path goes to which upstream",
        });
    };
    let implicit = RawListener {
        bind: d::LISTEN_ADDR_TEXT.to_owned(),
        allowed_hosts: None,
        allowed_origins: None,
        tls_cert: None,
        tls_key: None,
        tls_client_ca: None,
        public_url: None,
        routes: vec![RawRoute {
            path: d::MCP_PATH.to_owned(),
            upstream: only.name.clone(),
            era: None,
            ..RawRoute::default()
        }],
    };
    Ok(vec![resolve_listener(
        d::LISTENER_NAME,
        &implicit,
        upstreams,
    )?])
}

fn resolve_listener(
    name: &str,
    raw: &RawListener,
    upstreams: &[UpstreamConfig],
) -> Result<ListenerConfig, Error> {
    check_name("listeners", name)?;
    let prefix = format!("listeners.{name}");
    let bind = bind_addr(&format!("{prefix}.bind"), &raw.bind)?;
    if raw.routes.len() > MAX_ROUTES {
        return Err(Error::Invalid {
            key: format!("{prefix}.routes"),
            value: format!("{} routes", raw.routes.len()),
            allowed: "at most 65536 routes per listener (a route id is 2 × 16 bits)",
        });
    }
    if raw.routes.is_empty() {
        return Err(Error::Missing {
            key: format!("{prefix}.routes"),
            allowed: "add at least one [[listeners.NAME.routes]] with a path and an upstream",
        });
    }
    let tls = resolve_listener_tls(&prefix, raw)?;
    let client_certs = tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    let public_url = public_url(
        &format!("{prefix}.public_url"),
        raw.public_url.as_deref(),
        bind,
        tls.is_some(),
        raw.routes.iter().any(|r| r.auth.is_some()),
    )?;
    let mut routes: Vec<RouteConfig> = Vec::with_capacity(raw.routes.len());
    // Every path served on this listener (route paths and legacy SSE paths), with its key.
    let mut claimed: Vec<(String, String)> = Vec::new();
    for (index, route) in raw.routes.iter().enumerate() {
        let key = format!("{prefix}.routes[{index}]");
        let listener = (public_url.as_str(), client_certs);
        routes.push(resolve_route(
            &key,
            route,
            upstreams,
            listener,
            &mut claimed,
        )?);
    }
    let allowed_hosts = allowed_hosts(&prefix, raw, bind)?;
    let origins_key = format!("{prefix}.allowed_origins");
    let origins = raw.allowed_origins.as_deref().unwrap_or_default();
    Ok(ListenerConfig {
        name: name.to_owned(),
        bind,
        routes,
        allowed_hosts,
        allowed_origins: normalize_list(&origins_key, origins, normalize_origin_entry)?,
        tls,
        public_url,
    })
}

/// Route `key` (`route`) of a listener whose routes' resource identifiers start with
/// `public_url` and whose connections carry client certificates when `client_certs`; its
/// paths are recorded in `claimed`.
fn resolve_route(
    key: &str,
    route: &RawRoute,
    upstreams: &[UpstreamConfig],
    (public_url, client_certs): (&str, bool),
    claimed: &mut Vec<(String, String)>,
) -> Result<RouteConfig, Error> {
    let path = route_path(&format!("{key}.path"), &route.path)?;
    claim(claimed, format!("{key}.path"), &path)?;
    let Some(upstream) = upstreams.iter().position(|u| u.name == route.upstream) else {
        return Err(Error::UnknownUpstream {
            key: format!("{key}.upstream"),
            value: format!("{:?}", route.upstream),
            known: upstreams.iter().map(|u| u.name.clone()).collect(),
        });
    };
    let era = route_era(&format!("{key}.era"), route.era.as_deref())?;
    let legacy_sse = legacy_sse(key, route, era, claimed)?;
    let tools = ToolFilter::build(
        key,
        route.allow_tools.as_deref().unwrap_or_default(),
        route.deny_tools.as_deref().unwrap_or_default(),
    )?;
    let auth = resolve_auth(
        &format!("{key}.auth"),
        route.auth.as_ref(),
        &format!("{public_url}{path}"),
    )?;
    // A client certificate names the callers of routes without `auth` (mTLS).
    let named_callers = auth.is_some() || client_certs;
    let oauth = upstreams.get(upstream).and_then(|u| u.oauth.as_ref());
    check_route(key, oauth, auth.as_ref())?;
    let policy = Policy::build(
        key,
        &route.policy,
        route.policy_default.as_deref(),
        named_callers,
    )?;
    let rate_limit = RateLimit::build(&format!("{key}.rate_limit"), route.rate_limit.as_ref())?;
    Ok(RouteConfig {
        path,
        upstream: UpstreamId::new(upstream),
        era,
        legacy_sse,
        tools,
        auth,
        policy,
        rate_limit,
        record: route.record.unwrap_or(true),
    })
}

/// The listener's `allowed_hosts`: as configured, or the loopback names on a loopback bind.
fn allowed_hosts(prefix: &str, raw: &RawListener, bind: SocketAddr) -> Result<Vec<String>, Error> {
    let hosts_key = format!("{prefix}.allowed_hosts");
    match &raw.allowed_hosts {
        None if bind.ip().is_loopback() => Ok(d::LOOPBACK_HOSTS.map(str::to_owned).to_vec()),
        None => Err(Error::AllowedHostsRequired {
            key: hosts_key,
            value: bind.to_string(),
        }),
        Some(list) if list.is_empty() => Err(Error::Invalid {
            key: hosts_key,
            value: "[]".into(),
            allowed: "at least one host name, or [\"*\"] to disable the Host check (an \
                      empty list would refuse every request)",
        }),
        Some(list) => normalize_list(&hosts_key, list, normalize_host_entry),
    }
}

/// Records `path` as served by `key`; a path served twice on one listener is an error.
fn claim(claimed: &mut Vec<(String, String)>, key: String, path: &str) -> Result<(), Error> {
    if let Some((first, _)) = claimed.iter().find(|(_, p)| p == path) {
        return Err(Error::Duplicate {
            key,
            value: format!("{path:?}"),
            first: first.clone(),
            allowed: "each path appears once per listener (route paths, sse_path and \
                      messages_path included; set sse_path and messages_path to tell two \
                      legacy_sse routes apart)",
        });
    }
    claimed.push((key, path.to_owned()));
    Ok(())
}

/// The route's legacy HTTP+SSE endpoints (`legacy_sse`, `sse_path`, `messages_path`).
fn legacy_sse(
    key: &str,
    route: &RawRoute,
    era: RouteEra,
    claimed: &mut Vec<(String, String)>,
) -> Result<Option<LegacySseConfig>, Error> {
    if route.legacy_sse != Some(true) {
        if route.sse_path.is_some() || route.messages_path.is_some() {
            return Err(Error::Missing {
                key: format!("{key}.legacy_sse"),
                allowed: "`sse_path` and `messages_path` apply only to a route with \
                          `legacy_sse = true`: set it, or remove them",
            });
        }
        return Ok(None);
    }
    if era == RouteEra::Modern {
        return Err(Error::Conflict {
            key: format!("{key}.legacy_sse"),
            other: format!("{key}.era"),
            allowed: "legacy HTTP+SSE clients speak 2024-11-05 sessions, which a route with \
                      era = \"modern\" refuses: use era = \"dual\", or drop legacy_sse",
        });
    }
    let sse_key = format!("{key}.sse_path");
    let sse_path = route_path(
        &sse_key,
        route.sse_path.as_deref().unwrap_or(d::LEGACY_SSE_PATH),
    )?;
    claim(claimed, sse_key, &sse_path)?;
    let messages_key = format!("{key}.messages_path");
    let messages_path = route_path(
        &messages_key,
        route
            .messages_path
            .as_deref()
            .unwrap_or(d::LEGACY_MESSAGES_PATH),
    )?;
    claim(claimed, messages_key, &messages_path)?;
    Ok(Some(LegacySseConfig {
        sse_path,
        messages_path,
    }))
}

/// Normalizes each entry (keys `KEY[i]`) and drops repeats, keeping the first.
fn normalize_list(
    key: &str,
    list: &[String],
    normalize: fn(&str, &str) -> Result<String, Error>,
) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (index, entry) in list.iter().enumerate() {
        let entry = normalize(&format!("{key}[{index}]"), entry)?;
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Two sockets conflict when they share a port and an IP, or one of them is the wildcard
/// address. Port 0 never conflicts: the kernel picks distinct ports.
fn check_unique_binds(
    listeners: &[ListenerConfig],
    admin: Option<SocketAddr>,
    demo: Option<&DemoConfig>,
) -> Result<(), Error> {
    let named = listeners
        .iter()
        .map(|l| (format!("listeners.{}.bind", l.name), l.bind))
        .chain(admin.map(|addr| ("admin.bind".to_owned(), addr)))
        .chain(demo.map(|demo| ("demo.bind".to_owned(), demo.bind)));
    let mut seen: Vec<(String, SocketAddr)> = Vec::new();
    for (key, addr) in named {
        let clash = seen.iter().find(|(_, other)| {
            addr.port() != 0
                && other.port() == addr.port()
                && (other.ip() == addr.ip()
                    || other.ip().is_unspecified()
                    || addr.ip().is_unspecified())
        });
        if let Some((first, _)) = clash {
            return Err(Error::Duplicate {
                key,
                value: format!("\"{addr}\""),
                first: first.clone(),
                allowed: "listeners, the admin listener and the demo server each need their \
                          own address",
            });
        }
        seen.push((key, addr));
    }
    Ok(())
}

/// `era` of an upstream: `"auto"` (default), `"dual"`, `"legacy"` or `"modern"`; only
/// Streamable HTTP upstreams have a choice (stdio and legacy SSE ones are legacy).
fn upstream_era(key: &str, raw: &RawUpstream) -> Result<UpstreamEra, Error> {
    let streamable = raw.command.is_none() && raw.transport.as_deref() != Some("sse");
    match (raw.era.as_deref(), streamable) {
        (None | Some("auto"), true) => Ok(UpstreamEra::Auto),
        (None | Some("legacy"), _) => Ok(UpstreamEra::Legacy),
        (Some("dual"), true) => Ok(UpstreamEra::Dual),
        (Some("modern"), true) => Ok(UpstreamEra::Modern),
        (Some(other), _) => Err(Error::Invalid {
            key: key.to_owned(),
            value: format!("{other:?}"),
            allowed: "\"auto\" (find out on first use), \"dual\", \"legacy\" or \"modern\"; \
                      stdio and sse upstreams are \"legacy\"",
        }),
    }
}

/// `era` of a route: `"dual"` (default) or `"modern"`.
fn route_era(key: &str, era: Option<&str>) -> Result<RouteEra, Error> {
    match era {
        None | Some("dual") => Ok(RouteEra::Dual),
        Some("modern") => Ok(RouteEra::Modern),
        Some(other) => Err(Error::Invalid {
            key: key.to_owned(),
            value: format!("{other:?}"),
            allowed: "\"dual\" (legacy sessions and 2026-07-28 stateless requests) or \"modern\" \
                      (2026-07-28 stateless requests only)",
        }),
    }
}

const MAX_IN_FLIGHT: Bound = Bound {
    default: 0,
    min: 1,
    max: 1_000_000,
    allowed: "a number of requests from 1 to 1000000 (leave it out for no limit)",
};

const POOL_MAX_IDLE: Bound = Bound {
    default: d::UPSTREAM_POOL_MAX_IDLE,
    min: 0,
    max: d::UPSTREAM_POOL_MAX_IDLE_MAX,
    allowed: "a number of connections from 0 (no pooling) to 65536",
};

/// The admin API's token: read from `admin.token_file`; required on a non-loopback admin bind.
fn resolve_admin_token(
    raw: Option<&RawAdmin>,
    bind: Option<SocketAddr>,
) -> Result<Option<AdminToken>, Error> {
    let (Some(raw), Some(bind)) = (raw, bind) else {
        return Ok(None);
    };
    match raw.token_file.as_deref() {
        Some(file) => AdminToken::load("admin.token_file", Path::new(file)).map(Some),
        None if bind.ip().is_loopback() => Ok(None),
        None => Err(Error::Missing {
            key: "admin.token_file".to_owned(),
            allowed: "the admin listener binds a non-loopback address, so its API needs a \
                      bearer token: a file holding one (e.g. `openssl rand -hex 32 > FILE`)",
        }),
    }
}
