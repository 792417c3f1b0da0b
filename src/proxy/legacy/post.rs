//! `POST messages_path?sessionId=ID`: the checks /mcp makes where they apply (Content-Type,
//! `MCP-Protocol-Version`, body size, JSON-RPC), the session lookup (404 -32001), the request
//! context and the route's request-side stages (`admit_by_stages`, as on /mcp), the rate limit
//! and the upstream's `max_in_flight` (429 or 503 on the POST itself, before any 202), the one
//! choice of upstream adapter (`Adapter::choose`), then `202 Accepted` at once; the exchange
//! with the upstream runs in a task of its own and delivers on the session's stream.
//!
//! Not here: the exchanges themselves (http.rs, stdio.rs, modern.rs for a modern upstream),
//! the stream (stream.rs).
//! Requests reach a stdio child in arrival order: the write to the child happens here, before
//! the 202, and only the wait for its answer runs in the background.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use shards::io::NetStream;

use crate::http::{Head, HttpConn, RequestHead};
use crate::session::SessionId;

use super::super::adapter::Adapter;
use super::super::admit::{admit_by_stages, read_request_body};
use super::super::error::ProxyError;
use super::super::guard;
use super::super::headers::{legacy_upstream_request, local_response};
use super::super::l2m::post::Hello;
use super::super::respond::error_message;
use super::super::state::{ShardState, Slot};
use super::held::{self, decided, Admitted};
use super::{deliver, http, live, modern, session_param, stdio, LegacyOut, Work};
use crate::config::{RouteId, UpstreamId, UpstreamUrl};
use crate::mcp::ProtocolVersion;
use crate::pipeline::{facts, Principal, RequestCtx, RouteStages};
use crate::proxy::intercept::{begin, defers_note, note_decided, Begun, Scope};
use crate::upstream::runtime::UpstreamRuntime;

/// Handles one legacy POST; returns whether the connection stays open.
pub(super) async fn post(
    state: &Rc<ShardState>,
    (route, stages, principal): (RouteId, &RouteStages, Principal),
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let started = Instant::now();
    guard::check_content_type(head)?;
    guard::check_version(head)?;
    let mut body = state.bufs.take(4096);
    read_request_body(state, client, head, &mut body).await?;
    let raw_sid = session_param(head);
    let inspected = state.inspector.borrow_mut().inspect(&body);
    let facts = match (raw_sid, inspected) {
        (None, inspected) => {
            let id = inspected.ok().map(facts).and_then(|f| f.id().cloned());
            return Err(ProxyError::LegacySessionRequired { id });
        }
        (Some(_), Err(e)) => return Err(e.into()),
        (Some(_), Ok(inspected)) => facts(inspected),
    };
    crate::proxy::audit::note_message(state, &facts, &body);
    if facts.is_batch() {
        // 2024-11-05 has no batches, and the stream carries one message per event.
        return Err(ProxyError::BatchNotAllowed);
    }
    let not_found = || ProxyError::SessionNotFound {
        id: facts.id().cloned(),
    };
    let sid = raw_sid.and_then(SessionId::parse).ok_or_else(not_found)?;
    let out = live(state, &sid).ok_or_else(not_found)?;
    let (upstream, upstream_session, version) =
        session_of(state, &sid, (route, &principal)).ok_or_else(not_found)?;
    let on = (state.config.route(route), upstream);
    crate::proxy::record::begin_session(state, on, &sid, "legacy_sse");
    // With request rules, the message is recorded once interception decided.
    let deferred = defers_note(state);
    if !deferred {
        crate::proxy::record::note_post(&body, None);
    }
    let mut ctx = RequestCtx::in_session(
        (facts, principal),
        stages.clone(),
        route,
        upstream,
        sid,
        started,
    );
    let method = ctx.facts.method;
    let session = (upstream_session, version);
    match admit_message(state, &mut ctx, (&mut body, deferred), &sid)? {
        // Dropped, or answered on the stream: accepted, nothing goes upstream.
        Admitted::Stop => return accepted(state, client, head, method, started).await,
        // Held by a rule: accepted at once (a paused message holds only itself; the SDK posts
        // one message at a time), the hold and the rest run in a task of their own.
        Admitted::Held(hold) => {
            let message = held::Held {
                ctx,
                body,
                deferred,
                sid,
                head: head.clone(),
                session,
            };
            held::spawn(state, hold, message, forward_owned);
            return accepted(state, client, head, method, started).await;
        }
        Admitted::Go => {}
    }
    forward(state, ctx, (sid, &out), head, body, session).await?;
    accepted(state, client, head, method, started).await
}

/// [`forward`], owning what it takes (after a hold, in the hold's task).
fn forward_owned(
    state: Rc<ShardState>,
    ctx: RequestCtx,
    (sid, out): (SessionId, Rc<LegacyOut>),
    head: RequestHead,
    body: Vec<u8>,
    session: held::Session,
) -> Pin<Box<dyn Future<Output = Result<(), ProxyError>>>> {
    Box::pin(async move { forward(&state, ctx, (sid, &out), &head, body, session).await })
}

/// Sends an admitted message upstream: the rate limit, the upstream's slot and token, then
/// the exchange, whose answers go on the stream.
///
/// # Errors
/// A refusal (the caller answers it on the POST, or on the stream after a hold).
async fn forward(
    state: &Rc<ShardState>,
    ctx: RequestCtx,
    (sid, out): (SessionId, &Rc<LegacyOut>),
    head: &RequestHead,
    body: Vec<u8>,
    session: (Option<Box<str>>, Option<ProtocolVersion>),
) -> Result<(), ProxyError> {
    let slot = admit_upstream(state, &ctx).await?;
    // Its answer, if it is a `tools/list`, is judged when it reaches the stream (`deliver`);
    // noted before it goes out, as an answer may be delivered before `send` returns.
    let listing = out.stages.expect(ctx.facts.method, ctx.facts.request_id());
    let sent = send(state, ctx, (sid, out, slot), head, body, session);
    if let (Err(_), Some(id)) = (&sent, &listing) {
        out.stages.forget(id);
    }
    sent
}

/// The request side of the route's stages, then interception: `Stop` when the message goes
/// no further (a dropped notification, or a request answered on the stream, like every
/// answer here), `Held` when a rule holds it (its note on the tape waits for the decision).
///
/// # Errors
/// A message a rule changed that the inspector refuses.
fn admit_message(
    state: &ShardState,
    ctx: &mut RequestCtx,
    (body, deferred): (&mut Vec<u8>, bool),
    sid: &SessionId,
) -> Result<Admitted, ProxyError> {
    let admitted = admit_by_stages(state, &ctx.stages, &ctx.facts);
    if deferred && !matches!(admitted, Ok(true)) {
        note_decided(body, None);
    }
    match admitted {
        Ok(true) => {}
        Ok(false) => return Ok(Admitted::Stop),
        Err(refused) => {
            crate::proxy::audit::note_error(&refused);
            let mut message = Vec::with_capacity(128);
            error_message(&mut message, &refused, ctx.facts.id());
            deliver(state, sid, message);
            return Ok(Admitted::Stop);
        }
    }
    let scope = Scope {
        route: ctx.route,
        principal: &ctx.principal,
        session: ctx.session.as_ref(),
    };
    let outcome = match begin(state, scope, &mut ctx.facts, body) {
        Ok(Begun::Held(hold)) => return Ok(Admitted::Held(hold)),
        Ok(Begun::Decided(outcome)) => Ok(outcome),
        Err(e) => Err(e),
    };
    if deferred {
        note_decided(body, outcome.as_ref().ok());
    }
    Ok(decided(state, sid, outcome?))
}

/// The POST for a Streamable HTTP upstream at `url`: head (the upstream's session id
/// `upstream_session`, the client's `version`) and the client's `body`.
///
/// # Errors
/// No token for the upstream.
fn http_request(
    state: &ShardState,
    (ctx, url): (&RequestCtx, &UpstreamUrl),
    head: &RequestHead,
    body: Vec<u8>,
    (upstream_session, version): (Option<&str>, Option<ProtocolVersion>),
) -> Result<Vec<u8>, ProxyError> {
    let configured = state
        .upstream_headers(ctx.upstream, &ctx.principal)
        .map_err(|why| ProxyError::no_token(why, ctx.facts.id().cloned()))?;
    let mut request = state.bufs.take(body.len() + 1024);
    legacy_upstream_request(
        &mut request,
        "POST",
        url,
        &configured,
        Some(head),
        upstream_session,
        version.map(ProtocolVersion::as_str),
        Some(body.len()),
    );
    request.extend_from_slice(&body);
    state.bufs.give(body);
    Ok(request)
}

/// The session `sid` as `principal` may use it on `route` (a session opened on another
/// route's stream, or by someone else, is unknown here): its upstream, the upstream's session
/// id and the version.
fn session_of(
    state: &ShardState,
    sid: &SessionId,
    (route, principal): (RouteId, &Principal),
) -> Option<(UpstreamId, Option<Box<str>>, Option<ProtocolVersion>)> {
    let mut sessions = state.sessions.borrow_mut();
    let entry = sessions
        .get_mut(sid, Instant::now())
        .filter(|entry| entry.serves(route, principal))?;
    Some((
        entry.upstream,
        entry.upstream_session.clone(),
        entry.version,
    ))
}

/// What lets the request go upstream, refused on the POST itself (no 202 written yet: the
/// client SDK sees the refusal, nothing reaches the stream): the rate limit (429), a
/// `max_in_flight` slot (503 + Retry-After; the exchange holds it until its answer is on the
/// stream), then the upstream's token (an exchange of the caller's token: 403/503).
///
/// # Errors
/// The refusal.
async fn admit_upstream(
    state: &Rc<ShardState>,
    ctx: &RequestCtx,
) -> Result<Option<Slot>, ProxyError> {
    let id = ctx.facts.id();
    crate::proxy::rates::admit(state, ctx.route, &ctx.principal, &ctx.facts).await?;
    let slot = state
        .upstream_slot(ctx.upstream)
        .map_err(|()| ProxyError::UpstreamBusy { id: id.cloned() })?;
    crate::proxy::authenticate::upstream_token(state, ctx.upstream, &ctx.principal, id).await?;
    Ok(slot)
}

/// The one call to the upstream adapter: starts the exchange, whose answers go on the stream
/// (`slot`: the upstream's `max_in_flight` slot, held by the exchange).
///
/// # Errors
/// A message the translation cannot route, or a translated session that is gone.
fn send(
    state: &Rc<ShardState>,
    ctx: RequestCtx,
    (sid, out, slot): (SessionId, &Rc<LegacyOut>, Option<Slot>),
    head: &RequestHead,
    body: Vec<u8>,
    (upstream_session, version): (Option<Box<str>>, Option<ProtocolVersion>),
) -> Result<(), ProxyError> {
    let work = Work {
        _running: out.work(),
        _slot: slot,
    };
    let up = state.config.upstream(ctx.upstream);
    let http = match Adapter::choose(state, &ctx) {
        // A translated session (modern upstream): the era translation, answers on the stream.
        Adapter::LegacyToModern(_) => {
            let Some(translated) = state.l2m.session(&sid) else {
                return Err(ProxyError::SessionNotFound {
                    id: ctx.facts.id().cloned(),
                });
            };
            let on = (translated, ctx.principal);
            modern::post(state, sid, out, on, head, body, ctx.facts, work)?;
            return Ok(());
        }
        // stdio children and legacy SSE upstreams: sessions go through a link.
        Adapter::Link { children, timeout } => {
            stdio::start(state, sid, children, body, ctx.facts, timeout, work);
            return Ok(());
        }
        Adapter::Http(http) => http,
        // A legacy client is never `ModernToLegacy`: its upstream's own transport serves it.
        Adapter::ModernToLegacy(_) => match state.upstream(ctx.upstream) {
            UpstreamRuntime::Http(http) => http,
            UpstreamRuntime::Linked(children) => {
                let timeout = up.request_timeout;
                stdio::start(state, sid, children, body, ctx.facts, timeout, work);
                return Ok(());
            }
        },
    };
    // A Streamable HTTP upstream.
    let url = &http.url;
    // An `initialize` that may open a translated session (the upstream may be modern).
    let hello = modern::may_translate(state, ctx.upstream, &ctx.facts)
        .then(|| Hello::read(&body))
        .flatten();
    let session = (upstream_session.as_deref(), version);
    let request = http_request(state, (&ctx, url), head, body, session)?;
    let job = http::Job {
        sid,
        upstream: ctx.upstream,
        principal: ctx.principal,
        request,
        facts: ctx.facts,
        timeout: up.request_timeout,
    };
    let task = match hello {
        Some(hello) => glommio::spawn_local(modern::initialize(
            state.clone(),
            job,
            (hello, http.url.clone()),
            head.clone(),
            work,
        )),
        None => glommio::spawn_local(http::run(state.clone(), job, work)),
    };
    task.detach();
    Ok(())
}

/// Answers `202 Accepted` (the answer itself comes on the stream).
async fn accepted(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    method: crate::mcp::Method,
    started: Instant,
) -> Result<bool, ProxyError> {
    let keep = head.keep_alive();
    let mut answer = state.bufs.lease(160);
    local_response(
        &mut answer,
        202,
        Some("text/plain; charset=utf-8"),
        &[],
        b"Accepted",
        keep,
    );
    state.metrics.status(202);
    client.write_all(&answer).await.map_err(ProxyError::Http)?;
    // The time to accept it: the exchange itself runs on (its answer comes on the stream).
    state.metrics.request(method, started.elapsed());
    Ok(keep)
}
