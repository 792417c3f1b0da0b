//! The proxy's side of the audit log: a record per request on routes of a shard with
//! `[audit]` (opened when the head is read, closed with the outcome when the request ends),
//! the facts only the proxy knows (route, principal, session, the message), the refusal while
//! `audit.required` cannot be met, and the shard's flusher task with its metrics and log lines.
//!
//! Not here: the record, the line and the file (the audit module). Cost without `[audit]`:
//! one `Option` check per request; nothing is allocated.

use std::future::Future;
use std::rc::Rc;

use shards::latch::Latch;

use crate::audit::scope;
use crate::audit::{Outcome, Record};
use crate::auth::AuthError;
use crate::config::RouteId;
use crate::http::{Method as HttpMethod, RequestHead};
use crate::mcp::JsonRpcId;
use crate::pipeline::{Facts, Principal};

use super::error::ProxyError;
use super::metrics::Counter;
use super::respond::error_status;
use super::state::ShardState;

/// Opens the record of the request whose head is `head`, when the shard keeps an audit log
/// (the connection runs inside `audit::scope::connection`, see [`spawn_connection`]).
pub fn open(state: &ShardState, head: &RequestHead) {
    if state.audit.is_none() {
        return;
    }
    let method = match head.method() {
        HttpMethod::Get => "GET",
        HttpMethod::Head => "HEAD",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Other => "OTHER",
    };
    scope::begin(Record::new(method));
}

/// Runs a client connection's future as a task: inside its own audit scope when the shard
/// keeps an audit log (one wrapper per connection, nothing per request), bare otherwise.
pub fn spawn_connection(state: &ShardState, connection: impl Future<Output = ()> + 'static) {
    if state.audit.is_some() {
        glommio::spawn_local(scope::connection(connection)).detach();
    } else {
        glommio::spawn_local(connection).detach();
    }
}

/// Refuses the request while `audit.required` is set and lines cannot be written.
///
/// # Errors
/// [`ProxyError::AuditUnavailable`].
pub fn check_required(state: &ShardState) -> Result<(), ProxyError> {
    match &state.audit {
        Some(log) if log.refusing() => {
            state.metrics.incr(Counter::AuditRefused);
            Err(ProxyError::AuditUnavailable)
        }
        _ => Ok(()),
    }
}

/// Notes the route a request matched and the session it names.
pub fn note_route(route: RouteId, legacy: bool, session: Option<&[u8]>) {
    scope::note(|record| {
        record.route = Some(route);
        record.legacy = legacy;
        if let Some(id) = session.and_then(|raw| std::str::from_utf8(raw).ok()) {
            record.set_session(id);
        }
    });
}

/// Notes who sent the request (once authenticated).
pub fn note_principal(principal: &Principal) {
    scope::note(|record| record.principal = Some(principal.clone()));
}

/// Notes the message of a POST: method, id, tool, and for a `tools/call` its arguments'
/// hash (and the arguments, with `audit.arguments`).
pub fn note_message(state: &ShardState, facts: &Facts, body: &[u8]) {
    let Some(log) = &state.audit else {
        return;
    };
    let arguments = (facts.method == crate::mcp::Method::ToolsCall && !facts.is_batch())
        .then(|| crate::audit::arguments::canonical(body))
        .flatten();
    let keep_arguments = log.config().arguments;
    scope::note(|record| {
        if facts.is_batch() {
            record.method = Some("batch".into());
            record.batch = facts.elements.len();
        } else {
            record.method = facts.method_name().map(str::to_owned);
            record.id = facts.id().map(id_value);
        }
        if facts.method == crate::mcp::Method::ToolsCall {
            record.tool.clone_from(&facts.mcp_name);
        }
        if let Some((text, hash)) = arguments {
            record.arguments_sha256 = Some(hash);
            record.arguments = keep_arguments.then_some(text);
        }
    });
}

/// Notes how a request that failed with `err` ended.
pub fn note_error(err: &ProxyError) {
    if let Some(outcome) = outcome(err) {
        scope::note(|record| record.outcome = Some(outcome));
    }
}

/// Drops the request's record: the request moved to another shard, which audits it.
pub fn discard() {
    drop(scope::end());
}

/// Closes the request's record and queues its line (nothing for requests that matched no
/// route and were not refused: unknown paths, the metadata document).
pub fn close(state: &ShardState) {
    let Some(log) = &state.audit else {
        return;
    };
    let Some(mut record) = scope::end() else {
        return;
    };
    if record.route.is_none() && record.outcome.is_none() {
        return;
    }
    // Neither refused nor answered: the client went away first.
    if record.outcome.is_none() && record.status.is_none() {
        record.outcome = Some(Outcome::ClientGone);
    }
    let route = record.route.map(|id| state.config.route(id).path.as_str());
    if !log.push(&record, state.id().0, route) {
        state.metrics.incr(Counter::AuditDropped);
    }
}

/// The shard's flusher: writes the pending lines every `flush_interval` until `stop` fires,
/// then once more (after the requests in flight ended).
pub async fn flusher(state: Rc<ShardState>, stop: Rc<Latch>) {
    let Some(log) = &state.audit else {
        return;
    };
    let interval = log.config().flush_interval;
    while !stop.is_fired() {
        futures_lite::future::or(glommio::timer::sleep(interval), async {
            stop.wait().await;
        })
        .await;
        flush(&state).await;
    }
    // Closed first: a line pushed while the final write is on its thread would never go out.
    log.close();
    flush(&state).await;
}

/// One write of the pending lines, counted and logged (a failure once per episode).
async fn flush(state: &ShardState) {
    let Some(log) = &state.audit else {
        return;
    };
    let done = log.flush().await;
    let metrics = &state.metrics;
    metrics.add(Counter::AuditLines, done.written as u64);
    metrics.add(Counter::AuditDropped, done.dropped as u64);
    if done.rotated {
        metrics.incr(Counter::AuditRotations);
    }
    let file = log.config().file.display();
    if done.recovered {
        tracing::warn!(shard = state.id().0, file = %file, "audit log writable again");
    }
    if let Some(e) = done.error {
        metrics.incr(Counter::AuditWriteErrors);
        // Every failed write is counted; the log says so when writes start failing (and
        // again after a recovery), not once per batch.
        if done.started_failing {
            tracing::error!(shard = state.id().0, file = %file, error = %e,
                required = log.config().required,
                "cannot write the audit log; lines are dropped until it is writable");
        } else {
            tracing::debug!(shard = state.id().0, error = %e, "audit log still not writable");
        }
    }
}

/// The audit outcome of a request that failed with `err`; `None` for an unknown path.
fn outcome(err: &ProxyError) -> Option<Outcome> {
    Some(match err {
        ProxyError::NoRoute => return None,
        ProxyError::UnknownTool { .. }
        | ProxyError::BatchUnknownTool { .. }
        | ProxyError::MethodDenied { .. }
        | ProxyError::BatchMethodDenied { .. } => Outcome::Denied,
        ProxyError::RateLimited { .. } => Outcome::RateLimited,
        ProxyError::Auth(refusal) => match refusal.error {
            AuthError::Missing | AuthError::Invalid(_) => Outcome::Unauthenticated,
            AuthError::InsufficientScope(_) => Outcome::Forbidden,
            AuthError::TokenInQuery => Outcome::Refused,
            AuthError::KeysUnavailable => Outcome::Failed,
        },
        // The proxy's own limits: refused, not failed.
        ProxyError::UpstreamBusy { .. } | ProxyError::TooManySessions { .. } => Outcome::Refused,
        other if error_status(other) >= 500 => Outcome::Failed,
        _ => Outcome::Refused,
    })
}

/// A JSON-RPC id as the line writes it.
fn id_value(id: &JsonRpcId) -> serde_json::Value {
    match id {
        JsonRpcId::Number(n) => (*n).into(),
        JsonRpcId::LargeNumber(n) => (*n).into(),
        JsonRpcId::String(s) => s.as_str().into(),
    }
}
