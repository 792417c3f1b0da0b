//! Era translation, modern client → legacy upstream (MCP-NOTES §9, §11.9): a 2026-07-28
//! stateless request whose upstream speaks only `initialize` + sessions (config `era =
//! "legacy"`, every stdio and SSE upstream, or `auto` once a modern request was refused) is
//! served on a pooled, initialized upstream session of its principal; upstream server→client
//! requests become `input_required` results whose `requestState` is a sealed handle to the
//! pending exchange, continued by the client's retry (on whichever shard it lands).
//!
//! Files: when to translate (here; the per-shard state's data is `proxy::state::modern`), which
//! flow a request takes (serve.rs), the relay of a call (drive.rs), answers to the client (reply.rs),
//! `input_required` rounds and retries (mrtr.rs), the request's log level (logging.rs),
//! `server/discover` (discover.rs), `subscriptions/listen` (listen.rs), the legacy upstream
//! side (upstream.rs, reading a call's messages in source.rs), the session pool (`proxy::state::modern_pool`, also `pool`), `requestState` sealing (seal.rs), moving a
//! retry to its shard (handoff.rs). Layers, top down: serve → mrtr, discover, listen → drive →
//! reply (no file calls one above it; `scripts/module_cycles.py src 3` checks).
//! Not here: classification and header validation (pipeline::checks::era), the pass-through path (post.rs),
//! legacy clients in front of modern upstreams.

pub mod discover;
pub mod drive;
pub mod handoff;
pub mod listen;
pub mod logging;
pub mod mrtr;
pub mod reply;
pub mod seal;
pub mod serve;
pub mod source;
pub mod upstream;

pub use super::state::modern::{Pending, Translator};
/// The session pool (in `proxy::state::modern_pool`; the old path still works).
pub use super::state::modern_pool as pool;

use crate::config::UpstreamId;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::{UpstreamConfig, UpstreamEra};

use super::state::ShardState;
use crate::upstream::era_verdicts::{EraVerdicts, Speaks};
use pool::SessionPool;

pub(in crate::proxy) use serve::serve;

/// How long an idle pooled upstream session is kept before it is ended upstream.
pub const IDLE_TTL: Duration = Duration::from_secs(300);
/// Most idle pooled upstream sessions per shard (over all upstreams and principals).
pub const MAX_IDLE: usize = 64;
/// Most live upstream sessions per shard (in use, idle, pending or listening); a request
/// needing one more gets 503 `-32010`.
pub const MAX_LIVE: usize = 256;
/// How long an `input_required` exchange waits for the client's retry.
pub const PENDING_TTL: Duration = Duration::from_secs(120);
/// Most exchanges waiting for a retry per shard.
pub const MAX_PENDING: usize = 1024;

impl Default for Translator {
    fn default() -> Self {
        Self {
            pool: RefCell::new(SessionPool::new(MAX_IDLE, IDLE_TTL)),
            discovered: RefCell::new(HashMap::new()),
            pending: RefCell::new(HashMap::new()),
            next_exchange: Cell::new(1),
            reaper: Cell::new(false),
            live: Rc::new(Cell::new(0)),
        }
    }
}

impl Translator {
    fn next_exchange(&self) -> u64 {
        let id = self.next_exchange.get();
        self.next_exchange.set(id.wrapping_add(1).max(1));
        id
    }
}

/// Whether a modern request to `upstream` is translated rather than passed through.
pub fn translates(verdicts: &EraVerdicts, upstream: UpstreamId, config: &UpstreamConfig) -> bool {
    if config.is_linked() {
        return true;
    }
    match config.era {
        UpstreamEra::Legacy => true,
        UpstreamEra::Auto => verdicts.get(upstream, Instant::now()) == Some(Speaks::Legacy),
        UpstreamEra::Dual | UpstreamEra::Modern => false,
    }
}

/// Whether an `auto` upstream's status to a modern request may be an era refusal (then its body
/// decides): a 4xx, except the ones about credentials, size, time or rate, which say nothing
/// about the era and pass through.
pub fn may_mean_legacy(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 401 | 403 | 407 | 408 | 413 | 429)
}

/// Whether a 4xx body from an `auto` upstream is a recognised 2026-07-28 error (header
/// mismatch, missing capability, unsupported version, unknown method): then the upstream is
/// modern and the answer passes through; anything else means it only speaks legacy.
pub fn is_modern_refusal(body: &[u8]) -> bool {
    use crate::mcp::jsonrpc::{
        HEADER_MISMATCH, METHOD_NOT_FOUND, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION,
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let code = value
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(serde_json::Value::as_i64);
    code.is_some_and(|c| {
        [
            HEADER_MISMATCH,
            MISSING_CLIENT_CAPABILITY,
            UNSUPPORTED_PROTOCOL_VERSION,
            METHOD_NOT_FOUND,
        ]
        .iter()
        .any(|&m| i64::from(m) == c)
    })
}

/// Reads an `auto` upstream's 4xx answer to a modern request: a recognised modern error is
/// relayed to the client as it came (`Some(keep-alive)`); anything else marks the upstream
/// legacy on this shard and returns `None` (the caller translates the request).
///
/// # Errors
/// Client write failures.
pub async fn probe(
    state: &Rc<ShardState>,
    client: &mut crate::http::HttpConn<shards::io::NetStream>,
    head: &crate::http::RequestHead,
    upstream: UpstreamId,
    mut ex: super::exchange::Exchange,
) -> Result<Option<bool>, super::error::ProxyError> {
    use crate::http::Head as _;
    let mut body = Vec::with_capacity(512);
    let read = shards::timeout::within(
        Duration::from_secs(10),
        ex.conn.read_response_body(ex.framing, 64 * 1024, &mut body),
    )
    .await;
    let status = ex.head.status();
    let clean = matches!(read, Some(Ok(()))) && ex.head.keep_alive();
    super::exchange::finish(state, ex, clean);
    if !is_modern_refusal(&body) {
        // Modern clients are translated from now on; legacy clients need no probe now.
        state.era_verdicts.learn(upstream, Speaks::Legacy);
        return Ok(None);
    }
    let keep = head.keep_alive();
    let mut out = Vec::with_capacity(body.len() + 128);
    super::headers::local_response(&mut out, status, Some("application/json"), &[], &body, keep);
    state.metrics.status(status);
    client
        .write_all(&out)
        .await
        .map_err(super::error::ProxyError::Http)?;
    Ok(Some(keep))
}

/// Ends every idle pooled session and drops every pending exchange (shutdown).
pub async fn shutdown(state: &Rc<ShardState>) {
    let idle = state.modern_clients.pool.borrow_mut().drain();
    let pending: Vec<Pending> = state
        .modern_clients
        .pending
        .borrow_mut()
        .drain()
        .map(|(_, p)| p)
        .collect();
    for session in idle {
        session.close(state).await;
    }
    for p in pending {
        drop(p.source);
        p.session.close(state).await;
    }
}

/// Starts (once per shard) the task that ends pooled sessions idle for longer than
/// [`IDLE_TTL`], checking every half TTL until shutdown.
pub(super) fn reap(state: &Rc<ShardState>) {
    if state.modern_clients.reaper.replace(true) {
        return;
    }
    let state = state.clone();
    glommio::spawn_local(async move {
        loop {
            let stopped = futures_lite::future::or(
                async {
                    glommio::timer::sleep(IDLE_TTL / 2).await;
                    false
                },
                async {
                    state.shutdown.wait().await;
                    true
                },
            )
            .await;
            if stopped {
                return;
            }
            let expired = state
                .modern_clients
                .pool
                .borrow_mut()
                .expire(Instant::now());
            for session in expired {
                session.close(&state).await;
            }
        }
    })
    .detach();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_era_statuses_are_probed() {
        assert!(may_mean_legacy(400) && may_mean_legacy(404) && may_mean_legacy(405));
        assert!(!may_mean_legacy(401) && !may_mean_legacy(403) && !may_mean_legacy(429));
        assert!(!may_mean_legacy(200) && !may_mean_legacy(502));
    }

    #[test]
    fn modern_refusals_are_recognised() {
        assert!(is_modern_refusal(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"x"}}"#
        ));
        assert!(is_modern_refusal(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"x"}}"#
        ));
        assert!(!is_modern_refusal(
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Server not initialized"}}"#
        ));
        assert!(!is_modern_refusal(b"Bad Request"));
    }
}
