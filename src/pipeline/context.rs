//! One client message on its way through the pipeline: what the checks found out about it,
//! built once on the owning shard and read by the stages and the upstream adapter.
//!
//! Not here: the connection, the head and the body bytes (the transport holds them and passes
//! them beside the context), deciding anything.

use crate::config::{RouteId, UpstreamId};
use crate::mcp::JsonRpcId;
use std::time::Instant;

use super::{Facts, Principal, RouteStages};
use crate::session::SessionId;

/// The request context of one client message (or batch).
#[derive(Debug)]
pub struct RequestCtx {
    /// What the inspector found in the body.
    pub facts: Facts,
    /// Who sent it (the `authenticate` stage's finding; [`Principal::anonymous`] on a route
    /// without `auth`).
    pub principal: Principal,
    /// The route's stages.
    pub stages: RouteStages,
    /// The route it came in on (a session answers only on the route that opened it).
    pub route: RouteId,
    /// The upstream it goes to (the session's, or the route's).
    pub upstream: UpstreamId,
    /// The client session it belongs to, already checked to be live.
    pub session: Option<SessionId>,
    /// A 2026-07-28 stateless request (no session, cancelled by the client hanging up).
    pub modern: bool,
    /// When its head was read (request latency is measured from here).
    pub started: Instant,
    /// Its connection came here from another shard (moved, relayed or a forwarding link): a
    /// hop it needs later forwards under `runtime.hops = auto` instead of moving again. Set on
    /// the POST path, the only one that can hop later (a 2026-07-28 retry); `false` elsewhere.
    pub hopped: bool,
}

impl RequestCtx {
    /// The id of a 2026-07-28 stateless request: the era stage marks only a single request
    /// modern, so `modern` and the body holding one request go together.
    pub fn modern_request(&self) -> Option<&JsonRpcId> {
        self.facts.request_id().filter(|_| self.modern)
    }

    /// The context of a message of `principal` in a live client session (not a 2026-07-28
    /// stateless request).
    pub fn in_session(
        (facts, principal): (Facts, Principal),
        stages: RouteStages,
        route: RouteId,
        upstream: UpstreamId,
        session: SessionId,
        started: Instant,
    ) -> RequestCtx {
        RequestCtx {
            facts,
            principal,
            stages,
            route,
            upstream,
            session: Some(session),
            modern: false,
            started,
            hopped: false,
        }
    }
}
