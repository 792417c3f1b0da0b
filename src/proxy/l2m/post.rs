//! A legacy client's POST when its session is (or, for `initialize`, becomes) translated for a
//! modern upstream: `initialize` answered from `server/discover` with a session minted here;
//! `ping`, `logging/setLevel`, `resources/subscribe`/`unsubscribe` and every notification
//! answered locally; the client's responses routed to the MRTR exchange waiting for them;
//! everything else sent upstream (call.rs); a 2025-03-26 batch split into these same paths
//! (batch.rs).
//!
//! Not here: the decision to translate (detect.rs), the upstream exchange (call.rs).

use std::rc::Rc;
use std::time::Instant;

use glommio::net::TcpStream;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::{jsonrpc, write_error, JsonRpcId, Kind, Method, ProtocolVersion, LOG_LEVELS};
use crate::session::{SessionEntry, SessionId};

use super::super::error::ProxyError;
use super::super::headers::local_response;
use super::super::post::{new_session, Facts};
use super::super::state::ShardState;
use super::super::stdio::answer::{write_json, ClientShape};
use super::session::L2mSession;
use super::wire::ClientMeta;
use super::{batch, call, detect};

/// Serves the POST when translation applies; `None` when it passes through as before (the
/// upstream is not modern, or the session is not a translated one).
#[allow(clippy::too_many_arguments)]
pub(in crate::proxy) async fn intercept(
    state: &Rc<ShardState>,
    client: &mut HttpConn<TcpStream>,
    head: &RequestHead,
    body: &[u8],
    facts: &Facts,
    upstream: usize,
    session: Option<SessionId>,
    started: Instant,
) -> Option<Result<bool, ProxyError>> {
    let served = match session {
        None if facts.is_initialize && detect::may_translate(state, upstream) => {
            initialize(state, client, head, body, facts, upstream).await
        }
        None => return None,
        Some(sid) => {
            let translated = state.l2m.session(&sid)?;
            on_session(state, client, head, body, facts, &translated).await
        }
    };
    if served.is_some() {
        state.metrics.request(facts.method, started.elapsed());
    }
    served
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

async fn initialize(
    state: &Rc<ShardState>,
    client: &mut HttpConn<TcpStream>,
    head: &RequestHead,
    body: &[u8],
    facts: &Facts,
    upstream: usize,
) -> Option<Result<bool, ProxyError>> {
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
    let meta = ClientMeta {
        capabilities: &capabilities,
        client_info: &client_info,
        log_level: None,
    };
    let discovered =
        match detect::for_initialize(state, upstream, head, &meta, facts.id.as_ref()).await {
            Ok(detect::Decision::Translate(found)) => found,
            Ok(detect::Decision::PassThrough) => return None,
            Ok(detect::Decision::Refused(refusal)) => {
                return Some(refusal.write(state, client, head.keep_alive()).await);
            }
            Err(e) => return Some(Err(e)),
        };
    let version = ProtocolVersion::negotiate(requested.as_deref().unwrap_or_default().as_bytes());
    let entry = SessionEntry {
        upstream: u16::try_from(upstream).unwrap_or(u16::MAX),
        upstream_session: None,
        version: Some(version),
        link: None,
    };
    let sid = match new_session(state, entry) {
        Ok(sid) => sid,
        Err(e) => return Some(Err(e)),
    };
    let id = facts.id.clone().unwrap_or(JsonRpcId::Number(0));
    let response = discovered.initialize_response(&id, version);
    state.l2m.sessions.borrow_mut().insert(
        sid,
        Rc::new(L2mSession::new(
            upstream,
            version,
            capabilities,
            client_info,
            discovered,
        )),
    );
    tracing::debug!(
        upstream,
        version = version.as_str(),
        "translated session opened"
    );
    let shape = ClientShape {
        keep_alive: head.keep_alive(),
        http11: head.minor_version() == 1,
        session: Some(sid.as_str()),
    };
    Some(write_json(state, client, &response, shape).await)
}

async fn on_session(
    state: &Rc<ShardState>,
    client: &mut HttpConn<TcpStream>,
    head: &RequestHead,
    body: &[u8],
    facts: &Facts,
    session: &Rc<L2mSession>,
) -> Option<Result<bool, ProxyError>> {
    if facts.is_batch {
        return Some(batch::post_batch(state, client, head, body, facts, session).await);
    }
    let shape = ClientShape {
        keep_alive: head.keep_alive(),
        http11: head.minor_version() == 1,
        session: None,
    };
    match facts.kind {
        Some(Kind::Response | Kind::ErrorResponse) => {
            deliver(session, facts, body);
            Some(accepted(state, client, head).await)
        }
        Some(Kind::Notification) => {
            notified(session, facts);
            Some(accepted(state, client, head).await)
        }
        Some(Kind::Request) => {
            let Some(reply) = local(session, body, facts) else {
                return Some(call::call(state, client, head, body, facts, session).await);
            };
            Some(write_json(state, client, &reply, shape).await)
        }
        None => Some(Err(ProxyError::Internal("a message without a kind"))),
    }
}

/// Routes a client's response to the MRTR exchange waiting for it (none waiting: dropped).
pub(super) fn deliver(session: &L2mSession, facts: &Facts, message: &[u8]) {
    if let Some(id) = &facts.id {
        let waiter = session.waiters.borrow_mut().remove(id);
        if let Some(waiter) = waiter {
            let _ = waiter.try_send((id.clone(), message.to_vec()));
        }
    }
}

/// Acts on a client notification: `notifications/cancelled` stops the request in flight; the
/// others need nothing upstream (a modern upstream has no session to tell).
pub(super) fn notified(session: &L2mSession, facts: &Facts) {
    if facts.method == Method::NotificationsCancelled {
        if let Some(cancelled) = &facts.cancelled {
            if let Some(latch) = session.inflight.borrow().get(cancelled) {
                latch.fire();
            }
        }
    }
}

/// The proxy's own answer to a request it serves locally (`ping`, `logging/setLevel`,
/// subscriptions, a second `initialize`); `None` when the request goes upstream.
pub(super) fn local(session: &L2mSession, body: &[u8], facts: &Facts) -> Option<Vec<u8>> {
    let local = match facts.method {
        Method::Ping => Ok(()),
        Method::LoggingSetLevel => set_level(session, body),
        Method::ResourcesSubscribe | Method::ResourcesUnsubscribe => subscribe(session, facts),
        Method::Initialize => Err((
            jsonrpc::INVALID_REQUEST,
            "The session is already initialized",
        )),
        _ => return None,
    };
    let id = facts.id.clone().unwrap_or(JsonRpcId::Number(0));
    let mut out = Vec::with_capacity(96);
    match local {
        Ok(()) => {
            out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            id.write_json(&mut out);
            out.extend_from_slice(br#","result":{}}"#);
        }
        Err((code, message)) => write_error(&mut out, Some(&id), code, message, None),
    }
    Some(out)
}

fn set_level(session: &L2mSession, body: &[u8]) -> Result<(), (i32, &'static str)> {
    #[derive(Deserialize)]
    struct SetLevel {
        params: Option<Level>,
    }
    #[derive(Deserialize)]
    struct Level {
        level: Option<String>,
    }
    let level = serde_json::from_slice::<SetLevel>(body)
        .ok()
        .and_then(|m| m.params)
        .and_then(|p| p.level)
        .filter(|l| LOG_LEVELS.contains(&l.as_str()))
        .ok_or((
            jsonrpc::INVALID_PARAMS,
            "params.level must be a logging level",
        ))?;
    *session.log_level.borrow_mut() = Some(level);
    Ok(())
}

fn subscribe(session: &L2mSession, facts: &Facts) -> Result<(), (i32, &'static str)> {
    let uri = facts
        .resource
        .clone()
        .ok_or((jsonrpc::INVALID_PARAMS, "params.uri is required"))?;
    let changed = if facts.method == Method::ResourcesSubscribe {
        session.subscriptions.borrow_mut().insert(uri)
    } else {
        session.subscriptions.borrow_mut().remove(&uri)
    };
    if changed {
        session.subscriptions_changed();
    }
    Ok(())
}

/// `202 Accepted`, no body: a notification or a response from the client.
async fn accepted(
    state: &ShardState,
    client: &mut HttpConn<TcpStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    let mut out = Vec::with_capacity(96);
    let keep = head.keep_alive();
    local_response(&mut out, 202, None, &[], b"", keep);
    state.metrics.status(202);
    client.write_all(&out).await.map_err(ProxyError::Http)?;
    Ok(keep)
}
