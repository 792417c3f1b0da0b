//! Whether a legacy client's `initialize` is translated, from the upstream's configured era and,
//! for `era = "auto"`, a `server/discover` probe (cached per shard for [`VERDICT_TTL`]):
//! only modern versions listed → translate; legacy versions listed too (dual), an error or a
//! 4xx (a legacy server refusing a request without a session) → pass through. A 5xx, a
//! 401/403 or an unreachable upstream decides nothing (pass through, probe again next time);
//! no answer within [`PROBE_TIMEOUT`] counts as legacy.
//!
//! Not here: the initialize answer (post.rs), parsing the discover result (discover.rs).

use crate::config::{UpstreamId, UpstreamUrl};
use crate::session::Principal;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::UpstreamEra;
use crate::http::RequestHead;
use crate::mcp::JsonRpcId;

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::discover;
use super::upstream::{self, AuthRefusal};
use super::wire::{self, ClientMeta};
use crate::session::l2m::Discovered;
use crate::upstream::era_verdicts::{Speaks, VERDICT_TTL};
use shards::timeout::within;

/// Longest wait for an `era = "auto"` probe's answer; no answer by then means legacy.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What becomes of a legacy `initialize`.
#[derive(Debug)]
pub enum Decision {
    /// Translated: answered from this discover result.
    Translate(Rc<Discovered>),
    /// Passed through to the upstream as before.
    PassThrough,
    /// `era = "modern"` and the upstream refused the request (401/403): relayed as is.
    Refused(AuthRefusal),
}

/// A cheap first look (no I/O, no parsing): false when the `initialize` certainly passes
/// through — a `dual`/`legacy`/non-HTTP upstream, or `auto` with a fresh pass-through verdict.
pub fn may_translate(state: &ShardState, upstream: UpstreamId) -> bool {
    let up = state.config.upstream(upstream);
    up.http().is_some()
        && match up.era {
            UpstreamEra::Modern => true,
            UpstreamEra::Auto => matches!(
                state.era_verdicts.get(upstream, Instant::now()),
                None | Some(Speaks::Modern)
            ),
            UpstreamEra::Dual | UpstreamEra::Legacy => false,
        }
}

/// Whether a legacy `initialize` is translated (and from which discover result).
///
/// # Errors
/// `era = "modern"` and the upstream's `server/discover` failed (the client gets the error:
/// there is nothing to pass through to).
pub async fn for_initialize(
    state: &Rc<ShardState>,
    (upstream, principal): (UpstreamId, &Principal),
    head: &RequestHead,
    meta: &ClientMeta<'_>,
    id: Option<&JsonRpcId>,
) -> Result<Decision, ProxyError> {
    let up = state.config.upstream(upstream);
    let Some(url) = up.http() else {
        return Ok(Decision::PassThrough);
    };
    let auto = match up.era {
        UpstreamEra::Dual | UpstreamEra::Legacy => return Ok(Decision::PassThrough),
        UpstreamEra::Auto => true,
        UpstreamEra::Modern => false,
    };
    let now = Instant::now();
    if auto
        && matches!(
            state.era_verdicts.get(upstream, now),
            Some(Speaks::Dual | Speaks::Legacy)
        )
    {
        return Ok(Decision::PassThrough);
    }
    if let Some(found) = state.l2m.shared_discover(upstream, now) {
        return Ok(Decision::Translate(found));
    }
    // `auto` must not hold a legacy client's `initialize` for a whole request timeout when a
    // legacy upstream leaves the probe unanswered: a silent probe counts as legacy.
    let probe = if auto {
        within(
            PROBE_TIMEOUT,
            probe(state, (upstream, principal), url, head, meta, id),
        )
        .await
        .unwrap_or(Probe::Refused)
    } else {
        probe(state, (upstream, principal), url, head, meta, id).await
    };
    let remember = |speaks| state.era_verdicts.learn(upstream, speaks);
    match probe {
        Probe::Found(found) if auto && found.serves_legacy => {
            remember(Speaks::Dual);
            Ok(Decision::PassThrough)
        }
        Probe::Found(found) => {
            if auto {
                remember(Speaks::Modern);
            }
            let found = Rc::new(found);
            if let Some(ttl) = found.shareable_for {
                state.l2m.discovered.borrow_mut().insert(
                    upstream,
                    (found.clone(), Instant::now() + ttl.min(VERDICT_TTL)),
                );
            }
            Ok(Decision::Translate(found))
        }
        Probe::Refused if auto => {
            // Not modern: modern clients get translated from now on without a failed try.
            remember(Speaks::Legacy);
            Ok(Decision::PassThrough)
        }
        // Credentials refused: says nothing about the era. `auto` passes the initialize
        // through (the upstream refuses it the same way) and probes again next time.
        Probe::Auth(_) | Probe::Unknown(_) if auto => Ok(Decision::PassThrough),
        Probe::Auth(refusal) => Ok(Decision::Refused(refusal)),
        Probe::Refused => Err(ProxyError::UpstreamUnavailable {
            id: id.cloned(),
            reason: "the modern upstream refused server/discover".into(),
        }),
        Probe::Unknown(e) => Err(e),
    }
}

/// What a `server/discover` probe found.
enum Probe {
    /// A 2026-07-28 discover result.
    Found(Discovered),
    /// A 4xx or a message that is no modern discover result: not a modern server.
    Refused,
    /// No answer worth remembering (unreachable, 5xx, timeout).
    Unknown(ProxyError),
    /// 401/403: the upstream refused the request (says nothing about its era).
    Auth(AuthRefusal),
}

/// `server/discover` sent to `upstream`, a Streamable HTTP upstream at `url`.
async fn probe(
    state: &Rc<ShardState>,
    (upstream, principal): (UpstreamId, &Principal),
    url: &UpstreamUrl,
    head: &RequestHead,
    meta: &ClientMeta<'_>,
    id: Option<&JsonRpcId>,
) -> Probe {
    let timeout = state.config.upstream(upstream).request_timeout;
    let body = match wire::discover_body(meta) {
        Ok(body) => body,
        Err(_) => return Probe::Unknown(ProxyError::Internal("discover body")),
    };
    if let Err(why) = state.exchange_for(upstream, principal).await {
        return Probe::Unknown(ProxyError::no_token(why, id.cloned()));
    }
    let configured = match state.upstream_headers(upstream, principal) {
        Ok(configured) => configured,
        Err(why) => return Probe::Unknown(ProxyError::no_token(why, id.cloned())),
    };
    let mut request = Vec::with_capacity(body.len() + 512);
    wire::request_head(
        &mut request,
        (url, &configured),
        head,
        "server/discover",
        None,
        body.len(),
    );
    request.extend_from_slice(&body);
    let mut reply = match upstream::send(state, upstream, &request, id).await {
        Ok(reply) => reply,
        Err(e) => return Probe::Unknown(e),
    };
    let status = reply.status();
    state.upstream_answered(upstream, status, principal);
    if let Some(refusal) = reply.auth_refusal(id, timeout).await {
        reply.finish(state);
        return Probe::Auth(refusal);
    }
    // Read up to the response (or whatever is not a notification); an upstream that lingers on
    // its SSE stream afterwards (keep-alive comments) must not hold the probe, nor turn a slow
    // close into a "silent" legacy verdict.
    let (found, failed) = loop {
        match reply.next(id, timeout).await {
            Ok(Some(message)) if wire::shape(&message) == wire::Shape::Notification => {}
            Ok(Some(message)) => {
                reply.release(state, timeout);
                break (Some(discover::parse(&message)), None);
            }
            Ok(None) => {
                reply.finish(state);
                break (None, None);
            }
            Err(e) => break (None, Some(e)),
        }
    };
    tracing::debug!(
        upstream = upstream.compact(),
        status,
        "server/discover probe"
    );
    match (status, found, failed) {
        (200..=299, Some(Some(found)), _) => Probe::Found(found),
        (500..=599, _, _) => Probe::Unknown(ProxyError::UpstreamUnavailable {
            id: id.cloned(),
            reason: format!("server/discover answered {status}"),
        }),
        (_, _, Some(e)) => Probe::Unknown(e),
        _ => Probe::Refused,
    }
}
