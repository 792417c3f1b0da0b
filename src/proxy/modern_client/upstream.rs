//! The legacy side of a translated request: opening a pooled upstream session (`initialize` +
//! `notifications/initialized`, over HTTP or a link), sending a call on it, answering a
//! server→client request, and ending a session (DELETE, or dropping the link session).
//!
//! Not here: reading a call's messages (source.rs), what they mean to the modern client
//! (drive.rs), pooling (`proxy::state::modern_pool`); the
//! [`UpSession`] and [`Live`] types (`proxy::state::modern`, re-exported here).

use crate::config::UpstreamId;
use crate::session::Principal;
use std::rc::Rc;
use std::time::Duration;

use crate::http::{write_request_head_with, Framing, Head};
use crate::mcp::{Inspected, JsonRpcId, ProtocolVersion, Spans};
use crate::upstream::link::{ClientMessage, Link, LinkSession};

use super::super::exchange::{exchange, finish};
pub use super::super::state::modern::{Live, UpSession};
use super::super::state::ShardState;
use super::source::{failure, Failure, HttpAnswer, Source};
use crate::upstream::children::{AcquireError, Children};
use shards::timeout::within;

/// The version the proxy asks a legacy upstream for (the newest session-ful one).
const LEGACY_VERSION: ProtocolVersion = ProtocolVersion::LATEST_SESSIONFUL;
/// How long a request waits for an evicted idle child to be reaped.
const EVICT_WAIT: Duration = Duration::from_secs(5);

/// Builds a POST to an HTTP upstream with the session's headers and the upstream's configured
/// ones (with token exchange: the token exchanged for `owner`'s, exchanged now if needed).
async fn post_request(
    state: &ShardState,
    (upstream, owner): (UpstreamId, &Principal),
    session: Option<(&str, &str)>,
    body: &[u8],
) -> Result<Vec<u8>, Failure> {
    let up = state.config.upstream(upstream);
    let url = up
        .http()
        .ok_or_else(|| Failure::Unavailable("not an HTTP upstream".into()))?;
    state
        .exchange_for(upstream, owner)
        .await
        .map_err(|_| Failure::NoToken)?;
    let configured = state
        .upstream_headers(upstream, owner)
        .map_err(|_| Failure::NoToken)?;
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("Host", url.authority.as_bytes()),
        ("Content-Type", b"application/json"),
        ("Accept", b"application/json, text/event-stream"),
    ];
    if let Some((id, version)) = session {
        if !id.is_empty() {
            headers.push(("Mcp-Session-Id", id.as_bytes()));
        }
        headers.push(("MCP-Protocol-Version", version.as_bytes()));
    }
    let mut out = Vec::with_capacity(body.len() + 512);
    write_request_head_with(
        &mut out,
        "POST",
        url.path.as_bytes(),
        headers,
        configured.lines(),
        Framing::Length(body.len() as u64),
    );
    out.extend_from_slice(body);
    Ok(out)
}

/// What `initialize` gave back.
#[derive(Debug)]
pub struct Opened {
    /// The session.
    pub session: UpSession,
    /// The `initialize` result object (for `server/discover`).
    pub result: serde_json::Value,
}

fn initialize_body(capabilities: &serde_json::Value, info: &serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY_VERSION.as_str(),
            "capabilities": capabilities,
            "clientInfo": info,
        }
    })
    .to_string()
    .into_bytes()
}

const INITIALIZED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// What a modern request declares about its client in `_meta` (capabilities, clientInfo): what
/// the pooled upstream session serving it is initialized with. `{}` and a stand-in name when
/// absent.
pub fn declared_client(params: &serde_json::Value) -> (serde_json::Value, serde_json::Value) {
    use super::super::l2m::wire::{META_CAPABILITIES, META_CLIENT_INFO};
    let meta = params.get("_meta");
    let capabilities = meta
        .and_then(|m| m.get(META_CAPABILITIES))
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let info = meta
        .and_then(|m| m.get(META_CLIENT_INFO))
        .cloned()
        .unwrap_or_else(
            || serde_json::json!({"name": "shadowcat-translated-client", "version": "0"}),
        );
    (capabilities, info)
}

/// Opens a session on `upstream` declaring `capabilities` and `info` (the modern client's).
pub async fn open(
    state: &Rc<ShardState>,
    (upstream, owner): (UpstreamId, &Principal),
    capabilities: &serde_json::Value,
    info: &serde_json::Value,
) -> Result<Opened, Failure> {
    let config = state.config.upstream(upstream);
    let timeout = config.request_timeout;
    let live = Live::take(&state.modern_clients.live, super::MAX_LIVE).ok_or(Failure::Busy)?;
    state
        .metrics
        .incr(super::super::metrics::Counter::TranslationSessions);
    let body = initialize_body(capabilities, info);
    if config.is_linked() {
        return open_link(state, upstream, &body, timeout, live).await;
    }
    let request = post_request(state, (upstream, owner), None, &body).await?;
    let ex = exchange(state, upstream, &request, None, false)
        .await
        .map_err(failure)?;
    let status = ex.head.status();
    let id = ex
        .head
        .header("mcp-session-id")
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(Box::from);
    let mut answer = Source::Http(Box::new(HttpAnswer::new(ex)?));
    let result = loop {
        let Some(message) = answer.next(state, timeout).await? else {
            return Err(Failure::Unavailable(format!(
                "initialize answered {status} without a result"
            )));
        };
        let value: serde_json::Value = serde_json::from_slice(&message)
            .map_err(|_| Failure::Unavailable("initialize answer is not JSON".into()))?;
        if value.get("method").is_some() {
            continue;
        }
        match value.get("result") {
            Some(result) => break result.clone(),
            None => {
                return Err(Failure::Unavailable(format!(
                    "initialize refused: {}",
                    value.get("error").unwrap_or(&value)
                )))
            }
        }
    };
    if let Source::Http(answer) = answer {
        answer.finish(state);
    }
    let version: Box<str> = result
        .get("protocolVersion")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(LEGACY_VERSION.as_str())
        .into();
    let session = UpSession::Http {
        upstream,
        id,
        version,
        live,
        owner: owner.clone(),
    };
    // `notifications/initialized`: answered 202 (the body, if any, is read and dropped).
    let request = post_request(
        state,
        (upstream, owner),
        session.http_headers(),
        INITIALIZED,
    )
    .await?;
    let ex = exchange(state, upstream, &request, None, false)
        .await
        .map_err(failure)?;
    HttpAnswer::drain(ex, state, timeout).await?;
    Ok(Opened { session, result })
}

/// Opens a session on a linked (stdio) upstream: on the shared child, or on a child of its
/// own that answers `initialize` here.
async fn open_link(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    body: &[u8],
    timeout: Duration,
    live: Live,
) -> Result<Opened, Failure> {
    let children = state
        .children(upstream)
        .ok_or_else(|| Failure::Unavailable("linked upstream without children".into()))?;
    if children.mode() == crate::config::StdioMode::Shared {
        return open_shared(children, timeout, live).await;
    }
    let link = acquire_link(state, children, upstream).await?;
    let key = link.open_session().map_err(|e| unavailable(&e))?;
    let bound = Rc::new(LinkSession {
        link: link.clone(),
        key,
    });
    let call = link
        .call(key, &JsonRpcId::Number(0), None, &Spans::default(), body)
        .map_err(|e| unavailable(&e))?;
    let mut source = Source::Link(call);
    let result = initialize_result(state, &mut source, timeout).await?;
    drop(source);
    link.notify(
        key,
        INITIALIZED,
        ClientMessage {
            cancelled: None,
            response_to: None,
            is_initialized: true,
            spans: Spans::default(),
        },
    )
    .map_err(|e| unavailable(&e))?;
    Ok(Opened {
        session: UpSession::Link(bound, live),
        result,
    })
}

/// A link error as the failure a translated request reports.
fn unavailable(e: &dyn std::fmt::Display) -> Failure {
    Failure::Unavailable(e.to_string())
}

/// A session on the shared child, which was initialized once for all its sessions: the
/// result is the one it answered then.
async fn open_shared(
    children: &Rc<Children>,
    timeout: Duration,
    live: Live,
) -> Result<Opened, Failure> {
    let (link, result) = children
        .shared(timeout)
        .await
        .map_err(|e| unavailable(&e))?;
    let key = link.open_session().map_err(|e| unavailable(&e))?;
    let result = serde_json::from_slice(&result)
        .map_err(|_| Failure::Unavailable("initialize result is not JSON".into()))?;
    Ok(Opened {
        session: UpSession::Link(Rc::new(LinkSession { link, key }), live),
        result,
    })
}

/// A child of the session's own; at `max` children, ends this upstream's idle pooled
/// sessions (which hold children too) and tries once more.
async fn acquire_link(
    state: &ShardState,
    children: &Rc<Children>,
    upstream: UpstreamId,
) -> Result<Rc<Link>, Failure> {
    match children.for_session().await {
        Ok(link) => Ok(link),
        Err(AcquireError::Full(_)) => {
            // Idle pooled sessions hold children too: end this upstream's and try once more.
            let idle = state
                .modern_clients
                .pool
                .borrow_mut()
                .drain_upstream(upstream);
            if idle.is_empty() {
                return Err(Failure::Busy);
            }
            let links: Vec<_> = idle
                .iter()
                .filter_map(|s| match s {
                    UpSession::Link(bound, _) => Some(bound.link.clone()),
                    UpSession::Http { .. } => None,
                })
                .collect();
            tracing::info!(
                upstream = upstream.compact(),
                sessions = idle.len(),
                "children at max: ending idle pooled sessions to make room"
            );
            // Ending a per-session link's only session stops its child; its slot frees once
            // the child is reaped.
            drop(idle);
            for link in links {
                let _ = within(EVICT_WAIT, link.wait_exited()).await;
            }
            children.for_session().await.map_err(|e| match e {
                AcquireError::Full(_) => Failure::Busy,
                other => unavailable(&other),
            })
        }
        Err(other) => Err(unavailable(&other)),
    }
}

/// Reads the child's messages until the `initialize` answer, skipping its requests to the
/// client; returns the result.
async fn initialize_result(
    state: &Rc<ShardState>,
    source: &mut Source,
    timeout: Duration,
) -> Result<serde_json::Value, Failure> {
    loop {
        let Some(message) = source.next(state, timeout).await? else {
            return Err(Failure::Unavailable("initialize got no answer".into()));
        };
        let value: serde_json::Value = serde_json::from_slice(&message)
            .map_err(|_| Failure::Unavailable("initialize answer is not JSON".into()))?;
        if value.get("method").is_some() {
            continue;
        }
        match value.get("result") {
            Some(result) => return Ok(result.clone()),
            None => return Err(Failure::Unavailable("initialize refused".into())),
        }
    }
}

impl UpSession {
    fn http_headers(&self) -> Option<(&str, &str)> {
        match self {
            Self::Http { id, version, .. } => Some((id.as_deref().unwrap_or(""), version)),
            Self::Link(..) => None,
        }
    }

    /// Whether the session can still serve (a link whose child died cannot).
    pub fn is_alive(&self) -> bool {
        match self {
            Self::Http { .. } => true,
            Self::Link(bound, _) => bound.link.is_alive(),
        }
    }

    /// Sends the client's request (its original bytes) on this session.
    pub async fn call(
        &self,
        state: &Rc<ShardState>,
        upstream: UpstreamId,
        id: &JsonRpcId,
        token: Option<&JsonRpcId>,
        spans: &Spans,
        body: &[u8],
    ) -> Result<Source, Failure> {
        match self {
            Self::Http { owner, .. } => {
                let request =
                    post_request(state, (upstream, owner), self.http_headers(), body).await?;
                let ex = exchange(state, upstream, &request, Some(id), false)
                    .await
                    .map_err(failure)?;
                let status = ex.head.status();
                state.upstream_answered(upstream, status, owner);
                if status == 404 {
                    finish(state, ex, false);
                    return Err(Failure::SessionGone);
                }
                if !(200..300).contains(&status) && status != 400 {
                    // A JSON-RPC error body still reaches the client; anything else fails.
                    let json = ex
                        .head
                        .header("content-type")
                        .is_some_and(|v| v.starts_with(b"application/json"));
                    if !json {
                        finish(state, ex, false);
                        return Err(Failure::Unavailable(format!("upstream answered {status}")));
                    }
                }
                Ok(Source::Http(Box::new(HttpAnswer::new(ex)?)))
            }
            Self::Link(bound, _) => bound
                .link
                .call(bound.key, id, token, spans, body)
                .map(Source::Link)
                .map_err(|e| Failure::Unavailable(e.to_string())),
        }
    }

    /// Answers a server→client request the call raised (`response` is a JSON-RPC response).
    pub async fn answer(
        &self,
        state: &Rc<ShardState>,
        server_id: &JsonRpcId,
        response: &[u8],
    ) -> Result<(), Failure> {
        match self {
            Self::Http {
                upstream, owner, ..
            } => {
                let session = self.http_headers();
                let request = post_request(state, (*upstream, owner), session, response).await?;
                let ex = exchange(state, *upstream, &request, None, false)
                    .await
                    .map_err(failure)?;
                let status = ex.head.status();
                HttpAnswer::drain(ex, state, Duration::from_secs(5)).await?;
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(Failure::Unavailable(format!(
                        "upstream refused the answer ({status})"
                    )))
                }
            }
            Self::Link(bound, _) => bound
                .link
                .notify(
                    bound.key,
                    response,
                    ClientMessage {
                        cancelled: None,
                        response_to: Some(server_id),
                        is_initialized: false,
                        spans: spans_of(state, response),
                    },
                )
                .map_err(|e| Failure::Unavailable(e.to_string())),
        }
    }

    /// Cancels `source` (a call on this session whose client hung up): the upstream is told
    /// with `notifications/cancelled` for `upstream_id` (MCP-NOTES §11.8) and the call dropped.
    pub async fn cancel(&self, state: &Rc<ShardState>, source: Source, upstream_id: &JsonRpcId) {
        const REASON: &str = "the 2026-07-28 client closed its stream";
        match source {
            Source::Link(call) => call.link().cancel(call.upstream_id(), REASON),
            Source::Http(answer) => {
                // Dropping the answer closes its connection (never pooled mid-body).
                drop(answer);
                let mut note = Vec::with_capacity(128);
                crate::mcp::write_cancelled(&mut note, upstream_id, REASON);
                if let Err(e) = self.answer(state, upstream_id, &note).await {
                    tracing::debug!(?e, "cancellation not delivered upstream");
                }
            }
        }
    }

    /// Ends the session upstream (HTTP: DELETE; links: ending the link session).
    pub async fn close(self, state: &Rc<ShardState>) {
        if let Self::Http {
            upstream,
            id: Some(id),
            owner,
            ..
        } = self
        {
            let end = super::super::teardown::end_upstream_session;
            end(state, (upstream, &owner), Some(&id)).await;
        }
    }
}

/// Where the id and progress token sit in a message the proxy built (a shared link splices
/// its own values there).
pub(super) fn spans_of(state: &ShardState, message: &[u8]) -> Spans {
    match state.inspector.borrow_mut().inspect(message) {
        Ok(Inspected::Single(info)) => info.spans,
        _ => Spans::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_slots_are_bounded_and_freed_on_drop() {
        let count = Rc::new(std::cell::Cell::new(0));
        let a = Live::take(&count, 2).unwrap();
        let b = Live::take(&count, 2).unwrap();
        assert!(Live::take(&count, 2).is_none());
        drop(a);
        assert_eq!(count.get(), 1);
        let c = Live::take(&count, 2);
        assert!(c.is_some());
        drop((b, c));
        assert_eq!(count.get(), 0);
    }
}
