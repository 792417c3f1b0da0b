//! The sections that are plain values: `[runtime]`, `[demo]`, `[limits]`, `[timeouts]` and
//! `[sessions]`, each raw -> typed with its defaults and bounds.
//!
//! Not here: upstreams, listeners and the whole file (`resolve.rs`, which calls these), checks
//! of one value (`setting.rs`).

use std::time::Duration;

use shards::IoBackend;

use super::defaults as d;
use super::error::{invalid_str, Error};
use super::model::{
    CoreSelection, DemoConfig, HopPolicy, LimitsConfig, RuntimeConfig, SessionsConfig,
    TimeoutsConfig,
};
use super::raw::{RawDemo, RawDuration, RawLimits, RawRuntime, RawSessions, RawTimeouts};
use super::setting::{bind_addr, count, duration, route_path, size, Bound};
use super::values::{parse_cores, shard_count, SHARDS_ALLOWED};

/// Resolves `[runtime]`; also used for `demo-server`, which has no file.
pub(crate) fn resolve_runtime(raw: &RawRuntime) -> Result<RuntimeConfig, Error> {
    let cores = match (raw.shards, &raw.cores) {
        (Some(_), Some(_)) => {
            return Err(Error::Conflict {
                key: "runtime.shards".into(),
                other: "runtime.cores".into(),
                allowed: "set shards (how many) or cores (which ones), not both",
            })
        }
        (Some(count), None) => {
            CoreSelection::Count(shard_count(count).ok_or_else(|| Error::Invalid {
                key: "runtime.shards".into(),
                value: count.to_string(),
                allowed: SHARDS_ALLOWED,
            })?)
        }
        (None, Some(text)) => {
            parse_cores(text).map_err(|allowed| invalid_str("runtime.cores", text, allowed))?
        }
        (None, None) => CoreSelection::All,
    };
    let io_memory = size("runtime.io_memory", raw.io_memory.as_ref(), &IO_MEMORY)?;
    let buffer_pool_memory = size(
        "runtime.buffer_pool_memory",
        raw.buffer_pool_memory.as_ref(),
        &BUFFER_POOL_MEMORY,
    )?;
    let io = match raw.io.as_deref() {
        None => None,
        Some("uring") => Some(IoBackend::Uring),
        Some("glommio") => Some(IoBackend::Glommio),
        Some(other) => return Err(invalid_str("runtime.io", other, "\"uring\" or \"glommio\"")),
    };
    let spin_before_park = spin_before_park(raw.spin_before_park.as_ref())?;
    let hops = match raw.hops.as_deref() {
        None | Some("auto") => HopPolicy::Auto,
        Some("move") => HopPolicy::Move,
        Some("forward") => HopPolicy::Forward,
        Some(other) => {
            return Err(invalid_str(
                "runtime.hops",
                other,
                "\"auto\", \"move\" or \"forward\"",
            ))
        }
    };
    Ok(RuntimeConfig {
        cores,
        io_memory,
        buffer_pool_memory,
        io,
        spin_before_park,
        hops,
    })
}

/// `runtime.spin_before_park`: `None` unset or zero, else at most [`SPIN_MAX`].
fn spin_before_park(raw: Option<&RawDuration>) -> Result<Option<Duration>, Error> {
    const KEY: &str = "runtime.spin_before_park";
    const ALLOWED: &str = "a duration from \"0s\" (off) to \"10ms\", like \"50us\"";
    let Some(RawDuration(text)) = raw else {
        return Ok(None);
    };
    match humantime::parse_duration(text) {
        Ok(spin) if spin.is_zero() => Ok(None),
        Ok(spin) if spin <= SPIN_MAX => Ok(Some(spin)),
        _ => Err(invalid_str(KEY, text, ALLOWED)),
    }
}

/// Longest idle spin: beyond a few milliseconds spinning only burns the core.
const SPIN_MAX: Duration = Duration::from_millis(10);

/// Resolves `[demo]`: the in-process demo server of `shadowcat demo`.
pub(super) fn resolve_demo(raw: &RawDemo) -> Result<DemoConfig, Error> {
    Ok(DemoConfig {
        bind: bind_addr(
            "demo.bind",
            raw.bind.as_deref().unwrap_or(d::DEMO_BIND_TEXT),
        )?,
        sse: raw.sse.unwrap_or(false),
        path: route_path("demo.path", raw.path.as_deref().unwrap_or(d::MCP_PATH))?,
        replay: None,
    })
}

const IO_MEMORY: Bound = Bound {
    default: d::IO_MEMORY,
    min: d::IO_MEMORY_MIN,
    max: d::IO_MEMORY_MAX,
    allowed: "a size from 64KiB to 1GiB, e.g. \"2MiB\"",
};
const BUFFER_POOL_MEMORY: Bound = Bound {
    default: d::BUFFER_POOL_MEMORY,
    min: 0,
    max: d::BUFFER_POOL_MEMORY_MAX,
    allowed: "a size from 0B (pool nothing) to 1GiB, e.g. \"8MiB\"",
};
const MAX_HEAD: Bound = Bound {
    default: d::MAX_HEAD_BYTES,
    min: d::MAX_HEAD_BYTES_MIN,
    max: d::MAX_HEAD_BYTES_MAX,
    allowed: "a size from 1KiB to 1MiB, e.g. \"16KiB\"",
};
const MAX_BODY: Bound = Bound {
    default: d::MAX_BODY_BYTES,
    min: 1,
    max: d::MAX_MESSAGE_BYTES_MAX,
    allowed: "a size from 1B to 1GiB, e.g. \"4MiB\"",
};
const MAX_SSE_EVENT: Bound = Bound {
    default: d::MAX_SSE_EVENT_BYTES,
    min: d::KIB,
    max: d::MAX_MESSAGE_BYTES_MAX,
    allowed: "a size from 1KiB to 1GiB, e.g. \"4MiB\"",
};
const MAX_SESSIONS_PER_SHARD: Bound = Bound {
    default: d::SESSIONS_PER_SHARD,
    min: 1,
    max: d::SESSIONS_PER_SHARD_MAX,
    allowed: "a number of sessions from 1 to 100000000",
};

const MAX_HEADERS: Bound = Bound {
    default: d::MAX_HEADERS,
    min: 1,
    max: d::MAX_HEADERS_MAX,
    allowed: "a number of headers from 1 to 1024",
};
/// Resolves `[limits]`.
pub(super) fn resolve_limits(raw: &RawLimits) -> Result<LimitsConfig, Error> {
    Ok(LimitsConfig {
        max_head_bytes: size(
            "limits.max_head_bytes",
            raw.max_head_bytes.as_ref(),
            &MAX_HEAD,
        )?,
        max_headers: count("limits.max_headers", raw.max_headers, &MAX_HEADERS)?,
        max_body_bytes: size(
            "limits.max_body_bytes",
            raw.max_body_bytes.as_ref(),
            &MAX_BODY,
        )?,
        max_sse_event_bytes: size(
            "limits.max_sse_event_bytes",
            raw.max_sse_event_bytes.as_ref(),
            &MAX_SSE_EVENT,
        )?,
    })
}

/// Resolves `[timeouts]`.
pub(super) fn resolve_timeouts(raw: &RawTimeouts) -> Result<TimeoutsConfig, Error> {
    Ok(TimeoutsConfig {
        head: duration("timeouts.head", raw.head.as_ref(), d::HEAD_TIMEOUT)?,
        keepalive_idle: duration(
            "timeouts.keepalive_idle",
            raw.keepalive_idle.as_ref(),
            d::KEEPALIVE_IDLE,
        )?,
        shutdown_grace: duration(
            "timeouts.shutdown_grace",
            raw.shutdown_grace.as_ref(),
            d::SHUTDOWN_GRACE,
        )?,
    })
}

/// Resolves `[sessions]`; `reap_interval` may not exceed `ttl`.
pub(super) fn resolve_sessions(raw: &RawSessions) -> Result<SessionsConfig, Error> {
    let ttl = duration("sessions.ttl", raw.ttl.as_ref(), d::SESSION_TTL)?;
    // A short TTL shortens the default sweep too: never sweep less often than sessions expire.
    let default_reap = d::SESSION_REAP_INTERVAL.min(ttl);
    let reap_interval = duration(
        "sessions.reap_interval",
        raw.reap_interval.as_ref(),
        default_reap,
    )?;
    if reap_interval > ttl {
        let written = raw.reap_interval.as_ref().map_or("", |r| r.0.as_str());
        return Err(invalid_str(
            "sessions.reap_interval",
            written,
            "a duration no longer than sessions.ttl (expired sessions would linger)",
        ));
    }
    let max_per_shard = count(
        "sessions.max_per_shard",
        raw.max_per_shard,
        &MAX_SESSIONS_PER_SHARD,
    )?;
    Ok(SessionsConfig {
        ttl,
        reap_interval,
        max_per_shard,
    })
}
