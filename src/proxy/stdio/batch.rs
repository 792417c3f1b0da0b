//! A JSON-RPC batch (protocol 2025-03-26 only) for a session served by a link: split into its
//! messages (the child may have negotiated a version without batches, and the link routes
//! by single messages), answered with one reply array.
//!
//! Not here: deciding a batch is allowed (proxy/post.rs: only 2025-03-26 sessions). Messages
//! of the calls that come before the replies (progress, server requests) switch the answer to
//! SSE, like a single call's; the reply array is then the last event.

use std::rc::Rc;
use std::time::Duration;

use glommio::net::TcpStream;
use serde_json::Value;

use crate::http::HttpConn;
use crate::mcp::JsonRpcId;
use crate::upstream::link::{Call, ClientMessage, Delivery, LinkSession};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::answer::{write_json, ClientShape, SseOut};
use shards::timeout::within;

/// The id of a batch element, as the inspector would read it.
fn id_of(value: Option<&Value>) -> Option<JsonRpcId> {
    match value? {
        Value::String(s) => Some(JsonRpcId::String(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .map(JsonRpcId::Number)
            .or_else(|| n.as_u64().map(JsonRpcId::from_u64)),
        _ => None,
    }
}

/// Sends each element to the link and answers with the array of replies (202 when the batch
/// held no request). Returns whether the connection stays open.
///
/// # Errors
/// 404 when the link is gone; client write failures.
pub async fn post_batch(
    state: &ShardState,
    client: &mut HttpConn<TcpStream>,
    body: &[u8],
    bound: &Rc<LinkSession>,
    timeout: Duration,
    shape: ClientShape<'_>,
) -> Result<Option<bool>, ProxyError> {
    let elements: Vec<Value> =
        serde_json::from_slice(body).map_err(|_| ProxyError::BatchNotAllowed)?;
    let mut calls: Vec<(JsonRpcId, Call)> = Vec::new();
    for element in &elements {
        let bytes = serde_json::to_vec(element).map_err(|_| ProxyError::BatchNotAllowed)?;
        let id = id_of(element.get("id"));
        let method = element.get("method").and_then(Value::as_str);
        match (method, id) {
            (Some(_), Some(id)) => {
                let token = id_of(element.pointer("/params/_meta/progressToken"));
                let call = bound
                    .link
                    .call(bound.key, &id, token.as_ref(), &bytes)
                    .map_err(|_| ProxyError::SessionNotFound { id: None })?;
                calls.push((id, call));
            }
            (method, id) => {
                let cancelled = (method == Some("notifications/cancelled"))
                    .then(|| id_of(element.pointer("/params/requestId")))
                    .flatten();
                let about = ClientMessage {
                    cancelled: cancelled.as_ref(),
                    response_to: if method.is_none() { id.as_ref() } else { None },
                    is_initialized: method == Some("notifications/initialized"),
                };
                bound
                    .link
                    .notify(bound.key, &bytes, about)
                    .map_err(|_| ProxyError::SessionNotFound { id: None })?;
            }
        }
    }
    if calls.is_empty() {
        return Ok(None);
    }
    let mut replies = b"[".to_vec();
    let mut stream: Option<SseOut> = None;
    for (id, call) in &calls {
        loop {
            let reply = match within(timeout, call.next()).await {
                Some(Some(Delivery::Message(message))) => {
                    if stream.is_none() {
                        let mut out = SseOut::new(shape);
                        out.start(state, client).await?;
                        stream = Some(out);
                    }
                    if let Some(out) = stream.as_mut() {
                        out.event(client, &message).await?;
                    }
                    continue;
                }
                Some(Some(Delivery::Final { bytes, .. })) => bytes,
                None => {
                    call.link()
                        .cancel(call.upstream_id(), "proxy request timeout");
                    error_reply(
                        id,
                        crate::mcp::jsonrpc::UPSTREAM_TIMEOUT,
                        "Upstream MCP server did not answer in time",
                    )
                }
                Some(None) => {
                    let reason = call
                        .link()
                        .failure()
                        .map_or_else(|| "request cancelled".to_owned(), |r| r.to_string());
                    error_reply(
                        id,
                        crate::mcp::jsonrpc::UPSTREAM_UNAVAILABLE,
                        &format!("Upstream MCP server unavailable: {reason}"),
                    )
                }
            };
            if replies.len() > 1 {
                replies.push(b',');
            }
            replies.extend_from_slice(&reply);
            break;
        }
    }
    replies.push(b']');
    match stream {
        Some(mut out) => {
            out.event(client, &replies).await?;
            out.finish(state, client).await.map(Some)
        }
        None => write_json(state, client, &replies, shape).await.map(Some),
    }
}

fn error_reply(id: &JsonRpcId, code: i32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    crate::mcp::write_error(&mut out, Some(id), code, message, None);
    out
}
