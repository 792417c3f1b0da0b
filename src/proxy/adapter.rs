//! The upstream adapters a client message can go to, and the one choice among them: one
//! closed enum, so every path a request can take is listed here.
//!
//! Not here: the adapters themselves (http_upstream.rs; stdio/ for stdio children and legacy
//! SSE upstreams; l2m/ and modern_client/ for the two translation directions).

use std::time::Duration;

use crate::pipeline::RequestCtx;

use super::state::ShardState;

/// Where a POST's message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Adapter {
    /// A Streamable HTTP upstream speaking the client's era: the original bytes, pooled.
    Http,
    /// A stdio child or a legacy HTTP+SSE upstream, through the session's link.
    Link {
        /// The upstream's request timeout.
        timeout: Duration,
    },
    /// A legacy (session) client and a 2026-07-28-only upstream: translated (l2m/). An
    /// `initialize` the translation turns down falls back to [`Adapter::Http`].
    LegacyToModern,
    /// A 2026-07-28 client and a legacy upstream: translated (modern_client/).
    ModernToLegacy,
}

impl Adapter {
    /// The adapter for `ctx` (its upstream's transport and era, the era verdicts learnt on
    /// this shard, the client's era and session).
    pub(super) fn choose(state: &ShardState, ctx: &RequestCtx) -> Adapter {
        if !ctx.modern && super::l2m::may_intercept(state, ctx) {
            return Adapter::LegacyToModern;
        }
        let up = state.config.upstream(ctx.upstream);
        if ctx.modern && super::modern_client::translates(&state.era_verdicts, ctx.upstream, up) {
            return Adapter::ModernToLegacy;
        }
        if up.is_linked() {
            return Adapter::Link {
                timeout: up.request_timeout,
            };
        }
        Adapter::Http
    }
}
