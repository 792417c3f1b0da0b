//! GET (the server→client SSE stream, `Last-Event-ID` passed through) and DELETE (end the
//! session here and upstream) on the MCP endpoint: the route's GET/DELETE stage list (head
//! and facts phases: `accept`, `protocol_version`; the `session` lookup here, then the session
//! phase), a request context without a message ([`Facts::bodyless`]), then the session's
//! upstream. Both need a live session.
//!
//! A GET stream's messages pass the interception rules' response side one by one, under the
//! set in force when each arrives (`StreamAnswers`); without a rule that may select them the
//! stream is relayed byte for byte.
//!
//! Not here: the checks (crate::pipeline), POST (post.rs), Host/Origin and routing (server.rs).
//! GET streams are long-lived: no idle timeout while the upstream is silent.

use std::rc::Rc;
use std::time::Instant;

use shards::io::NetStream;
use shards::slab::Lease;

use crate::config::{RouteId, UpstreamId};
use crate::http::{Head, HttpConn, Method as HttpMethod, RequestHead};
use crate::mcp::Method;
use crate::pipeline::{Facts, Flow, Found, Input, Phase, Principal, RequestCtx, RouteStages};
use crate::session::SessionId;
use crate::upstream::runtime::{HttpUpstream, UpstreamRuntime};

use super::error::ProxyError;
use super::exchange::{exchange, finish};
use super::headers::upstream_request;
use super::intercept::{Scope, StreamAnswers};
use super::metrics::Counter;
use super::relay::{relay_exchange, RelayPlan};
use super::state::ShardState;

/// Handles GET or DELETE; returns whether the client connection stays open.
pub async fn bodyless(
    state: &Rc<ShardState>,
    route: RouteId,
    (stages, principal): (&RouteStages, Principal),
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let started = Instant::now();
    super::admit::drain_request_body(state, client, head).await?;
    let is_get = head.method() == HttpMethod::Get;
    let (sid, upstream) = admit(state, (route, stages, &principal), head)?;
    // A DELETE does not end the tape here: the writer ends it once the session is gone from
    // the tables (after the DELETE went through), so a refused DELETE leaves it open.
    if is_get {
        let on = (state.config.route(route), upstream);
        super::record::begin_session(state, on, &sid, "streamable_http");
    }
    let ctx = RequestCtx::in_session(
        (Facts::bodyless(), principal),
        stages.clone(),
        route,
        upstream,
        sid,
        started,
    );
    // Who the stream's messages go to, for the interception rules' response side.
    let scope = Scope {
        route,
        principal: &ctx.principal,
        session: Some(&sid),
    };
    if let Some(translated) = state.l2m.session(&sid) {
        let sid = (sid, scope);
        return super::l2m::get_or_delete(state, client, head, sid, translated, is_get).await;
    }
    let bound = state
        .sessions
        .borrow()
        .peek(&sid)
        .and_then(|entry| entry.link.clone());
    if let Some(bound) = bound {
        let sid = (sid, scope);
        return super::stdio::get_or_delete(state, client, head, sid, bound, is_get).await;
    }

    let upstream = ctx.upstream;
    // Every Streamable HTTP session of a linked upstream holds its link (stdio/post.rs; legacy
    // sessions do not come here): one without is not a session that upstream has.
    let UpstreamRuntime::Http(http) = state.upstream(upstream) else {
        return Err(ProxyError::SessionNotFound { id: None });
    };
    super::authenticate::upstream_token(state, upstream, &ctx.principal, None).await?;
    let request =
        upstream_request_for(state, (upstream, http), (sid, &ctx.principal), head, is_get)?;
    if !is_get {
        // The client asked to end the session: it ends here whatever the upstream says.
        state.sessions.borrow_mut().remove(&sid);
        state.metrics.incr(Counter::SessionsDeleted);
    }

    let ex = exchange(state, upstream, &request, None, false).await?;
    drop(request);
    state.upstream_answered(upstream, ex.head.status(), &ctx.principal);
    if ex.head.status() == 404 && is_get {
        state.sessions.borrow_mut().remove(&sid);
        state.metrics.incr(Counter::SessionsLost);
        finish(state, ex, false);
        return Err(ProxyError::SessionNotFound { id: None });
    }
    // The interception rules' response side on a GET stream: every message by its own method,
    // under the set in force when it arrives.
    let live = is_get.then(|| StreamAnswers::open(state, scope));
    let plan = relay_plan(state, &ctx, &sid, head, live.as_ref());
    let stream_guard = is_get.then(|| state.open_streams.open(sid));
    let keep = relay_exchange(state, client, ex, plan).await;
    drop(stream_guard);
    if is_get {
        // A stream that was open for long counts as use: restart the idle clock.
        let _ = state.sessions.borrow_mut().get_mut(&sid, Instant::now());
    }
    // GET/DELETE carry no JSON-RPC method; they count under `other`.
    state.metrics.request(Method::Other, ctx.started.elapsed());
    Ok(keep)
}

/// Runs the head and facts phases, finds the live session the request names on this route,
/// then runs the session phase; returns the session and the upstream serving it.
fn admit(
    state: &ShardState,
    (route, stages, principal): (RouteId, &RouteStages, &Principal),
    head: &RequestHead,
) -> Result<(SessionId, UpstreamId), ProxyError> {
    // No message: the refusals carry no id.
    let mut found = Found::default();
    let mut input = Input {
        head,
        facts: None,
        session: None,
    };
    for phase in [Phase::Head, Phase::Facts] {
        stages
            .run(Flow::Bodyless, phase, &input, &mut found)
            .map_err(|refusal| ProxyError::refused(refusal, None))?;
    }
    // session.
    let raw = head
        .header("mcp-session-id")
        .ok_or(ProxyError::SessionRequired { id: None })?;
    // A legacy HTTP+SSE session is reached through its own endpoints only.
    let (sid, (upstream, version)) = SessionId::parse(raw)
        .filter(|id| !state.legacy.borrow().contains_key(id))
        .and_then(|id| {
            let sessions = state.sessions.borrow();
            // A session opened on another route, or by someone else, is unknown here.
            let entry = sessions
                .peek(&id)
                .filter(|entry| entry.serves(route, principal))?;
            Some((id, (entry.upstream, entry.version)))
        })
        .ok_or(ProxyError::SessionNotFound { id: None })?;
    input.session = Some(version);
    stages
        .run(Flow::Bodyless, Phase::Session, &input, &mut found)
        .map_err(|refusal| ProxyError::refused(refusal, None))?;
    Ok((sid, upstream))
}

/// Writes the GET or DELETE to send the HTTP upstream, under the upstream's own session id
/// (touching the session: a request counts as use).
fn upstream_request_for<'s>(
    state: &'s ShardState,
    (upstream, http): (UpstreamId, &HttpUpstream),
    (sid, principal): (SessionId, &Principal),
    head: &RequestHead,
    is_get: bool,
) -> Result<Lease<'s>, ProxyError> {
    let configured = state
        .upstream_headers(upstream, principal)
        .map_err(|why| ProxyError::no_token(why, None))?;
    let mut request = state.bufs.lease(1024);
    let mut sessions = state.sessions.borrow_mut();
    let entry = sessions
        .get_mut(&sid, Instant::now())
        .ok_or(ProxyError::SessionNotFound { id: None })?;
    upstream_request(
        &mut request,
        if is_get { "GET" } else { "DELETE" },
        &http.url,
        &configured,
        head,
        entry.upstream_session.as_deref(),
        None,
    );
    Ok(request)
}

/// How the upstream's answer reaches the client: a GET (`live`: its interception rules) is a
/// long-lived stream (no idle timeout, ends on shutdown, keeps the session id), a DELETE a
/// bounded answer.
fn relay_plan<'a>(
    state: &'a ShardState,
    ctx: &'a RequestCtx,
    sid: &'a SessionId,
    head: &RequestHead,
    live: Option<&'a StreamAnswers<'a>>,
) -> RelayPlan<'a> {
    let is_get = live.is_some();
    RelayPlan {
        slot: None,
        session: if is_get { Some(sid.as_str()) } else { None },
        client_keep_alive: head.keep_alive(),
        client_http11: head.minor_version() == 1,
        idle_timeout: if is_get {
            None
        } else {
            Some(state.config.upstream(ctx.upstream).request_timeout)
        },
        max_body: u64::MAX,
        max_sse_event: state.config.limits.max_sse_event_bytes,
        metrics: &state.metrics,
        state,
        stop: is_get.then_some(&state.shutdown),
        // A GET resuming a POST's stream (`Last-Event-ID`) may carry a listing: on a route
        // with stages, a GET stream goes message by message too.
        stages: &ctx.stages,
        rewrite: is_get && (!ctx.stages.is_empty() || live.is_some_and(StreamAnswers::judging)),
        request_id: None,
        live,
    }
}
