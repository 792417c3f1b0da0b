//! POST on the MCP endpoint, up to the upstream adapter: the route's POST stage list phase by
//! phase (head; the body read and inspected here; facts; the session looked up here, then the
//! session phase; the session limit here), the request side of the configured stages, the
//! request context, then the one choice of adapter (adapter.rs).
//!
//! Not here: the checks (crate::pipeline), connection handling, Host/Origin and routing
//! (server.rs), the adapters (http_upstream.rs, stdio/, l2m/, modern_client/).
//! Hot path: the body lands in a pooled buffer and simd-json parses a scratch copy; the
//! context moves the facts, it copies nothing.

use std::rc::Rc;
use std::time::Instant;

use shards::io::NetStream;
use shards::slab::Lease;

use crate::config::{RouteConfig, RouteId, UpstreamId};
use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::ProtocolVersion;
use crate::pipeline::{
    facts, Facts, Flow, Found, Input, Phase, Principal, RequestCtx, RouteStages,
};
use crate::session::SessionId;

use super::adapter::Adapter;
use super::admit::{admit_by_stages, read_request_body};
use super::error::ProxyError;
use super::http_upstream;
use super::intercept::{answer_scope, begin, defers_note, note_decided, Begun, Intercepted, Scope};
use super::metrics::Counter;
use super::state::{RequestSlot, ShardState};
use super::stdio::answer::{write_empty, write_json, ClientShape};

/// Where this POST goes upstream.
struct Target {
    upstream: UpstreamId,
    client_session: Option<SessionId>,
    /// A 2026-07-28 (stateless) request: no session, served on this shard.
    modern: bool,
}

/// Handles one POST on `route` (on a connection that `hopped` here from another shard, or not);
/// returns whether the client connection stays open.
pub async fn post(
    state: &Rc<ShardState>,
    (route_id, route, hopped): (RouteId, &RouteConfig, bool),
    (stages, principal): (&RouteStages, Principal),
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let started = Instant::now();
    let mut found = Found::default();
    let before_body = Input {
        head,
        facts: None,
        session: None,
    };
    stages
        .run(Flow::Post, Phase::Head, &before_body, &mut found)
        .map_err(|refusal| ProxyError::refused(refusal, None))?;

    // body_limit, inspect.
    let mut body = state.bufs.lease(4096);
    read_request_body(state, client, head, &mut body).await?;
    let mut facts = facts(state.inspector.borrow_mut().inspect(&body)?);
    super::audit::note_message(state, &facts, &body);
    let target = after_body(
        state,
        (stages, &principal),
        (route_id, route),
        head,
        &facts,
        &mut found,
    )?;
    let deferred = begin_recording(state, route, &target, &facts, &body);
    let shape = ClientShape {
        ..ClientShape::of(head)
    };
    if !admit(
        state,
        (stages, route_id, &principal),
        &facts,
        (&body, deferred),
    )
    .await?
    {
        return write_empty(state, client, 202, shape).await;
    }
    // intercept: the operator's rules (may hold, change or answer the message).
    let scope = Scope {
        route: route_id,
        principal: &principal,
        session: target.client_session.as_ref(),
    };
    let split = match intercept(state, scope, (&mut facts, &mut body), deferred).await? {
        Intercepted::Forward { .. } => None,
        Intercepted::Drop => return write_empty(state, client, 202, shape).await,
        Intercepted::Answer(answer) => return write_json(state, client, &answer, shape).await,
        // A blocked batch's client answers go on; its requests are answered here.
        Intercepted::Split { answer, .. } => Some(answer),
    };
    let answers = answer_scope(state, scope, &facts);
    // max_in_flight: held until the answer is relayed (or complete and held by a rule).
    let slot = state
        .upstream_slot(target.upstream)
        .map_err(|()| ProxyError::UpstreamBusy {
            id: facts.id().cloned(),
        })?;
    let slot = RequestSlot::new(slot);
    let ctx = RequestCtx {
        facts,
        principal,
        stages: stages.with_answers(answers).into_owned(),
        route: route_id,
        upstream: target.upstream,
        session: target.client_session,
        modern: target.modern,
        started,
        hopped,
    };
    if let Some(answer) = split {
        Box::pin(super::split::deliver_answers(state, head, body, &ctx)).await?;
        return write_json(state, client, &answer, shape).await;
    }
    to_adapter(state, client, head, body, (&ctx, &slot)).await
}

/// The request's tape, and its message noted on it unless request rules are in force
/// (`true`: the note is deferred until interception decided).
fn begin_recording(
    state: &ShardState,
    route: &RouteConfig,
    target: &Target,
    facts: &Facts,
    body: &[u8],
) -> bool {
    super::record::begin_post(
        state,
        (route, target.upstream),
        (target.client_session.as_ref(), target.modern),
        facts.version,
    );
    let deferred = defers_note(state);
    if !deferred {
        super::record::note_post(body, None);
    }
    deferred
}

/// The `intercept` stage, and the deferred recording of the message with its outcome.
async fn intercept(
    state: &ShardState,
    scope: Scope<'_>,
    (facts, body): (&mut Facts, &mut Vec<u8>),
    deferred: bool,
) -> Result<Intercepted, ProxyError> {
    let outcome = match begin(state, scope, facts, body) {
        Ok(Begun::Held(hold)) => {
            // Boxed: a rare path's large future must not size every POST's (issue 13).
            let outcome = Box::pin(hold.finish(state, scope, facts, body)).await;
            outcome.and_then(|outcome| still_live(state, scope, facts, outcome))
        }
        Ok(Begun::Decided(outcome)) => Ok(outcome),
        Err(e) => Err(e),
    };
    if deferred {
        note_decided(body, outcome.as_ref().ok());
    }
    outcome
}

/// After a hold: the message's session, looked up again (and so touched), must still be
/// there for it to go on (deleted or expired meanwhile: 404, -32001).
fn still_live(
    state: &ShardState,
    scope: Scope<'_>,
    facts: &Facts,
    outcome: Intercepted,
) -> Result<Intercepted, ProxyError> {
    let Some(session) = scope.session else {
        return Ok(outcome);
    };
    let live = state
        .sessions
        .borrow_mut()
        .get_mut(session, Instant::now())
        .is_some();
    match outcome {
        Intercepted::Forward { .. } if !live => Err(ProxyError::SessionNotFound {
            id: facts.id().cloned(),
        }),
        outcome => Ok(outcome),
    }
}

/// The request side of the route's stages (`Ok(false)`: a notification they dropped), then
/// `rate_limit`: after the stages that refuse for free, before anything goes upstream. A
/// message whose recording was `deferred` (request rules in force) is recorded here when it
/// goes no further.
async fn admit(
    state: &Rc<ShardState>,
    (stages, route, principal): (&RouteStages, RouteId, &Principal),
    facts: &Facts,
    (body, deferred): (&[u8], bool),
) -> Result<bool, ProxyError> {
    let admitted = match admit_by_stages(state, stages, facts) {
        Ok(true) => super::rates::admit(state, route, principal, facts)
            .await
            .map(|()| true),
        other => other,
    };
    if deferred && !matches!(admitted, Ok(true)) {
        note_decided(body, None);
    }
    admitted
}

/// The list's phases once the body is read (facts, then session for a request that is not
/// stateless) and the session limit: where the request goes, or its refusal (carrying the
/// request's id).
fn after_body(
    state: &ShardState,
    (stages, principal): (&RouteStages, &Principal),
    (route_id, route): (RouteId, &RouteConfig),
    head: &RequestHead,
    facts: &Facts,
    found: &mut Found,
) -> Result<Target, ProxyError> {
    let with_facts = Input {
        head,
        facts: Some(facts),
        session: None,
    };
    stages
        .run(Flow::Post, Phase::Facts, &with_facts, found)
        .map_err(|refusal| ProxyError::refused(refusal, facts.id().cloned()))?;
    let target = if found.modern {
        // Stateless: no session lookup (a modern-only route ignores Mcp-Session-Id), served
        // on this shard.
        state.metrics.incr(Counter::ModernRequests);
        Target {
            upstream: route.upstream,
            client_session: None,
            modern: true,
        }
    } else {
        resolve_target(
            state,
            (stages, principal),
            (route_id, route.upstream),
            head,
            facts,
            found,
        )?
    };
    // session_limit.
    if facts.is_initialize && state.sessions.borrow().len() >= state.config.sessions.max_per_shard {
        // Refused before the upstream creates a session that could never be used.
        return Err(ProxyError::TooManySessions {
            id: facts.id().cloned(),
        });
    }
    Ok(target)
}

/// The one call to the upstream adapter `Adapter::choose` picks for `ctx`.
async fn to_adapter(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: Lease<'_>,
    (ctx, slot): (&RequestCtx, &RequestSlot),
) -> Result<bool, ProxyError> {
    match Adapter::choose(state, ctx) {
        Adapter::LegacyToModern(http) => {
            // An `initialize` the translation turns down (the upstream is legacy after all)
            // passes through to the HTTP adapter.
            // The translations are boxed: their large futures would otherwise size every
            // connection's (issue 13, memory per open stream).
            if let Some(served) =
                Box::pin(super::l2m::intercept(state, http, client, head, &body, ctx)).await
            {
                return served;
            }
            http_upstream::post(state, http, client, head, body, (ctx, slot)).await
        }
        Adapter::ModernToLegacy(id) => {
            Box::pin(super::modern_client::serve(
                state, client, head, &body, ctx, id,
            ))
            .await
        }
        Adapter::Link { children, timeout } => {
            let ctx = (ctx, slot);
            super::stdio::post(state, children, client, head, body, ctx, timeout).await
        }
        Adapter::Http(http) => {
            http_upstream::post(state, http, client, head, body, (ctx, slot)).await
        }
    }
}

/// The `session` stage (this shard's session table), then the session phase of the list
/// (`batch`, which reads the session's version).
fn resolve_target(
    state: &ShardState,
    (stages, principal): (&RouteStages, &Principal),
    (route, route_upstream): (RouteId, UpstreamId),
    head: &RequestHead,
    facts: &Facts,
    found: &mut Found,
) -> Result<Target, ProxyError> {
    let session = match head.header("mcp-session-id") {
        // initialize, or a stateless request: served where it landed.
        None => None,
        Some(raw) => Some(lookup(state, (route, principal), raw, facts)?),
    };
    let input = Input {
        head,
        facts: Some(facts),
        session: session.as_ref().map(|(_, _, version)| *version),
    };
    stages
        .run(Flow::Post, Phase::Session, &input, found)
        .map_err(|refusal| ProxyError::refused(refusal, facts.id().cloned()))?;
    Ok(match session {
        None => Target {
            upstream: route_upstream,
            client_session: None,
            modern: false,
        },
        Some((id, upstream, _)) => Target {
            upstream,
            client_session: Some(id),
            modern: false,
        },
    })
}

/// The live session `raw` names on `route` for `principal` (touched: its idle clock
/// restarts): its id, upstream and the version its client asked for.
fn lookup(
    state: &ShardState,
    (route, principal): (RouteId, &Principal),
    raw: &[u8],
    facts: &Facts,
) -> Result<(SessionId, UpstreamId, Option<ProtocolVersion>), ProxyError> {
    let not_found = || ProxyError::SessionNotFound {
        id: facts.id().cloned(),
    };
    let id = SessionId::parse(raw)
        .filter(|id| !state.legacy.borrow().contains_key(id))
        .ok_or_else(not_found)?;
    let mut sessions = state.sessions.borrow_mut();
    let entry = sessions
        .get_mut(&id, Instant::now())
        // A session opened on another route, or by someone else, is unknown here.
        .filter(|entry| entry.serves(route, principal))
        .ok_or_else(not_found)?;
    Ok((id, entry.upstream, entry.version))
}

#[cfg(test)]
#[path = "stage_answers_tests.rs"]
mod stage_answers_tests;
