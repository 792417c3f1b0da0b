//! POST on the MCP endpoint, up to the upstream adapter: the checks in order (Accept,
//! Content-Type, body, inspection, era, session, session limit), the request side of the
//! route's stages, the request context, then the one choice of adapter (adapter.rs).
//!
//! Not here: connection handling and shard routing (server.rs), the adapters
//! (http_upstream.rs, stdio/, l2m/, modern_client/).
//! Hot path: the body lands in a pooled buffer and simd-json parses a scratch copy; the
//! context moves the facts, it copies nothing.

use std::rc::Rc;
use std::time::Instant;

use shards::io::NetStream;

use crate::config::{RouteConfig, RouteId, UpstreamId};
use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::ProtocolVersion;
use crate::pipeline::{facts, Facts, Principal, RequestCtx, RouteStages};
use crate::session::SessionId;

use super::adapter::Adapter;
use super::admit::{admit_by_stages, read_request_body};
use super::era::{self, Era};
use super::error::ProxyError;
use super::guard;
use super::http_upstream;
use super::metrics::Counter;
use super::state::ShardState;
use super::stdio::answer::{write_empty, ClientShape};

/// Where this POST goes upstream.
struct Target {
    upstream: UpstreamId,
    client_session: Option<SessionId>,
}

/// Handles one POST on `route`; returns whether the client connection stays open.
pub async fn post(
    state: &Rc<ShardState>,
    (route_id, route): (RouteId, &RouteConfig),
    stages: &RouteStages,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let started = Instant::now();
    guard::check_post_accept(head)?;
    guard::check_content_type(head)?;

    let mut body = state.bufs.lease(4096);
    read_request_body(state, client, head, &mut body).await?;
    let facts = facts(state.inspector.borrow_mut().inspect(&body)?);
    // After the body: the errors carry the request's id (and a modern request's version).
    let modern = era::classify(head, &facts, route.era)? == Era::Modern;
    let header_version = head
        .header("mcp-protocol-version")
        .and_then(ProtocolVersion::parse);
    let target = if modern {
        // Stateless: no session lookup (a modern-only route ignores Mcp-Session-Id), served
        // on this shard.
        state.metrics.incr(Counter::ModernRequests);
        Target {
            upstream: route.upstream,
            client_session: None,
        }
    } else {
        resolve_target(
            state,
            (route_id, route.upstream),
            head,
            &facts,
            header_version,
        )?
    };
    if facts.is_initialize && state.sessions.borrow().len() >= state.config.sessions.max_per_shard {
        // Refused before the upstream creates a session that could never be used.
        return Err(ProxyError::TooManySessions { id: facts.id });
    }
    if !admit_by_stages(state, stages, &facts)? {
        let shape = ClientShape {
            keep_alive: head.keep_alive(),
            http11: head.minor_version() == 1,
            session: None,
            stages: None,
        };
        return write_empty(state, client, 202, shape).await;
    }
    let ctx = RequestCtx {
        facts,
        principal: Principal::anonymous(),
        stages: stages.clone(),
        route: route_id,
        upstream: target.upstream,
        session: target.client_session,
        modern,
        started,
    };
    match Adapter::choose(state, &ctx) {
        Adapter::LegacyToModern => {
            // An `initialize` the translation turns down (the upstream is legacy after all)
            // passes through to the HTTP adapter.
            // The translations are boxed: their large futures would otherwise size every
            // connection's (issue 13, memory per open stream).
            if let Some(served) =
                Box::pin(super::l2m::intercept(state, client, head, &body, &ctx)).await
            {
                return served;
            }
            http_upstream::post(state, client, head, body, &ctx).await
        }
        Adapter::ModernToLegacy => {
            Box::pin(super::modern_client::serve(
                state, client, head, &body, &ctx,
            ))
            .await
        }
        Adapter::Link { timeout } => {
            super::stdio::post(state, client, head, body, &ctx, timeout).await
        }
        Adapter::Http => http_upstream::post(state, client, head, body, &ctx).await,
    }
}

fn resolve_target(
    state: &ShardState,
    (route, route_upstream): (RouteId, UpstreamId),
    head: &RequestHead,
    facts: &Facts,
    header_version: Option<ProtocolVersion>,
) -> Result<Target, ProxyError> {
    let Some(raw) = head.header("mcp-session-id") else {
        if facts.is_batch && header_version != Some(ProtocolVersion::V2025_03_26) {
            return Err(ProxyError::BatchNotAllowed);
        }
        // initialize, or a stateless request: served where it landed.
        return Ok(Target {
            upstream: route_upstream,
            client_session: None,
        });
    };
    let id = SessionId::parse(raw)
        .filter(|id| !state.legacy.borrow().contains_key(id))
        .ok_or(ProxyError::SessionNotFound {
            id: facts.id.clone(),
        })?;
    let mut sessions = state.sessions.borrow_mut();
    let entry = sessions
        .get_mut(&id, Instant::now())
        // A session opened on another route is not this route's: unknown here.
        .filter(|entry| entry.route == route)
        .ok_or(ProxyError::SessionNotFound {
            id: facts.id.clone(),
        })?;
    if facts.is_batch {
        // Batches only on 2025-03-26 sessions (MCP-NOTES §11.1). The negotiated version is what
        // the client sends in `MCP-Protocol-Version` after `initialize` (the pass-through relay
        // does not parse the upstream's `initialize` answer); without the header, the version
        // the client asked for (an upstream may have answered a lower one the client then sends).
        let version = header_version.or(entry.version);
        if version.unwrap_or(ProtocolVersion::V2025_03_26) != ProtocolVersion::V2025_03_26 {
            return Err(ProxyError::BatchNotAllowed);
        }
    }
    Ok(Target {
        upstream: entry.upstream,
        client_session: Some(id),
    })
}
