//! The proxy's metric names and the per-shard recorder over `shards::metrics`.
//!
//! Not here: exposition (the admin module) or merging (shards::metrics::Snapshot::merge).
//! Hot path: index-based increments, no strings, no allocation. Labels come only from bounded
//! sets (counter names below, `Method::ALL`), never from ids.

use std::time::Duration;

use shards::metrics::Metrics;

use crate::mcp::Method;

/// Proxy-wide counters, in the order of [`COUNTER_NAMES`].
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum Counter {
    /// Requests that went to the shard owning their session: the connection moved there
    /// (a handoff sent), or the request was forwarded (`HopsForwarded`).
    Hops,
    /// Connections received from another shard.
    HandoffsIn,
    /// TLS connections relayed to another shard over a local socket pair (tunnel.rs): their
    /// hop is in `Hops` too.
    TlsTunnels,
    /// TLS relays ended (with `TlsTunnels`: the ones open now).
    TlsTunnelsClosed,
    /// Requests forwarded to the shard owning their session while their connection stayed
    /// (hop_forward.rs): their hop is in `Hops` too.
    HopsForwarded,
    /// Links to other shards opened for forwarded requests.
    HopLinksOpened,
    /// Client connections accepted.
    Connections,
    /// Sessions minted.
    SessionsCreated,
    /// Sessions reaped by the idle TTL.
    SessionsExpired,
    /// Sessions ended by DELETE.
    SessionsDeleted,
    /// Sessions dropped because the upstream answered 404.
    SessionsLost,
    /// Responses by class.
    Status2xx,
    /// Responses by class.
    Status4xx,
    /// Responses by class.
    Status5xx,
    /// Upstream connect/reset failures.
    UpstreamErrors,
    /// Upstream timeouts.
    UpstreamTimeouts,
    /// SSE events relayed to clients.
    SseEvents,
    /// 2026-07-28 stateless requests (POSTs classified modern).
    ModernRequests,
    /// Clients that closed their connection while an answer was pending; the upstream
    /// connection carrying it was closed (for 2026-07-28 requests, that cancels them).
    ClientGone,
    /// 2026-07-28 `subscriptions/listen` streams opened.
    ListenOpened,
    /// 2026-07-28 `subscriptions/listen` streams ended (either side).
    ListenClosed,
    /// Legacy HTTP+SSE sessions opened (`GET /sse`).
    LegacySessions,
    /// Legacy HTTP+SSE sessions ended because the client did not read its stream (queue full).
    LegacyOverflows,
    /// 2026-07-28 requests served on a legacy upstream (era translation).
    ModernTranslated,
    /// `input_required` results the translation sent (one per MRTR round).
    InputRequired,
    /// Legacy upstream sessions opened for translated requests.
    TranslationSessions,
    /// `tools/call`s of a tool the route hides, answered by the proxy (`tool_filter` stage).
    ToolsDenied,
    /// Client messages an interception rule answered itself (`block`, `mock`; a notification:
    /// dropped), never sent upstream.
    InterceptAnswered,
    /// Client messages an interception rule changed (`modify`) before sending them.
    InterceptModified,
    /// Client messages held by a `delay` rule.
    InterceptDelayed,
    /// Client messages held by a `pause` rule.
    InterceptPaused,
    /// Pauses that ended without a decision (their timeout, or shutdown): the rule's `default`
    /// applied.
    InterceptPauseTimeouts,
    /// Times the shard handed freed heap memory back to the OS (`malloc_trim`).
    MemoryTrims,
    /// Requests refused with 429 by the `rate_limit` stage.
    RateLimited,
    /// Requests let through because the principal's shard did not decide in time.
    RateUndecided,
    /// Rate-limit decisions asked of another shard (the principal's owner).
    RateAsked,
    /// Audit lines written to the audit log.
    AuditLines,
    /// Audit lines lost: their write failed (a full disk) or the shard's pending buffer was full.
    AuditDropped,
    /// Audit log writes that failed.
    AuditWriteErrors,
    /// Audit log rotations.
    AuditRotations,
    /// Requests refused because `audit.required` is set and lines cannot be written.
    AuditRefused,
    /// Tape lines written.
    TapeLines,
    /// Tape bytes written.
    TapeBytes,
    /// Tape writes that failed (each stops its tape).
    TapeWriteErrors,
    /// Tape lines lost: the shard's buffer was full, or their tape had stopped.
    TapeDropped,
    /// Tape files opened (open tapes = opened − closed).
    TapeOpened,
    /// Tape files closed.
    TapeClosed,
    /// Tapes continued in a new part (`max_size`).
    TapeRotations,
    /// Tape files deleted by retention (`keep`, `max_age`).
    TapeDeleted,
}

/// Names of [`Counter`], exported as `shadowcat_<name>`.
pub const COUNTER_NAMES: &[&str] = &[
    "hops_total",
    "handoffs_received_total",
    "tls_tunnels_total",
    "tls_tunnels_closed_total",
    "hops_forwarded_total",
    "hop_links_opened_total",
    "connections_total",
    "sessions_created_total",
    "sessions_expired_total",
    "sessions_deleted_total",
    "sessions_lost_total",
    "responses_2xx_total",
    "responses_4xx_total",
    "responses_5xx_total",
    "upstream_errors_total",
    "upstream_timeouts_total",
    "sse_events_total",
    "modern_requests_total",
    "client_gone_total",
    "listen_streams_opened_total",
    "listen_streams_closed_total",
    "legacy_sessions_total",
    "legacy_overflows_total",
    "modern_translated_total",
    "input_required_total",
    "translation_sessions_opened_total",
    "tools_denied_total",
    "intercept_answered_total",
    "intercept_modified_total",
    "intercept_delayed_total",
    "intercept_paused_total",
    "intercept_pause_timeouts_total",
    "memory_trims_total",
    "rate_limited_total",
    "rate_limit_undecided_total",
    "rate_limit_asked_total",
    "audit_lines_total",
    "audit_lines_dropped_total",
    "audit_write_errors_total",
    "audit_rotations_total",
    "audit_refused_total",
    "tape_lines_total",
    "tape_bytes_total",
    "tape_write_errors_total",
    "tape_lines_dropped_total",
    "tape_files_opened_total",
    "tape_files_closed_total",
    "tape_rotations_total",
    "tape_files_deleted_total",
];

/// Histograms, in the order of [`HISTOGRAM_NAMES`].
const HISTOGRAM_NAMES: &[&str] = &["request_duration_us"];

/// One shard's recorder.
#[derive(Debug)]
pub struct ProxyMetrics {
    /// Proxy-wide counters and the overall latency histogram.
    pub general: Metrics,
    /// Per-method request counts and latency histograms (same index for both).
    pub methods: Metrics,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ProxyMetrics {
    /// An empty recorder.
    pub fn new() -> Self {
        ProxyMetrics {
            general: Metrics::new(COUNTER_NAMES, HISTOGRAM_NAMES),
            methods: Metrics::new(Method::ALL, Method::ALL),
        }
    }

    /// Counts one event.
    pub fn incr(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Counts `n` events.
    pub fn add(&self, counter: Counter, n: u64) {
        self.general.incr(counter as usize, n);
    }

    /// Counts a finished response by status class (and notes it in the request's audit
    /// record, when one is current).
    pub fn status(&self, status: u16) {
        crate::audit::scope::note(|record| record.set_status(status));
        let counter = match status {
            200..=299 => Counter::Status2xx,
            400..=499 => Counter::Status4xx,
            500..=599 => Counter::Status5xx,
            _ => return,
        };
        self.incr(counter);
    }

    /// Records one request of `method` taking `elapsed`.
    pub fn request(&self, method: Method, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.methods.incr(method.index(), 1);
        self.methods.record(method.index(), micros);
        self.general.record(0, micros);
    }
}

const _: () = assert!(COUNTER_NAMES.len() == Counter::TapeDeleted as usize + 1);

/// Counts one open `subscriptions/listen` stream: opened now, closed on drop (open streams =
/// opened − closed).
#[derive(Debug)]
pub struct ListenGuard<'a> {
    metrics: &'a ProxyMetrics,
}

impl<'a> ListenGuard<'a> {
    /// Counts a stream as opened.
    pub fn open(metrics: &'a ProxyMetrics) -> Self {
        metrics.incr(Counter::ListenOpened);
        Self { metrics }
    }
}

impl Drop for ListenGuard<'_> {
    fn drop(&mut self) {
        self.metrics.incr(Counter::ListenClosed);
    }
}
