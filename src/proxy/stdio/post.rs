//! POST to a stdio upstream: `initialize` binds a new session to a child (per-session mode) or
//! answers from the shared child's cached result (shared mode); requests become calls on the
//! session's child; notifications and responses are written to it and answered 202.
//!
//! Not here: body reading, inspection and session lookup (proxy/post.rs did them), the shape
//! of the answer (answer.rs), which child serves (children.rs).

use crate::config::{RouteId, UpstreamId};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shards::io::NetStream;
use shards::slab::Lease;

use crate::config::StdioMode;
use crate::http::{HttpConn, RequestHead};
use crate::mcp::{JsonRpcId, Method, ProtocolVersion};
use crate::session::SessionId;
use crate::upstream::link::{Call, LinkError, LinkSession};

use super::super::admit::new_session;
use super::super::error::ProxyError;
use super::super::metrics::Counter;
use super::super::state::{RequestSlot, SessionEntry, ShardState};
use super::answer::{answer_call, next_step, write_empty, write_json, ClientShape, Ending};
use crate::pipeline::RouteStages;
use crate::pipeline::{Facts, Message, Principal, RequestCtx};
use crate::upstream::children::{AcquireError, Children};

/// Where a POST for a stdio upstream goes.
#[derive(Debug)]
pub(super) struct StdioTarget<'a> {
    /// The route the request came in on (a session minted here belongs to it).
    pub route: RouteId,
    /// The upstream.
    pub upstream: UpstreamId,
    /// Its links (from the adapter choice).
    pub children: &'a Rc<Children>,
    /// The client's session, when the request named one (already checked to exist).
    pub session: Option<SessionId>,
    /// The upstream's request timeout.
    pub timeout: Duration,
    /// The route's stages (their response side runs on the answers).
    pub stages: &'a RouteStages,
    /// Who sent the request (a session minted here belongs to them).
    pub principal: &'a Principal,
}

/// Handles a POST whose upstream is a stdio server; returns whether the connection stays open.
///
/// # Errors
/// Refusals before anything was written (404 session, 503 at `max`, 502 when the command
/// cannot start) and client write failures.
pub(in crate::proxy) async fn post(
    state: &Rc<ShardState>,
    children: &Rc<Children>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: Lease<'_>,
    (ctx, slot): (&RequestCtx, &RequestSlot),
    timeout: Duration,
) -> Result<bool, ProxyError> {
    let facts = &ctx.facts;
    let to = StdioTarget {
        route: ctx.route,
        upstream: ctx.upstream,
        children,
        session: ctx.session,
        timeout,
        stages: &ctx.stages,
        principal: &ctx.principal,
    };
    // Only answers to `tools/list` on a filtered route can need the response side.
    let answer_stages = to.stages.for_answer(facts.method, &facts.elements);
    let shape = ClientShape {
        stages: answer_stages.as_ref(),
        slot: Some(slot),
        ..ClientShape::of(head)
    };
    let keep = match (to.session, facts.request_id()) {
        // Boxed: once per session, and larger than a call's future (issue 13).
        (None, Some(id)) if facts.is_initialize => {
            Box::pin(initialize(state, client, &body, facts, id, &to, shape)).await?
        }
        (None, _) => {
            return Err(ProxyError::SessionRequired {
                id: facts.id().cloned(),
            })
        }
        (Some(sid), _) => in_session(state, client, body, facts, sid, &to, shape).await?,
    };
    state.metrics.request(facts.method, ctx.started.elapsed());
    Ok(keep)
}

/// Answers `initialize`: binds a new session to a child of its own (per-session mode) or to
/// the shared child, whose cached handshake answers it.
async fn initialize(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    body: &[u8],
    facts: &Facts,
    id: &JsonRpcId,
    to: &StdioTarget<'_>,
    shape: ClientShape<'_>,
) -> Result<bool, ProxyError> {
    let children = to.children;
    let unavailable = |error: &dyn std::fmt::Display| ProxyError::UpstreamUnavailable {
        id: facts.id().cloned(),
        reason: error.to_string(),
    };
    match children.mode() {
        StdioMode::PerSession => {
            let link = children.for_session().await.map_err(|error| match error {
                AcquireError::Full(_) => ProxyError::TooManySessions {
                    id: facts.id().cloned(),
                },
                other => unavailable(&other),
            })?;
            let key = link.open_session().map_err(|e| unavailable(&e))?;
            // Dropping `bound` (the last one) ends the child's session: on any failure below.
            let bound = Rc::new(LinkSession {
                link: link.clone(),
                key,
            });
            let call = link
                .call(key, id, facts.progress_token.as_ref(), &facts.spans, body)
                .map_err(|e| unavailable(&e))?;
            bind_child(state, client, (facts, id), bound, call, to, shape).await
        }
        StdioMode::Shared => {
            let (link, result) = children
                .shared(to.timeout)
                .await
                .map_err(|e| unavailable(&e))?;
            let key = link.open_session().map_err(|e| unavailable(&e))?;
            let sid = new_session(state, entry(to, facts, Rc::new(LinkSession { link, key })))?;
            let mut reply = Vec::with_capacity(result.len() + 64);
            reply.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            id.write_json(&mut reply);
            reply.extend_from_slice(br#","result":"#);
            reply.extend_from_slice(&result_for_client(&result, facts.version));
            reply.push(b'}');
            let shape = ClientShape {
                session: Some(sid.as_str()),
                ..shape
            };
            write_json(state, client, &reply, shape).await
        }
    }
}

/// Per-session mode: the session exists once its own child (`bound`) accepts `initialize`
/// (`call`); a child that refuses, before or after streaming, takes no session with it.
async fn bind_child(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    (facts, id): (&Facts, &JsonRpcId),
    bound: Rc<LinkSession>,
    call: Call,
    to: &StdioTarget<'_>,
    shape: ClientShape<'_>,
) -> Result<bool, ProxyError> {
    let first = next_step(state, &call, id, to.timeout).await;
    if matches!(first.ending(), Some(Ending::Error | Ending::Abandoned)) {
        // The child refused (or never answered): no session; dropping `bound` stops it.
        let (keep, _) =
            answer_call(state, client, call, id, to.timeout, shape, Some(first)).await?;
        return Ok(keep);
    }
    let link = bound.link.clone();
    let sid = new_session(state, entry(to, facts, bound))?;
    link.set_session_tag(sid.as_str());
    let shape = ClientShape {
        session: Some(sid.as_str()),
        ..shape
    };
    let answered = answer_call(state, client, call, id, to.timeout, shape, Some(first)).await;
    match answered {
        Ok((keep, Ending::Result)) => {
            tracing::info!(session = %sid.as_str(), peer = link.peer(), "session bound to an upstream link");
            Ok(keep)
        }
        Ok((keep, _)) => {
            // The child refused after streaming: the session and its child end here.
            state.sessions.borrow_mut().remove(&sid);
            Ok(keep)
        }
        Err(error) => {
            state.sessions.borrow_mut().remove(&sid);
            Err(error)
        }
    }
}

/// The shared child's cached `initialize` result as this client gets it: a client asking for
/// an older version the proxy supports gets that version (a server supporting the requested
/// version must answer with it); otherwise the child's own.
fn result_for_client(
    cached: &[u8],
    requested: Option<ProtocolVersion>,
) -> std::borrow::Cow<'_, [u8]> {
    let Some(requested) = requested.filter(|v| crate::mcp::SUPPORTED_SESSIONFUL.contains(v)) else {
        return cached.into();
    };
    let Ok(mut result) = serde_json::from_slice::<serde_json::Value>(cached) else {
        return cached.into();
    };
    let child = result
        .get("protocolVersion")
        .and_then(serde_json::Value::as_str)
        .and_then(|v| ProtocolVersion::parse(v.as_bytes()));
    if child.is_none_or(|child| requested >= child) {
        return cached.into();
    }
    if let Some(slot) = result.get_mut("protocolVersion") {
        *slot = serde_json::Value::from(requested.as_str());
    }
    serde_json::to_vec(&result).map_or(cached.into(), Into::into)
}

fn entry(to: &StdioTarget<'_>, facts: &Facts, bound: Rc<LinkSession>) -> SessionEntry {
    SessionEntry {
        upstream: to.upstream,
        route: to.route,
        upstream_session: None,
        version: facts.version,
        link: Some(bound),
        owner: to.principal.clone(),
    }
}

/// Serves a message on an open session: through its child's link (a request becomes a call
/// whose answer is relayed; a notification or response is written and answered 202).
async fn in_session(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    body: Lease<'_>,
    facts: &Facts,
    sid: SessionId,
    to: &StdioTarget<'_>,
    shape: ClientShape<'_>,
) -> Result<bool, ProxyError> {
    let bound = state
        .sessions
        .borrow_mut()
        .get_mut(&sid, Instant::now())
        .and_then(|entry| entry.link.clone())
        .ok_or(ProxyError::SessionNotFound {
            id: facts.id().cloned(),
        })?;
    if !bound.link.is_alive() {
        return Err(session_lost(state, &sid, facts.id().cloned()));
    }
    if facts.is_initialize {
        // One handshake per session: a second would re-initialize the child (in shared mode,
        // for every session on it).
        return Err(ProxyError::AlreadyInitialized {
            id: facts.id().cloned(),
        });
    }
    if facts.is_batch() {
        return match Box::pin(super::batch::post_batch(
            state, client, &body, &bound, to.timeout, shape,
        ))
        .await?
        {
            Some(keep) => Ok(keep),
            None => write_empty(state, client, 202, shape).await,
        };
    }
    match facts.message() {
        Some(Message::Request(id)) => {
            let session = (&sid, &*bound);
            request(state, client, body, (facts, id), session, to, shape).await
        }
        _ => {
            if bound
                .link
                .notify(bound.key, &body, super::client_message(facts))
                .is_err()
            {
                return Err(session_lost(state, &sid, None));
            }
            write_empty(state, client, 202, shape).await
        }
    }
}

/// The child is gone: so is the session (the client re-initializes); the error to answer.
pub(in crate::proxy) fn session_lost(
    state: &ShardState,
    sid: &SessionId,
    id: Option<JsonRpcId>,
) -> ProxyError {
    state.sessions.borrow_mut().remove(sid);
    state.metrics.incr(Counter::SessionsLost);
    ProxyError::SessionNotFound { id }
}

/// A request on an open session: a call on the child's link whose answer is relayed; a
/// (un)subscribe the link already holds for another session is answered here.
async fn request(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    body: Lease<'_>,
    (facts, id): (&Facts, &JsonRpcId),
    (sid, bound): (&SessionId, &LinkSession),
    to: &StdioTarget<'_>,
    shape: ClientShape<'_>,
) -> Result<bool, ProxyError> {
    if let (Method::ResourcesSubscribe | Method::ResourcesUnsubscribe, Some(uri)) =
        (facts.method, facts.resource.as_deref())
    {
        let subscribe = facts.method == Method::ResourcesSubscribe;
        if !bound.link.subscription(bound.key, uri, subscribe) {
            // Another session keeps the child's subscription: answered here.
            let mut reply = br#"{"jsonrpc":"2.0","id":"#.to_vec();
            id.write_json(&mut reply);
            reply.extend_from_slice(br#","result":{}}"#);
            return write_json(state, client, &reply, shape).await;
        }
    }
    let token = facts.progress_token.as_ref();
    let call = match bound.link.call(bound.key, id, token, &facts.spans, &body) {
        Ok(call) => call,
        Err(LinkError::Gone(_) | LinkError::SessionEnded | LinkError::Initialize(_)) => {
            return Err(session_lost(state, sid, facts.id().cloned()))
        }
    };
    // Sent: the pooled body buffer is not held while the answer streams (issue 13).
    drop(body);
    let (keep, ending) = answer_call(state, client, call, id, to.timeout, shape, None).await?;
    if let (Method::ResourcesSubscribe, Some(uri), false) = (
        facts.method,
        facts.resource.as_deref(),
        ending == Ending::Result,
    ) {
        // The child refused it: this session is no subscriber after all.
        bound.link.forget_subscription(bound.key, uri);
    }
    Ok(keep)
}
