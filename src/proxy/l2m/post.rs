//! A legacy client's POST when its session is (or, for `initialize`, becomes) translated for a
//! modern upstream: `initialize` answered from `server/discover` with a session minted here;
//! `ping`, `logging/setLevel`, `resources/subscribe`/`unsubscribe` and every notification
//! answered locally; the client's responses routed to the MRTR exchange waiting for them;
//! everything else sent upstream (call.rs); a 2025-03-26 batch split into these same paths
//! (batch.rs). [`Hello`], [`open`] and [`route`] are the transport-neutral steps, shared with
//! legacy HTTP+SSE sessions (proxy::legacy::modern).
//!
//! Not here: the decision to translate (detect.rs), the upstream exchange (call.rs), the local
//! answers themselves (local.rs).

use crate::config::{UpstreamId, UpstreamUrl};
use crate::session::Principal;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;
use shards::io::NetStream;

use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::{JsonRpcId, ProtocolVersion};
use crate::session::{SessionEntry, SessionId};

use super::super::admit::new_session;
use super::super::error::ProxyError;
use super::super::headers::local_response;
use super::super::state::ShardState;
use super::super::stdio::answer::{write_json, ClientShape};
use super::wire::ClientMeta;
use super::{batch, call, detect, local};
use crate::pipeline::RouteStages;
use crate::pipeline::{Body, Facts, Message, RequestCtx};
use crate::session::l2m::Discovered;
use crate::session::l2m::L2mSession;
use crate::upstream::runtime::HttpUpstream;

/// Serves the POST when translation applies; `None` when it passes through as before (the
/// upstream is not modern, or the session is not a translated one).
#[allow(clippy::too_many_arguments)]
pub(in crate::proxy) async fn intercept(
    state: &Rc<ShardState>,
    http: &HttpUpstream,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    ctx: &RequestCtx,
) -> Option<Result<bool, ProxyError>> {
    let (facts, upstream, stages) = (&ctx.facts, ctx.upstream, &ctx.stages);
    let served = match (ctx.session, facts.request_id()) {
        (None, Some(id)) if facts.is_initialize && detect::may_translate(state, upstream) => {
            initialize(state, client, head, body, id, (ctx, &http.url)).await
        }
        (None, _) => return None,
        (Some(sid), _) => {
            let translated = state.l2m.session(&sid)?;
            let on = (&translated, &ctx.principal);
            on_session(state, client, head, body, facts, on, stages).await
        }
    };
    if served.is_some() {
        state.metrics.request(facts.method, ctx.started.elapsed());
    }
    served
}

/// Whether [`intercept`] may translate this request: an `initialize` towards an upstream that
/// may be modern-only, or any message of a translated session.
pub(in crate::proxy) fn may_intercept(state: &ShardState, ctx: &RequestCtx) -> bool {
    match ctx.session {
        None => ctx.facts.is_initialize && detect::may_translate(state, ctx.upstream),
        Some(sid) => state.l2m.session(&sid).is_some(),
    }
}

#[derive(Deserialize)]
struct Initialize {
    params: Option<InitParams>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitParams {
    protocol_version: Option<String>,
    capabilities: Option<Box<RawValue>>,
    client_info: Option<Box<RawValue>>,
}

/// What a legacy client's `initialize` declared: kept with its translated session.
#[derive(Debug)]
pub(in crate::proxy) struct Hello {
    requested: Option<String>,
    capabilities: Box<RawValue>,
    client_info: Box<RawValue>,
}

impl Hello {
    /// Reads an `initialize` request; missing capabilities and clientInfo get empty defaults.
    pub(in crate::proxy) fn read(body: &[u8]) -> Option<Hello> {
        let params = serde_json::from_slice::<Initialize>(body)
            .ok()
            .and_then(|init| init.params);
        let (requested, capabilities, client_info) = match params {
            Some(p) => (p.protocol_version, p.capabilities, p.client_info),
            None => (None, None, None),
        };
        let capabilities = match capabilities {
            Some(caps) => caps,
            None => RawValue::from_string("{}".to_owned()).ok()?,
        };
        let client_info = match client_info {
            Some(info) => info,
            None => RawValue::from_string(r#"{"name":"unknown","version":"0"}"#.to_owned()).ok()?,
        };
        Some(Hello {
            requested,
            capabilities,
            client_info,
        })
    }

    /// The `_meta` the client's requests will carry (for the discover probe).
    pub(in crate::proxy) fn meta(&self) -> ClientMeta<'_> {
        ClientMeta {
            capabilities: &self.capabilities,
            client_info: &self.client_info,
            log_level: None,
        }
    }

    /// The version the session speaks with the client.
    pub(in crate::proxy) fn version(&self) -> ProtocolVersion {
        ProtocolVersion::negotiate(self.requested.as_deref().unwrap_or_default().as_bytes())
    }
}

/// Makes `sid` a translated session of `upstream` (its session-table entry exists already)
/// and returns the answer to its `initialize` (request `id`).
pub(in crate::proxy) fn open(
    state: &ShardState,
    sid: SessionId,
    (upstream, url): (UpstreamId, &Rc<UpstreamUrl>),
    hello: Hello,
    discovered: Rc<Discovered>,
    id: &JsonRpcId,
) -> Vec<u8> {
    let version = hello.version();
    let response = discovered.initialize_response(id, version);
    let owner = state.sessions.borrow().peek(&sid).map(|e| e.owner.clone());
    state.l2m.sessions.borrow_mut().insert(
        sid,
        Rc::new(L2mSession::new(
            (upstream, owner.unwrap_or_else(Principal::anonymous)),
            url.clone(),
            version,
            hello.capabilities,
            hello.client_info,
            discovered,
        )),
    );
    tracing::debug!(
        upstream = upstream.compact(),
        version = version.as_str(),
        "translated session opened"
    );
    response
}

async fn initialize(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    id: &JsonRpcId,
    (ctx, url): (&RequestCtx, &Rc<UpstreamUrl>),
) -> Option<Result<bool, ProxyError>> {
    let (route, upstream) = (ctx.route, ctx.upstream);
    let hello = Hello::read(body)?;
    let discovered = match detect::for_initialize(
        state,
        (upstream, &ctx.principal),
        head,
        &hello.meta(),
        Some(id),
    )
    .await
    {
        Ok(detect::Decision::Translate(found)) => found,
        Ok(detect::Decision::PassThrough) => return None,
        Ok(detect::Decision::Refused(refusal)) => {
            return Some(refusal.write(state, client, head.keep_alive()).await);
        }
        Err(e) => return Some(Err(e)),
    };
    let entry = SessionEntry {
        upstream,
        route,
        upstream_session: None,
        version: Some(hello.version()),
        link: None,
        owner: ctx.principal.clone(),
    };
    let sid = match new_session(state, entry) {
        Ok(sid) => sid,
        Err(e) => return Some(Err(e)),
    };
    let response = open(state, sid, (upstream, url), hello, discovered, id);
    let shape = ClientShape {
        session: Some(sid.as_str()),
        ..ClientShape::of(head)
    };
    Some(write_json(state, client, &response, shape).await)
}

/// What becomes of one client message (no batch) on a translated session.
#[derive(Debug)]
pub(in crate::proxy) enum Route {
    /// Taken care of here (a response routed to the MRTR exchange waiting for it, a
    /// notification): nothing to answer.
    Accepted,
    /// A request the proxy answers itself, with this response.
    Local(Vec<u8>),
    /// A request for the upstream (call.rs), with its id.
    Upstream(JsonRpcId),
}

/// Routes one client message (`message`, the single message of `facts`) on a translated
/// session: the transport-neutral part of a POST, shared by Streamable HTTP (here) and
/// HTTP+SSE sessions (proxy::legacy::modern).
pub(in crate::proxy) fn route(
    session: &L2mSession,
    body: &[u8],
    facts: &Facts,
    message: &Message,
) -> Route {
    match message {
        Message::Response(_) | Message::ErrorResponse(_) => {
            local::deliver(session, facts, body);
            Route::Accepted
        }
        Message::Notification => {
            local::notified(session, facts);
            Route::Accepted
        }
        Message::Request(id) => match local::answer(session, body, facts, id) {
            Some(reply) => Route::Local(reply),
            None => Route::Upstream(id.clone()),
        },
    }
}

async fn on_session(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    facts: &Facts,
    on: (&Rc<L2mSession>, &Principal),
    stages: &RouteStages,
) -> Option<Result<bool, ProxyError>> {
    let session = on.0;
    let message = match &facts.body {
        Body::Single(message) => message,
        // A POST's facts come from its body: `Empty` (GET/DELETE's) never reaches here.
        Body::Batch | Body::Empty => {
            return Some(batch::post_batch(state, client, head, body, facts, on, stages).await);
        }
    };
    Some(match route(session, body, facts, message) {
        Route::Accepted => accepted(state, client, head).await,
        Route::Local(reply) => {
            let shape = ClientShape {
                // A local reply (ping, setLevel, subscribe, initialize) is never a listing.
                ..ClientShape::of(head)
            };
            write_json(state, client, &reply, shape).await
        }
        Route::Upstream(id) => call::call(state, client, head, body, (id, facts), on, stages).await,
    })
}

/// `202 Accepted`, no body: a notification or a response from the client.
async fn accepted(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let mut out = Vec::with_capacity(96);
    let keep = head.keep_alive();
    local_response(&mut out, 202, None, &[], b"", keep);
    state.metrics.status(202);
    client.write_all(&out).await.map_err(ProxyError::Http)?;
    Ok(keep)
}

#[cfg(test)]
#[path = "post_tests.rs"]
mod tests;
