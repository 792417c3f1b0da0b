//! The Streamable HTTP upstream adapter for a POST: the client's original bytes go to the
//! upstream over a pooled keep-alive connection, and the answer (JSON or SSE) is relayed back,
//! message by message only when a stage may change one. Also: minting the client session on
//! an `initialize` answered 2xx, dropping it on an upstream 404, and the `era = "auto"` probe
//! that switches a 2026-07-28 request to translation on a legacy refusal.
//!
//! Not here: the checks and the context (post.rs), upstream I/O (exchange.rs), relaying
//! (relay.rs, relay_rewrite.rs).
//! Hot path: the request head for the upstream is written into a pooled buffer together with
//! the body; one write, then the relay.

use std::rc::Rc;

use shards::io::NetStream;
use shards::slab::Lease;

use crate::http::{Framing, Head, HttpConn, RequestHead};
use crate::mcp::{JsonRpcId, Method, ProtocolVersion};
use crate::pipeline::{RequestCtx, RouteStages};
use crate::session::SessionId;
use crate::upstream::runtime::HttpUpstream;

use super::admit::new_session;
use super::error::ProxyError;
use super::exchange::{exchange, finish, Exchange};
use super::headers::upstream_request;
use super::intercept::{Scope, StreamAnswers};
use super::metrics::{Counter, ListenGuard};
use super::relay::{relay_exchange, until_client_gone, RelayPlan};
use super::state::{RequestSlot, SessionEntry, ShardState};

/// Sends the POST `body` (the client's bytes) upstream and relays the answer; returns whether
/// the client connection stays open.
///
/// # Errors
/// Upstream failures before the answer started (502/504), an upstream 404 on a session (404
/// `-32001`), client write failures.
pub(super) async fn post(
    state: &Rc<ShardState>,
    http: &HttpUpstream,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: Lease<'_>,
    (ctx, slot): (&RequestCtx, &RequestSlot),
) -> Result<bool, ProxyError> {
    let (facts, modern) = (&ctx.facts, ctx.modern);
    let up = state.config.upstream(ctx.upstream);
    // An `auto` upstream answers the first modern request: a legacy refusal switches to
    // translation, and this request (its id here) is translated from the bytes still in
    // `request`.
    let probe = ctx
        .modern_request()
        .filter(|_| up.era == crate::config::UpstreamEra::Auto);
    let body_len = body.len();
    super::authenticate::upstream_token(state, ctx.upstream, &ctx.principal, facts.id()).await?;
    let request = upstream_request_for(state, http, head, body, ctx)?;
    let pending = exchange(state, ctx.upstream, &request, facts.id(), false);
    let ex = if modern {
        // 2026-07-28: closing the stream cancels the request. A client that hangs up before
        // the answer starts drops the exchange, which closes its upstream connection (never
        // pooled) — the HTTP form of cancellation.
        match until_client_gone(client, pending).await {
            Some(ex) => ex?,
            None => {
                state.metrics.incr(Counter::ClientGone);
                return Ok(false);
            }
        }
    } else {
        pending.await?
    };
    let status = ex.head.status();
    state.upstream_answered(ctx.upstream, status, &ctx.principal);
    if let Some(id) = probe.filter(|_| super::modern_client::may_mean_legacy(status)) {
        let sent = request
            .get(request.len().saturating_sub(body_len)..)
            .unwrap_or_default();
        return probe_era(state, client, head, ctx, ex, sent, id).await;
    }
    drop(request);
    if let (404, Some(sid)) = (status, ctx.session) {
        return Err(session_forgotten(state, sid, ex, facts.id()));
    }

    let minted;
    let session_out: Option<&str> = if facts.is_initialize && (200..300).contains(&status) {
        minted = mint_session(state, ctx, &ex.head, facts.version)?;
        Some(minted.as_str())
    } else if ex.head.header("mcp-session-id").is_some() {
        ctx.session.as_ref().map(SessionId::as_str)
    } else {
        None
    };

    // A 2026 `subscriptions/listen` answer is a long-lived stream held until either side
    // closes: no idle timeout, ended cleanly by shutdown.
    let listen =
        modern && facts.method == Method::SubscriptionsListen && (200..300).contains(&status);
    // A `listen` stream answers no request of its own but is long-lived: its messages follow
    // the shard's rule set (each by its own method, as on a GET stream), not the set in force
    // when it was opened.
    let stream_stages = listen.then(|| ctx.stages.with_answers(None));
    let stages = stream_stages.as_deref().unwrap_or(&ctx.stages);
    let live = listen.then(|| {
        let scope = Scope {
            route: ctx.route,
            principal: &ctx.principal,
            session: ctx.session.as_ref(),
        };
        StreamAnswers::open(state, scope)
    });
    // A batch's answer is judged element by element: only its `tools/list` answers.
    let answer_stages = stages.for_answer(facts.method, &facts.elements);
    let plan = relay_plan(
        state,
        (ctx, slot),
        head,
        session_out,
        (stages, live.as_ref()),
        answer_stages.as_ref(),
    );
    let _listening = listen.then(|| ListenGuard::open(&state.metrics));
    let keep = relay_exchange(state, client, ex, plan).await;
    state.metrics.request(facts.method, ctx.started.elapsed());
    Ok(keep)
}

/// Sends `body` (client messages that want no answer: a blocked batch's client answers)
/// upstream and waits for its acceptance, writing nothing to the client. The answer's body is
/// not read (its connection is not pooled): the upstream's acceptance says nothing the client
/// could act on.
///
/// # Errors
/// As [`post`] before the answer starts.
pub(super) async fn deliver(
    state: &Rc<ShardState>,
    http: &HttpUpstream,
    head: &RequestHead,
    body: Lease<'_>,
    ctx: &RequestCtx,
) -> Result<(), ProxyError> {
    super::authenticate::upstream_token(state, ctx.upstream, &ctx.principal, None).await?;
    let request = upstream_request_for(state, http, head, body, ctx)?;
    let ex = exchange(state, ctx.upstream, &request, None, false).await?;
    drop(request);
    let status = ex.head.status();
    state.upstream_answered(ctx.upstream, status, &ctx.principal);
    if let (404, Some(sid)) = (status, ctx.session) {
        return Err(session_forgotten(state, sid, ex, None));
    }
    if !(200..300).contains(&status) {
        tracing::warn!(
            status,
            "upstream refused the client's answers of a blocked batch"
        );
    }
    // A clean bodiless answer (202) leaves the connection fit for the next request.
    let reusable =
        matches!(ex.framing, Framing::Empty | Framing::Length(0)) && ex.head.keep_alive();
    finish(state, ex, reusable);
    Ok(())
}

/// The upstream answered 404 on a session: it forgot it, so does the proxy (the client
/// re-initializes); the error to answer (cold path).
fn session_forgotten(
    state: &ShardState,
    sid: SessionId,
    ex: Exchange,
    id: Option<&JsonRpcId>,
) -> ProxyError {
    state.sessions.borrow_mut().remove(&sid);
    state.l2m.end(&sid);
    state.metrics.incr(Counter::SessionsLost);
    finish(state, ex, false);
    ProxyError::SessionNotFound { id: id.cloned() }
}

/// Writes the POST for the upstream (head, under the upstream's own session id, then the
/// client's body) into one pooled buffer, so it goes out in one write.
fn upstream_request_for<'s>(
    state: &'s ShardState,
    http: &HttpUpstream,
    head: &RequestHead,
    body: Lease<'_>,
    ctx: &RequestCtx,
) -> Result<Lease<'s>, ProxyError> {
    let configured = state
        .upstream_headers(ctx.upstream, &ctx.principal)
        .map_err(|why| ProxyError::no_token(why, ctx.facts.id().cloned()))?;
    let mut request = state.bufs.lease(body.len() + 1024);
    {
        // Borrowed, not cloned: the head is written before anything awaits.
        let sessions = state.sessions.borrow();
        let upstream_session = ctx
            .session
            .as_ref()
            .and_then(|sid| sessions.peek(sid))
            .and_then(|entry| entry.upstream_session.as_deref());
        upstream_request(
            &mut request,
            "POST",
            &http.url,
            &configured,
            head,
            upstream_session,
            Some(body.len()),
        );
    }
    request.extend_from_slice(&body);
    drop(body);
    Ok(request)
}

/// The `era = "auto"` probe after a refusal that may mean "legacy only": a modern answer
/// passes through; otherwise the upstream is legacy and this request, `sent` (the client's
/// bytes), is translated.
async fn probe_era(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    ctx: &RequestCtx,
    ex: Exchange,
    sent: &[u8],
    id: &JsonRpcId,
) -> Result<bool, ProxyError> {
    // Boxed (issue 13): the rare probe must not size every request's future.
    match Box::pin(super::modern_client::probe(
        state,
        client,
        head,
        ctx.upstream,
        ex,
    ))
    .await?
    {
        Some(keep) => Ok(keep),
        None => {
            Box::pin(super::modern_client::serve(
                state, client, head, sent, ctx, id,
            ))
            .await
        }
    }
}

/// How the upstream's answer reaches the client; a `listen` stream (`live`) is long-lived (no
/// idle timeout, ended by shutdown).
fn relay_plan<'a>(
    state: &'a ShardState,
    (ctx, slot): (&'a RequestCtx, &'a RequestSlot),
    head: &RequestHead,
    session_out: Option<&'a str>,
    (stages, live): (&'a RouteStages, Option<&'a StreamAnswers<'a>>),
    answer_stages: Option<&'a RouteStages>,
) -> RelayPlan<'a> {
    let facts = &ctx.facts;
    let listen = live.is_some();
    RelayPlan {
        session: session_out,
        client_keep_alive: head.keep_alive(),
        client_http11: head.minor_version() == 1,
        idle_timeout: (!listen).then_some(state.config.upstream(ctx.upstream).request_timeout),
        max_body: u64::MAX,
        max_sse_event: state.config.limits.max_sse_event_bytes,
        metrics: &state.metrics,
        state,
        stop: listen.then_some(&state.shutdown),
        stages: answer_stages.unwrap_or(stages),
        rewrite: answer_stages.is_some(),
        request_id: facts.id(),
        live,
        slot: Some(slot),
    }
}

fn mint_session(
    state: &ShardState,
    ctx: &RequestCtx,
    head: &crate::http::ResponseHead,
    version: Option<ProtocolVersion>,
) -> Result<SessionId, ProxyError> {
    let upstream_session = head
        .header("mcp-session-id")
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(Box::from);
    let entry = SessionEntry {
        upstream: ctx.upstream,
        route: ctx.route,
        upstream_session,
        version,
        link: None,
        owner: ctx.principal.clone(),
    };
    new_session(state, entry)
}
