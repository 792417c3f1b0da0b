//! The upstream adapters a client message can go to, and the one choice among them: one
//! closed enum, so every path a request can take is listed here.
//!
//! Not here: the adapters themselves (http_upstream.rs; stdio/ for stdio children and legacy
//! SSE upstreams; l2m/ and modern_client/ for the two translation directions).

use std::rc::Rc;
use std::time::Duration;

use crate::mcp::JsonRpcId;
use crate::pipeline::RequestCtx;
use crate::upstream::children::Children;
use crate::upstream::runtime::{HttpUpstream, UpstreamRuntime};

use super::state::ShardState;

/// Where a POST's message goes, with the upstream's side the path needs (its HTTP pool and
/// URL, or its links): taken from the upstream's runtime here, so no path meets the wrong kind.
/// `'a` borrows the shard's state, `'c` the request context (the request's id).
#[derive(Debug, Clone, Copy)]
pub(super) enum Adapter<'a, 'c> {
    /// A Streamable HTTP upstream speaking the client's era: the original bytes, pooled.
    Http(&'a HttpUpstream),
    /// A stdio child or a legacy HTTP+SSE upstream, through the session's link.
    Link {
        /// The upstream's links.
        children: &'a Rc<Children>,
        /// The upstream's request timeout.
        timeout: Duration,
    },
    /// A legacy (session) client and a 2026-07-28-only upstream (HTTP): translated (l2m/).
    /// An `initialize` the translation turns down falls back to [`Adapter::Http`].
    LegacyToModern(&'a HttpUpstream),
    /// A 2026-07-28 client and a legacy upstream: translated (modern_client/), answered under
    /// the request's id.
    ModernToLegacy(&'c JsonRpcId),
}

impl<'a, 'c> Adapter<'a, 'c> {
    /// The adapter for `ctx` (its upstream's transport and era, the era verdicts learnt on
    /// this shard, the client's era and session).
    pub(super) fn choose(state: &'a ShardState, ctx: &'c RequestCtx) -> Adapter<'a, 'c> {
        let runtime = state.upstream(ctx.upstream);
        if let UpstreamRuntime::Http(http) = runtime {
            // Translation to a modern upstream is for HTTP upstreams only (detect.rs).
            if !ctx.modern && super::l2m::may_intercept(state, ctx) {
                return Adapter::LegacyToModern(http);
            }
        }
        let up = state.config.upstream(ctx.upstream);
        if let Some(id) = ctx.modern_request() {
            if super::modern_client::translates(&state.era_verdicts, ctx.upstream, up) {
                return Adapter::ModernToLegacy(id);
            }
        }
        match runtime {
            UpstreamRuntime::Linked(children) => Adapter::Link {
                children,
                timeout: up.request_timeout,
            },
            UpstreamRuntime::Http(http) => Adapter::Http(http),
        }
    }
}
