//! Renders merged shard reports as Prometheus text exposition (version 0.0.4).
//!
//! Not here: gathering reports (scrape.rs). Labels come only from bounded sets: counter names
//! and `Method::ALL`.

use std::fmt::Write as _;

use crate::mcp::Method;
use crate::proxy::metrics::COUNTER_NAMES;
use crate::proxy::state::MetricsReport;
use crate::upstream::children::ChildStats;
use shards::metrics::Snapshot;
use shards::slab::BufStats;

/// Quantiles exported for latency summaries: (percentile, label as Prometheus expects it).
const QUANTILES: &[(f64, &str)] = &[
    (50.0, "0.5"),
    (90.0, "0.9"),
    (99.0, "0.99"),
    (99.9, "0.999"),
];

/// Prometheus text for the merged reports.
pub fn render(reports: &[MetricsReport], shard_count: usize) -> String {
    let mut out = String::with_capacity(4096);
    let Some((first, rest)) = reports.split_first() else {
        return out;
    };
    let Totals {
        general,
        methods,
        sessions,
        legacy_streams,
        buffers,
        children,
        token_refusals,
        token_exchanges,
    } = totals(first, rest);
    let _ = writeln!(
        out,
        "# TYPE shadowcat_shards gauge\nshadowcat_shards {shard_count}"
    );
    let _ = writeln!(
        out,
        "# TYPE shadowcat_shards_reporting gauge\nshadowcat_shards_reporting {}",
        reports.len()
    );
    let _ = writeln!(
        out,
        "# TYPE shadowcat_sessions_active gauge\nshadowcat_sessions_active {sessions}"
    );
    for (name, kind, value) in [
        ("legacy_streams_active", "gauge", legacy_streams),
        ("stdio_children", "gauge", children.live),
        ("stdio_children_started_total", "counter", children.started),
        ("stdio_children_crashed_total", "counter", children.crashed),
        (
            "stdio_call_messages_dropped_total",
            "counter",
            children.dropped,
        ),
        ("upstream_token_refusals_total", "counter", token_refusals),
        ("upstream_token_exchanges_total", "counter", token_exchanges),
        ("buffers_allocated_total", "counter", buffers.allocated),
        ("buffers_reused_total", "counter", buffers.reused),
        ("buffers_dropped_total", "counter", buffers.dropped),
        ("buffers_oversize_total", "counter", buffers.oversize),
        (
            "buffers_pooled",
            "gauge",
            buffers.pooled_per_class.iter().sum::<usize>() as u64,
        ),
        ("buffers_pooled_bytes", "gauge", buffers.pooled_bytes as u64),
        ("buffers_freed_bytes_total", "counter", buffers.freed_bytes),
    ] {
        let _ = writeln!(
            out,
            "# TYPE shadowcat_{name} {kind}\nshadowcat_{name} {value}"
        );
    }
    let tape = |name| general.counter(name).unwrap_or(0);
    let _ = writeln!(
        out,
        "# TYPE shadowcat_tapes_open gauge\nshadowcat_tapes_open {}",
        tape("tape_files_opened_total").saturating_sub(tape("tape_files_closed_total"))
    );
    render_uring(&mut out, reports);
    for name in COUNTER_NAMES {
        let _ = writeln!(
            out,
            "# TYPE shadowcat_{name} counter\nshadowcat_{name} {}",
            general.counter(name).unwrap_or(0)
        );
    }
    summary(
        &mut out,
        "shadowcat_request_duration_us",
        None,
        &general,
        "request_duration_us",
    );
    render_methods(&mut out, &methods);
    out
}

/// Every shard's numbers summed (io_uring's are rendered per shard: `render_uring`).
struct Totals {
    general: Snapshot,
    methods: Snapshot,
    sessions: u64,
    legacy_streams: u64,
    buffers: BufStats,
    children: ChildStats,
    token_refusals: u64,
    token_exchanges: u64,
}

/// Sums `first` and the `rest` of the shards' reports.
fn totals(first: &MetricsReport, rest: &[MetricsReport]) -> Totals {
    let mut t = Totals {
        general: first.snapshot.clone(),
        methods: first.methods.clone(),
        sessions: first.sessions,
        legacy_streams: first.legacy_streams,
        buffers: first.buffers,
        children: first.children,
        token_refusals: first.token_refusals,
        token_exchanges: first.token_exchanges,
    };
    for r in rest {
        t.token_refusals += r.token_refusals;
        t.token_exchanges += r.token_exchanges;
        t.children.live += r.children.live;
        t.children.started += r.children.started;
        t.children.crashed += r.children.crashed;
        t.children.dropped += r.children.dropped;
        t.general.merge(&r.snapshot);
        t.methods.merge(&r.methods);
        t.sessions += r.sessions;
        t.legacy_streams += r.legacy_streams;
        t.buffers = add_buffers(t.buffers, r.buffers);
    }
    t
}

/// The per-method request counts and latency summaries (methods never seen are left out).
fn render_methods(out: &mut String, methods: &Snapshot) {
    let _ = writeln!(out, "# TYPE shadowcat_requests_total counter");
    for method in Method::ALL {
        let n = methods.counter(method).unwrap_or(0);
        if n > 0 {
            let _ = writeln!(out, "shadowcat_requests_total{{method=\"{method}\"}} {n}");
        }
    }
    let _ = writeln!(out, "# TYPE shadowcat_method_duration_us summary");
    for method in Method::ALL {
        if methods.count(method).unwrap_or(0) > 0 {
            summary(
                out,
                "shadowcat_method_duration_us",
                Some(method),
                methods,
                method,
            );
        }
    }
}

fn summary(
    out: &mut String,
    metric: &str,
    method: Option<&str>,
    snap: &shards::metrics::Snapshot,
    hist: &str,
) {
    let label = |q: Option<&str>| match (method, q) {
        (Some(m), Some(q)) => format!("{{method=\"{m}\",quantile=\"{q}\"}}"),
        (Some(m), None) => format!("{{method=\"{m}\"}}"),
        (None, Some(q)) => format!("{{quantile=\"{q}\"}}"),
        (None, None) => String::new(),
    };
    for (percentile, quantile) in QUANTILES {
        if let Some(v) = snap.percentile(hist, *percentile) {
            let _ = writeln!(out, "{metric}{} {v}", label(Some(quantile)));
        }
    }
    let _ = writeln!(
        out,
        "{metric}_count{} {}",
        label(None),
        snap.count(hist).unwrap_or(0)
    );
}

/// The io_uring path's gauges and counters, summed over the shards running it (all zero on
/// glommio's path): live connections and registered file slots (both back to the pooled
/// upstream connections once clients close: a leak shows here), and buffer ownership
/// violations (must stay 0).
fn render_uring(out: &mut String, reports: &[MetricsReport]) {
    let rings: Vec<_> = reports.iter().filter_map(|r| r.uring).collect();
    let sum = |f: fn(&shards::uring::UringStats) -> u64| rings.iter().map(f).sum::<u64>();
    for (name, kind, value) in [
        ("io_uring_shards", "gauge", rings.len() as u64),
        ("io_uring_connections", "gauge", sum(|s| s.conns as u64)),
        (
            "io_uring_fixed_slots_used",
            "gauge",
            sum(|s| u64::from(s.fixed_slots_used)),
        ),
        (
            "io_uring_unfixed_fds_total",
            "counter",
            sum(|s| s.unfixed_fds),
        ),
        ("io_uring_enters_total", "counter", sum(|s| s.enters)),
        ("io_uring_sends_total", "counter", sum(|s| s.sends)),
        ("io_uring_recvs_total", "counter", sum(|s| s.recvs)),
        (
            "io_uring_eventfd_wakes_total",
            "counter",
            sum(|s| s.eventfd_wakes),
        ),
        (
            "io_uring_lost_wakes_total",
            "counter",
            sum(|s| s.lost_wakes),
        ),
        ("io_uring_enobufs_total", "counter", sum(|s| s.enobufs)),
        (
            "io_uring_starved_connections",
            "gauge",
            sum(|s| s.starved as u64),
        ),
        (
            "io_uring_completions_ready",
            "gauge",
            sum(|s| s.cq_ready as u64),
        ),
        (
            "io_uring_taskrun_pending",
            "gauge",
            sum(|s| u64::from(s.taskrun_pending)),
        ),
        (
            "io_uring_reactors_parked",
            "gauge",
            sum(|s| u64::from(s.reactor_parked)),
        ),
        (
            "io_uring_buffer_violations_total",
            "counter",
            sum(|s| s.buffer_violations),
        ),
    ] {
        let _ = writeln!(
            out,
            "# TYPE shadowcat_{name} {kind}\nshadowcat_{name} {value}"
        );
    }
}

fn add_buffers(a: shards::slab::BufStats, b: shards::slab::BufStats) -> shards::slab::BufStats {
    let mut pooled = a.pooled_per_class;
    for (sum, more) in pooled.iter_mut().zip(b.pooled_per_class) {
        *sum += more;
    }
    shards::slab::BufStats {
        allocated: a.allocated + b.allocated,
        reused: a.reused + b.reused,
        returned: a.returned + b.returned,
        dropped: a.dropped + b.dropped,
        pooled_per_class: pooled,
        pooled_bytes: a.pooled_bytes + b.pooled_bytes,
        freed_bytes: a.freed_bytes + b.freed_bytes,
        oversize: a.oversize + b.oversize,
    }
}
