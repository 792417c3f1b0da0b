//! A JSON-RPC batch (protocol 2025-03-26 only) for a session served by a link: split into its
//! messages (the child may have negotiated a version without batches, and the link routes
//! by single messages), answered with one reply array.
//!
//! Messages of the calls that come before the replies (progress, server requests) switch the
//! answer to SSE, like a single call's; the reply array is then the last event ([`Replies`],
//! shared with batches on translated sessions, proxy::l2m::batch).
//!
//! Not here: deciding a batch is allowed (proxy/post.rs: only 2025-03-26 sessions).

use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;
use shards::io::NetStream;

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
    client: &mut HttpConn<NetStream>,
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
    let mut replies = Replies::default();
    for (id, call) in &calls {
        loop {
            let reply = match within(timeout, call.next()).await {
                Some(Some(Delivery::Message(message))) => {
                    replies.message(state, client, shape, &message).await?;
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
            replies.push(&reply);
            break;
        }
    }
    replies.finish(state, client, shape).await.map(Some)
}

/// A batch's one answer being built: messages that come before the replies (progress,
/// server→client requests) switch it to SSE at once; the reply array is the last event (or the
/// JSON body when nothing came first).
#[derive(Debug, Default)]
pub struct Replies {
    /// `[` and the replies so far, comma-separated (empty before the first).
    array: Vec<u8>,
    /// The SSE answer, once a message had to be streamed.
    stream: Option<SseOut>,
}

impl Replies {
    /// Streams `message` to the client ahead of the replies (the answer becomes SSE).
    ///
    /// # Errors
    /// The client's write error.
    pub async fn message(
        &mut self,
        state: &ShardState,
        client: &mut HttpConn<NetStream>,
        shape: ClientShape<'_>,
        message: &[u8],
    ) -> Result<(), ProxyError> {
        if self.stream.is_none() {
            let mut out = SseOut::new(shape);
            out.start(state, client).await?;
            self.stream = Some(out);
        }
        if let Some(out) = self.stream.as_mut() {
            out.event(client, message).await?;
        }
        Ok(())
    }

    /// Adds one reply (a whole JSON-RPC response) to the array.
    pub fn push(&mut self, reply: &[u8]) {
        self.array
            .push(if self.array.is_empty() { b'[' } else { b',' });
        self.array.extend_from_slice(reply);
    }

    /// Writes the array (as JSON, or as the stream's last event) and ends the answer; returns
    /// whether the connection stays open. No replies (every request abandoned): the stream
    /// ends without an array, as a single abandoned call's does.
    ///
    /// # Errors
    /// The client's write error.
    pub async fn finish(
        mut self,
        state: &ShardState,
        client: &mut HttpConn<NetStream>,
        shape: ClientShape<'_>,
    ) -> Result<bool, ProxyError> {
        if !self.array.is_empty() {
            self.array.push(b']');
        }
        match self.stream {
            None if !self.array.is_empty() => write_json(state, client, &self.array, shape).await,
            stream => {
                // Started once a message was streamed (finish starts an empty one).
                let mut out = stream.unwrap_or_else(|| SseOut::new(shape));
                if !self.array.is_empty() {
                    out.event(client, &self.array).await?;
                }
                out.finish(state, client).await
            }
        }
    }
}

/// A JSON-RPC error response to request `id`, for a batch's reply array.
pub fn error_reply(id: &JsonRpcId, code: i32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    crate::mcp::write_error(&mut out, Some(id), code, message, None);
    out
}
