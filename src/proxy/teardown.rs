//! Ends sessions: the reaper expires idle ones, shutdown ends them all, and each ends upstream
//! (DELETE with the upstream's session id). Best effort: a failure is logged, never retried.
//!
//! Not here: client-initiated DELETE (bodyless.rs relays the upstream's answer), the order of a
//! shard's shutdown (shutdown.rs), the rest of a shard's life (the app module starts the reaper).

use crate::session::Principal;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::UpstreamId;
use crate::http::Head;

use super::exchange::{exchange, finish};
use super::state::{SessionEntry, ShardState};
use shards::timeout::within;

/// Most bytes of a DELETE answer read before the socket is given up instead of reused.
const TEARDOWN_BODY_MAX: usize = 64 * 1024;
/// How long a DELETE answer's body may take.
const TEARDOWN_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends `DELETE` for the entry's upstream session, if it has one.
pub async fn delete_upstream_session(state: &Rc<ShardState>, entry: &SessionEntry) {
    let upstream = (entry.upstream, &entry.owner);
    end_upstream_session(state, upstream, entry.upstream_session.as_deref()).await;
}

/// Sends DELETE for `upstream_session` to `upstream` (best effort, as above).
pub async fn end_upstream_session(
    state: &Rc<ShardState>,
    (upstream, owner): (UpstreamId, &Principal),
    upstream_session: Option<&str>,
) {
    let Some(upstream_session) = upstream_session else {
        return;
    };
    let up = state.config.upstream(upstream);
    let Some(url) = up.http() else {
        return;
    };
    // With token exchange, the owner's token may have expired since its last request.
    let exchanged = state.exchange_for(upstream, owner).await;
    let Ok(configured) = exchanged.and_then(|()| state.upstream_headers(upstream, owner)) else {
        tracing::warn!("upstream session not ended: no access token for the upstream");
        return;
    };
    let mut request = state.bufs.lease(512);
    crate::http::write_request_head_with(
        &mut request,
        "DELETE",
        url.path.as_bytes(),
        [
            ("Host", url.authority.as_bytes()),
            ("Mcp-Session-Id", upstream_session.as_bytes()),
        ],
        configured.lines(),
        crate::http::Framing::Length(0),
    );
    match exchange(state, upstream, &request, None, false).await {
        Ok(mut ex) => {
            tracing::info!(status = ex.head.status(), "upstream session ended");
            // Read the (small, bounded) answer so the socket can serve the next request.
            let mut sink = state.bufs.lease(1024);
            let read = within(
                TEARDOWN_BODY_TIMEOUT,
                ex.conn
                    .read_response_body(ex.framing, TEARDOWN_BODY_MAX, &mut sink),
            )
            .await;
            let reusable = matches!(read, Some(Ok(())))
                && ex.framing != crate::http::Framing::UntilClose
                && ex.head.keep_alive();
            drop(sink);
            finish(state, ex, reusable);
        }
        Err(e) => tracing::warn!(error = %e, "upstream session DELETE failed"),
    }
}

/// Expires idle sessions every `reap_interval` and ends them upstream.
pub async fn reaper(state: Rc<ShardState>) {
    let interval = state.config.sessions.reap_interval;
    let mut expired = Vec::new();
    while super::periodic::next_period(&state, interval).await {
        state
            .sessions
            .borrow_mut()
            .reap(Instant::now(), &mut expired);
        let now = Instant::now();
        let mut ended = Vec::with_capacity(expired.len());
        for (id, entry) in expired.drain(..) {
            if state.open_streams.is_open(&id) {
                // A session with an open GET stream is in use, however quiet the stream.
                state.sessions.borrow_mut().insert(id, entry, now);
                continue;
            }
            state.metrics.incr(super::metrics::Counter::SessionsExpired);
            state.l2m.end(&id);
            ended.push(entry);
        }
        // Awaited here, in bounded batches: a mass expiry must not open thousands of upstream
        // connections at once (the next pass simply starts later).
        teardown_batches(&state, ended).await;
    }
}

/// Most upstream DELETEs in flight at once per shard.
const TEARDOWN_BATCH: usize = 64;

async fn teardown_batches(state: &Rc<ShardState>, entries: Vec<SessionEntry>) {
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let batch: Vec<_> = entries
            .by_ref()
            .take(TEARDOWN_BATCH)
            .map(|entry| {
                let st = state.clone();
                glommio::spawn_local(async move {
                    delete_upstream_session(&st, &entry).await;
                })
            })
            .collect();
        for task in batch {
            task.await;
        }
    }
}

pub(super) async fn end_upstream_sessions(state: &Rc<ShardState>, deadline: Instant) {
    let mut all = Vec::new();
    state.sessions.borrow_mut().reap(
        Instant::now() + Duration::from_secs(365 * 24 * 3600),
        &mut all,
    );
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let entries = all.into_iter().map(|(_, entry)| entry).collect();
    let _ = within(left, teardown_batches(state, entries)).await;
}
