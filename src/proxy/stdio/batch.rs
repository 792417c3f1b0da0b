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

use serde_json::value::RawValue;
use shards::io::NetStream;

use crate::http::HttpConn;
use crate::mcp::{Inspected, JsonRpcId};
use crate::pipeline::{facts, Message};
use crate::upstream::link::{Call, Delivery, LinkSession};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::answer::{write_json, ClientShape, SseOut};
use shards::timeout::within;

/// Sends each element to the link and answers with the array of replies (202 when the batch
/// held no request). Returns whether the connection stays open.
///
/// Each element goes as its original bytes, read again by the shard's inspector for its facts
/// (and the spans a shared link rewrites).
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
    let calls = send_elements(state, body, bound)?;
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

/// Writes every element of `body` (client messages that want no answer: a blocked batch's
/// client answers and notifications) to the link, answering nothing.
///
/// # Errors
/// A body that is not a batch of single messages; the link gone (404).
pub fn deliver_answers(
    state: &ShardState,
    body: &[u8],
    bound: &LinkSession,
) -> Result<(), ProxyError> {
    send_elements(state, body, bound).map(drop)
}

/// Writes every element of the batch `body` to the link, each as its original bytes read
/// again by the shard's inspector: a request as a call (returned, in body order, with its id),
/// anything else as a message that wants no answer.
///
/// # Errors
/// A body that is not a batch of single messages; the link gone (404).
fn send_elements(
    state: &ShardState,
    body: &[u8],
    bound: &LinkSession,
) -> Result<Vec<(JsonRpcId, Call)>, ProxyError> {
    let elements: Vec<&RawValue> =
        serde_json::from_slice(body).map_err(|_| ProxyError::BatchNotAllowed)?;
    let mut calls: Vec<(JsonRpcId, Call)> = Vec::new();
    for element in elements {
        let bytes = element.get().as_bytes();
        let facts = match state.inspector.borrow_mut().inspect(bytes) {
            Ok(inspected @ Inspected::Single(_)) => facts(inspected),
            _ => return Err(ProxyError::BatchNotAllowed),
        };
        let gone = |_| ProxyError::SessionNotFound { id: None };
        match facts.message() {
            Some(Message::Request(id)) => {
                let token = facts.progress_token.as_ref();
                let call = bound
                    .link
                    .call(bound.key, id, token, &facts.spans, bytes)
                    .map_err(gone)?;
                calls.push((id.clone(), call));
            }
            _ => {
                let about = super::client_message(&facts);
                bound.link.notify(bound.key, bytes, about).map_err(gone)?;
            }
        }
    }
    Ok(calls)
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
            out.event(state, client, message).await?;
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
                    out.event(state, client, &self.array).await?;
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
