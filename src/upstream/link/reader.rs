//! The tasks serving one child: the stdout router (each line to the call or inbox it belongs
//! to), the stdin writer and the stderr logger; and the end of the child (stop, reap, fail
//! what was pending with the exit status).
//!
//! Not here: the link's bookkeeping API (mod.rs), field rewriting (remap.rs).
//!
//! Routing rules (stdio carries no "related request" field, so the proxy decides):
//! - a response goes to the call with its id;
//! - `notifications/progress` goes to the call that sent its token;
//! - list-changed and `resources/updated` notifications go to the session inboxes (every
//!   session's, in shared mode): they are about the server, not a request;
//! - any other notification or server→client request goes to the newest call in flight (in
//!   shared mode: its session), else to the inbox (shared mode: server requests to one session,
//!   notifications to all).

use std::rc::Rc;

use glommio::channels::local_channel::LocalReceiver;
use glommio::net::UnixStream;

use crate::config::StdioMode;
use crate::mcp::{Inspected, Inspector, Kind, MessageInfo, Method};
use crate::upstream::stdio::{ChildWriter, LineReader};

use super::source::{End, Source};
use super::{remap, Delivery, Link, SessionKey};

/// Writes queued lines to the child's stdin until the queue closes, then closes stdin.
pub(super) async fn write_lines(mut stdin: ChildWriter, lines: LocalReceiver<Vec<u8>>) {
    while let Some(line) = lines.recv().await {
        if stdin.send(&line).await.is_err() {
            // The child is gone; the stdout router notices and reports why.
            return;
        }
    }
    let _ = stdin.close().await;
}

/// Logs the child's stderr, line by line, tagged with upstream, pid and (per-session mode) the
/// client session.
pub(super) async fn log_stderr(mut stderr: LineReader<UnixStream>, link: Rc<Link>) {
    while let Ok(Some(line)) = stderr.next_line().await {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let session = link.session_tag.borrow().clone();
        tracing::info!(
            target: "shadowcat::upstream::stderr",
            upstream = %link.options.upstream,
            peer = %link.peer,
            session = session.as_deref().unwrap_or("-"),
            "{}",
            String::from_utf8_lossy(line).trim_end()
        );
    }
}

/// Routes the peer's messages until its stream ends, then stops the peer and fails
/// everything still pending with the reason.
pub(super) async fn serve(link: Rc<Link>, mut source: impl Source) {
    let mut inspector = Inspector::new();
    let end = loop {
        let step = futures_lite::future::or(async { Some(source.next_message().await) }, async {
            link.close.wait().await;
            None
        })
        .await;
        match step {
            None => break End::Closed,
            Some(Ok(None)) => break End::Eof,
            Some(Ok(Some(line))) => route(&link, &mut inspector, line),
            Some(Err(why)) => break End::Broken(why),
        }
        // A peer flooding its output must not starve the shard's other tasks (a socket read
        // that finds data ready never yields by itself).
        glommio::yield_if_needed().await;
    };
    let reason: Rc<str> = source.finish(&end, link.options.kill_grace).await.into();
    let upstream = link.options.upstream.clone();
    if matches!(end, End::Closed) {
        tracing::debug!(upstream = %upstream, peer = %link.peer, %reason, "upstream peer stopped");
    } else {
        tracing::warn!(upstream = %upstream, peer = %link.peer, %reason, "upstream peer ended");
    }
    link.fail(reason);
    link.exited.fire();
}

/// Delivers one stdout line.
fn route(link: &Link, inspector: &mut Inspector, line: &[u8]) {
    let info = match inspector.inspect(line) {
        Ok(Inspected::Single(info)) => info,
        Ok(Inspected::Batch(_)) => {
            tracing::warn!(upstream = %link.options.upstream, peer = %link.peer, "child sent a batch; dropped");
            return;
        }
        Err(error) => {
            tracing::warn!(
                upstream = %link.options.upstream,
                peer = %link.peer,
                %error,
                line = %String::from_utf8_lossy(&line[..line.len().min(200)]),
                "child wrote a line that is not a JSON-RPC message; skipped"
            );
            return;
        }
    };
    match (info.kind, info.method) {
        (Kind::Response | Kind::ErrorResponse, _) => to_waiting_call(link, line, info),
        (Kind::Notification, Some(Method::NotificationsProgress)) => progress(link, line, &info),
        (Kind::Notification, Some(Method::NotificationsResourcesUpdated))
            if link.options.mode == StdioMode::Shared =>
        {
            // Only the sessions subscribed to that resource hear about it.
            let subscribers = info.resource_uri().map(|uri| link.subscribers(uri));
            for session in subscribers.unwrap_or_default() {
                to_inboxes(link, line, Some(session));
            }
        }
        (
            Kind::Notification,
            Some(
                Method::NotificationsToolsListChanged
                | Method::NotificationsPromptsListChanged
                | Method::NotificationsResourcesListChanged
                | Method::NotificationsResourcesUpdated,
            ),
        ) => to_inboxes(link, line, None),
        _ => match link.options.mode {
            StdioMode::PerSession => to_newest_call(link, line, None),
            StdioMode::Shared => shared_unscoped(link, line, &info),
        },
    }
}

/// A response: to the call waiting for its id (under the client's own id in shared mode).
fn to_waiting_call(link: &Link, line: &[u8], info: MessageInfo) {
    let Some(id) = info.id.or_else(|| lone_call(link)) else {
        tracing::warn!(upstream = %link.options.upstream, peer = %link.peer,
            line = %String::from_utf8_lossy(line), "child sent an error without id");
        return;
    };
    let Some(call) = link.pending.borrow_mut().remove(&id) else {
        tracing::debug!(%id, "response for a call nobody waits for; dropped");
        return;
    };
    link.forget_tokens(std::slice::from_ref(&call));
    let bytes = match &call.client_id {
        Some(client_id) => remap::set(line, info.spans.id, call.client_id_text.value(client_id))
            .unwrap_or_else(|| line.to_vec()),
        None => line.to_vec(),
    };
    let is_error = info.kind == Kind::ErrorResponse;
    let _ = call.tx.try_send(Delivery::Final { bytes, is_error });
}

/// A progress notification: to the call its token belongs to (under the client's own token
/// in shared mode).
fn progress(link: &Link, line: &[u8], info: &MessageInfo) {
    let target = info
        .progress_token
        .as_ref()
        .and_then(|token| link.tokens.borrow().get(token).cloned());
    let pending = link.pending.borrow();
    match target.and_then(|key| pending.get(&key)) {
        Some(call) => {
            let bytes = match &call.client_token {
                Some(token) => remap::set(
                    line,
                    info.spans.progress_token,
                    call.client_token_text.value(token),
                )
                .unwrap_or_else(|| line.to_vec()),
                None => line.to_vec(),
            };
            let _ = to_call(link, call, bytes);
        }
        None => tracing::debug!("progress for no call in flight; dropped"),
    }
}

/// Per-session mode: the one call in flight, which an error without id (the peer could not
/// read a request) can only be about.
fn lone_call(link: &Link) -> Option<crate::mcp::JsonRpcId> {
    if link.options.mode != StdioMode::PerSession {
        return None;
    }
    let pending = link.pending.borrow();
    let mut keys = pending.keys();
    match (keys.next(), keys.next()) {
        (Some(only), None) => Some(only.clone()),
        _ => None,
    }
}

/// Queues a message for a call, unless its client has fallen `CALL_BACKLOG` messages behind
/// (it does not read them, or an interception rule holds an earlier one): then the message is
/// dropped, counted (`shadowcat_stdio_call_messages_dropped_total`) and logged once per call.
fn to_call(link: &Link, call: &super::Pending, message: Vec<u8>) -> bool {
    if call.tx.len() >= super::CALL_BACKLOG {
        link.dropped.set(link.dropped.get() + 1);
        if !call.overflowed.replace(true) {
            tracing::warn!(
                peer = %link.peer,
                backlog = super::CALL_BACKLOG,
                "a call's messages are not being taken (its client is not reading, or a rule holds one); \
                 dropping the ones beyond its backlog"
            );
        }
        return true;
    }
    call.tx.try_send(Delivery::Message(message)).is_ok()
}

/// Delivers `line` on the newest call in flight (of `session`, when given), else to the
/// inbox of that session (every session's when `None`).
fn to_newest_call(link: &Link, line: &[u8], session: Option<SessionKey>) {
    let sent = {
        let pending = link.pending.borrow();
        pending
            .values()
            .filter(|call| session.is_none_or(|s| call.session == s))
            .max_by_key(|call| call.seq)
            .map(|call| to_call(link, call, line.to_vec()))
    };
    if sent != Some(true) {
        to_inboxes(link, line, session);
    }
}

/// Shared mode: a notification or server→client request no id or token ties to a call. It
/// goes to the one session with calls in flight; with none in flight a notification goes to
/// every session and a request to the only session, if there is one. Anything else would be a
/// guess that could hand one client's data to another, so requests are answered here (ping,
/// roots) or refused, and notifications dropped.
fn shared_unscoped(link: &Link, line: &[u8], info: &MessageInfo) {
    let (kind, method, id) = (info.kind, info.method, info.id.as_ref());
    let busy: std::collections::BTreeSet<SessionKey> = link
        .pending
        .borrow()
        .values()
        .map(|call| call.session)
        .filter(|session| *session != super::PROXY_SESSION)
        .collect();
    let owner = match busy.len() {
        1 => busy.first().copied(),
        _ => None,
    };
    let (Kind::Request, Some(id)) = (kind, id) else {
        match owner {
            Some(session) => to_newest_call(link, line, Some(session)),
            // Logs and the like can carry one client's data: with no owner, nobody gets them.
            None => tracing::debug!(
                upstream = %link.options.upstream,
                "notification no single session owns; dropped"
            ),
        }
        return;
    };
    if method == Some(Method::Ping) {
        answer_child(link, id, Ok(b"{}"));
        return;
    }
    let target = owner.or_else(|| {
        if busy.is_empty() {
            only_session(link)
        } else {
            None
        }
    });
    match target.and_then(|session| {
        Some((
            session,
            link.remap_server_request(session, line, id, info.spans.id)?,
        ))
    }) {
        Some((session, bytes)) => to_newest_call(link, &bytes, Some(session)),
        None if method == Some(Method::RootsList) => answer_child(link, id, Ok(br#"{"roots":[]}"#)),
        None => {
            tracing::warn!(
                upstream = %link.options.upstream,
                peer = %link.peer,
                "shared child sent a request no single session can own; refused (use per-session mode)"
            );
            answer_child(
                link,
                id,
                Err("shadowcat (shared mode) cannot tell which client session this request is for; \
                     run this upstream in per-session mode"),
            );
        }
    }
}

/// The only client session on the link, if there is exactly one.
fn only_session(link: &Link) -> Option<SessionKey> {
    let sessions = link.sessions.borrow();
    let mut clients = sessions.keys().filter(|key| **key != super::PROXY_SESSION);
    match (clients.next(), clients.next()) {
        (Some(only), None) => Some(*only),
        _ => None,
    }
}

/// Answers a server→client request on the proxy's behalf: `Ok(result)` or `Err(message)`.
fn answer_child(link: &Link, id: &crate::mcp::JsonRpcId, answer: Result<&[u8], &str>) {
    let mut line = Vec::with_capacity(128);
    match answer {
        Ok(result) => {
            line.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            id.write_json(&mut line);
            line.extend_from_slice(br#","result":"#);
            line.extend_from_slice(result);
            line.push(b'}');
        }
        Err(message) => crate::mcp::write_error(
            &mut line,
            Some(id),
            crate::mcp::jsonrpc::INTERNAL_ERROR,
            message,
            None,
        ),
    }
    let _ = link.send_line(line);
}

/// Queues `line` in one session's inbox, or every session's when `only` is `None`.
fn to_inboxes(link: &Link, line: &[u8], only: Option<SessionKey>) {
    let sessions = link.sessions.borrow();
    for (key, inbox) in sessions.iter() {
        if *key == super::PROXY_SESSION || only.is_some_and(|only| only != *key) {
            continue;
        }
        if inbox.tx.try_send(line.to_vec()).is_err() {
            tracing::warn!(
                upstream = %link.options.upstream,
                peer = %link.peer,
                "session inbox full (no GET stream reading it); message dropped"
            );
        }
    }
}
