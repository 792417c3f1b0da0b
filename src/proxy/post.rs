//! POST on the MCP endpoint: validate, read and inspect the body, classify its era (era.rs:
//! 2026-07-28 stateless requests skip the session and are cancelled by a client hang-up),
//! resolve the session, forward the client's original bytes, relay the answer (JSON or SSE).
//!
//! Not here: connection handling and shard routing (server.rs), upstream I/O (exchange.rs),
//! body streaming (relay.rs).
//! Hot path: the body lands in a pooled buffer, simd-json parses a scratch copy, the request
//! head for the upstream is written into a second pooled buffer together with the body.

use std::rc::Rc;
use std::time::Instant;

use glommio::net::TcpStream;

use crate::config::RouteConfig;
use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::{Method, ProtocolVersion};
use crate::pipeline::RouteStages;
use crate::pipeline::{facts, Facts};
use crate::session::{SessionEntry, SessionId};

use super::admit::{new_session, read_request_body, refuse_by_stages};
use super::era::{self, Era};
use super::error::ProxyError;
use super::exchange::{exchange, finish};
use super::guard;
use super::headers::upstream_request;
use super::metrics::Counter;
use super::metrics::ListenGuard;
use super::relay::{relay_exchange, until_client_gone, RelayPlan};
use super::state::ShardState;

/// Where this POST goes upstream.
struct Target {
    upstream: usize,
    client_session: Option<SessionId>,
}

/// Handles one POST on `route`; returns whether the client connection stays open.
pub async fn post(
    state: &Rc<ShardState>,
    route: &RouteConfig,
    stages: &RouteStages,
    client: &mut HttpConn<TcpStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let (upstream, era) = (route.upstream, route.era);
    let started = Instant::now();
    guard::check_post_accept(head)?;
    guard::check_content_type(head)?;

    let mut body = state.bufs.lease(4096);
    read_request_body(state, client, head, &mut body).await?;
    let facts = facts(state.inspector.borrow_mut().inspect(&body)?);
    // After the body: the errors carry the request's id (and a modern request's version).
    let modern = era::classify(head, &facts, era)? == Era::Modern;
    let header_version = head
        .header("mcp-protocol-version")
        .and_then(ProtocolVersion::parse);
    let target = if modern {
        // Stateless: no session lookup (a modern-only route ignores Mcp-Session-Id), served
        // on this shard.
        state.metrics.incr(Counter::ModernRequests);
        Target {
            upstream,
            client_session: None,
        }
    } else {
        resolve_target(state, upstream, head, &facts, header_version)?
    };
    if facts.is_initialize && state.sessions.borrow().len() >= state.config.sessions.max_per_shard {
        // Refused before the upstream creates a session that could never be used.
        return Err(ProxyError::TooManySessions { id: facts.id });
    }
    refuse_by_stages(state, stages, &facts)?;
    if !modern {
        // A legacy client whose upstream is modern-only: translated (proxy::l2m).
        if let Some(served) = super::l2m::intercept(
            state,
            client,
            head,
            &body,
            &facts,
            target.upstream,
            target.client_session,
            started,
            stages,
        )
        .await
        {
            return served;
        }
    }
    let up = state
        .config
        .upstreams
        .get(target.upstream)
        .ok_or(ProxyError::Internal("session names a missing upstream"))?;
    if modern && super::modern_client::translates(&state.era_verdicts, target.upstream, up) {
        return super::modern_client::serve(
            state,
            target.upstream,
            client,
            head,
            &body,
            &facts,
            stages,
        )
        .await;
    }
    // An `auto` upstream answers the first modern request: a legacy refusal switches to
    // translation, and this request is translated from the bytes still in `request`.
    let probe = modern && up.era == crate::config::UpstreamEra::Auto;
    let body_len = body.len();
    if up.is_linked() {
        let to = super::stdio::StdioTarget {
            upstream: target.upstream,
            session: target.client_session,
            timeout: up.request_timeout,
            stages,
        };
        return super::stdio::post(state, client, head, &body, &facts, to, started).await;
    }
    let url = up
        .http()
        .ok_or(ProxyError::Internal("HTTP path used for a stdio upstream"))?;

    let mut request = state.bufs.lease(body.len() + 1024);
    {
        // Borrowed, not cloned: the head is written before anything awaits.
        let sessions = state.sessions.borrow();
        let upstream_session = target
            .client_session
            .as_ref()
            .and_then(|sid| sessions.peek(sid))
            .and_then(|entry| entry.upstream_session.as_deref());
        upstream_request(
            &mut request,
            "POST",
            &url.path,
            &url.authority,
            head,
            upstream_session,
            Some(body.len()),
        );
    }
    request.extend_from_slice(&body);
    drop(body);
    let pending = exchange(state, target.upstream, &request, facts.id.as_ref(), false);
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
    if probe && super::modern_client::may_mean_legacy(status) {
        return match super::modern_client::probe(state, client, head, target.upstream, ex).await? {
            Some(keep) => Ok(keep),
            None => {
                let sent = request
                    .get(request.len().saturating_sub(body_len)..)
                    .unwrap_or_default();
                super::modern_client::serve(
                    state,
                    target.upstream,
                    client,
                    head,
                    sent,
                    &facts,
                    stages,
                )
                .await
            }
        };
    }
    drop(request);
    if status == 404 {
        if let Some(sid) = target.client_session {
            // The upstream forgot the session: drop ours so the client re-initializes.
            state.sessions.borrow_mut().remove(&sid);
            state.l2m.end(&sid);
            state.metrics.incr(Counter::SessionsLost);
            finish(state, ex, false);
            return Err(ProxyError::SessionNotFound { id: facts.id });
        }
    }

    let minted;
    let session_out: Option<&str> = if facts.is_initialize && (200..300).contains(&status) {
        minted = mint_session(state, target.upstream, &ex.head, facts.version)?;
        Some(minted.as_str())
    } else if ex.head.header("mcp-session-id").is_some() {
        target.client_session.as_ref().map(SessionId::as_str)
    } else {
        None
    };

    // A 2026 `subscriptions/listen` answer is a long-lived stream held until either side
    // closes: no idle timeout, ended cleanly by shutdown.
    let listen =
        modern && facts.method == Method::SubscriptionsListen && (200..300).contains(&status);
    let plan = RelayPlan {
        session: session_out,
        client_keep_alive: head.keep_alive(),
        client_http11: head.minor_version() == 1,
        idle_timeout: (!listen).then_some(up.request_timeout),
        max_body: u64::MAX,
        max_sse_event: state.config.limits.max_sse_event_bytes,
        metrics: &state.metrics,
        stop: listen.then_some(&state.shutdown),
        stages,
        rewrite: stages.rewrites_answer(facts.method, &facts.elements),
    };
    let _listening = listen.then(|| ListenGuard::open(&state.metrics));
    let keep = relay_exchange(state, client, ex, plan).await;
    state.metrics.request(facts.method, started.elapsed());
    Ok(keep)
}

fn resolve_target(
    state: &ShardState,
    route_upstream: usize,
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
        upstream: usize::from(entry.upstream),
        client_session: Some(id),
    })
}

fn mint_session(
    state: &ShardState,
    upstream: usize,
    head: &crate::http::ResponseHead,
    version: Option<ProtocolVersion>,
) -> Result<SessionId, ProxyError> {
    let upstream_session = head
        .header("mcp-session-id")
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(Box::from);
    let entry = SessionEntry {
        upstream: u16::try_from(upstream).unwrap_or(u16::MAX),
        upstream_session,
        version,
        link: None,
    };
    new_session(state, entry)
}
