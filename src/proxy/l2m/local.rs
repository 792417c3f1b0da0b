//! What a translated session answers without the upstream (MCP-NOTES §9): `ping`,
//! `logging/setLevel`, `resources/subscribe`/`unsubscribe` and a second `initialize` are
//! answered here; a client notification is acted on here (`notifications/cancelled` stops the
//! request in flight); a client response is handed to the MRTR exchange waiting for it.
//!
//! Shared by a single POST (post.rs) and each element of a batch (batch.rs), which both sit
//! above it. Not here: deciding which messages go where (post.rs `route`), the upstream call
//! (call.rs).

use serde::Deserialize;

use crate::mcp::{jsonrpc, write_error, JsonRpcId, Method, LOG_LEVELS};
use crate::pipeline::Facts;

use crate::session::l2m::L2mSession;

/// Routes a client's response to the MRTR exchange waiting for it (none waiting: dropped).
pub(super) fn deliver(session: &L2mSession, facts: &Facts, message: &[u8]) {
    if let Some(id) = facts.id() {
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

/// The proxy's own answer to the request `id` when it serves it locally (`ping`,
/// `logging/setLevel`, subscriptions, a second `initialize`); `None` when it goes upstream.
pub(super) fn answer(
    session: &L2mSession,
    body: &[u8],
    facts: &Facts,
    id: &JsonRpcId,
) -> Option<Vec<u8>> {
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
    let mut out = Vec::with_capacity(96);
    match local {
        Ok(()) => {
            out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            id.write_json(&mut out);
            out.extend_from_slice(br#","result":{}}"#);
        }
        Err((code, message)) => write_error(&mut out, Some(id), code, message, None),
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
