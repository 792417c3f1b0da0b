//! Where a translated session's messages go: the seam between the translation and the client's
//! transport. [`Sink`] takes one request's answer: a single POST's own ([`Answer`]: JSON until
//! something must be streamed, then SSE), a batch element's share of the batch's one answer
//! (super::batch), or a legacy HTTP+SSE session's stream (proxy::legacy::modern).
//! [`StreamSink`] takes a long-lived stream's messages (the `subscriptions/listen` mapping of
//! stream.rs): a Streamable HTTP client's GET stream, or again the legacy session's stream.
//! Also the in-band errors they write when the upstream fails.
//!
//! Not here: the exchange with the upstream (call.rs), the listen itself (stream.rs).

use std::future::Future;

use shards::io::NetStream;

use crate::http::HttpConn;
use crate::mcp::{jsonrpc, write_error, JsonRpcId};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::super::stdio::answer::{write_json, ClientShape, SseOut};
use super::upstream;

/// Where a translated request's answer goes: the messages before the final one (notifications,
/// MRTR server→client requests), then the final message or how the call ended without one.
/// A single POST writes to its client ([`Answer`]); a batch element feeds the batch's one
/// answer (super::batch); a legacy HTTP+SSE session its stream (proxy::legacy::modern).
pub(in crate::proxy) trait Sink {
    /// What the call gives back once answered.
    type Done;

    /// A message before the final one.
    async fn stream(&mut self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError>;

    /// The final message (the response under the client's id).
    async fn last(self, state: &ShardState, message: &[u8]) -> Result<Self::Done, ProxyError>;

    /// The call ended without a response (cancelled, or the session ended).
    async fn abandon(self, state: &ShardState) -> Result<Self::Done, ProxyError>;

    /// The upstream refused the request (401/403). By default an in-band error: only a POST
    /// answer that has not started can carry the refusal's own status.
    async fn refused(
        self,
        state: &ShardState,
        id: &JsonRpcId,
        refusal: upstream::AuthRefusal,
    ) -> Result<Self::Done, ProxyError>
    where
        Self: Sized,
    {
        let (code, text) = refusal_error(&refusal);
        self.error(state, id, code, &text, None).await
    }

    /// The upstream failed (unreachable, timed out, broke off). By default an in-band error.
    async fn failed(
        self,
        state: &ShardState,
        id: &JsonRpcId,
        error: ProxyError,
    ) -> Result<Self::Done, ProxyError>
    where
        Self: Sized,
    {
        let (code, text) = failure_error(&error);
        self.error(state, id, code, &text, None).await
    }

    /// A JSON-RPC error as the final message.
    async fn error(
        self,
        state: &ShardState,
        id: &JsonRpcId,
        code: i32,
        message: &str,
        data: Option<&str>,
    ) -> Result<Self::Done, ProxyError>
    where
        Self: Sized,
    {
        let mut body = Vec::with_capacity(160);
        write_error(&mut body, Some(id), code, message, data);
        self.last(state, &body).await
    }
}

/// The in-band error for credentials the upstream refused once the answer can no longer carry
/// the refusal's own status.
pub(in crate::proxy) fn refusal_error(refusal: &upstream::AuthRefusal) -> (i32, String) {
    (
        jsonrpc::UPSTREAM_UNAVAILABLE,
        format!("The upstream refused the request ({})", refusal.status),
    )
}

/// The in-band error for an upstream failure.
pub(in crate::proxy) fn failure_error(error: &ProxyError) -> (i32, String) {
    match error {
        ProxyError::UpstreamTimeout { .. } => (
            jsonrpc::UPSTREAM_TIMEOUT,
            "Upstream MCP server did not answer in time".to_owned(),
        ),
        other => (
            jsonrpc::UPSTREAM_UNAVAILABLE,
            format!("Upstream MCP server unavailable: {other}"),
        ),
    }
}

/// A client's long-lived stream of messages (no final message: it ends with the session or
/// the client).
pub(in crate::proxy) trait StreamSink {
    /// Sends one message.
    ///
    /// # Errors
    /// The client is gone (a write failed, or its session ended).
    async fn send(&mut self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError>;

    /// Runs `work` unless the client leaves first (`None`).
    async fn watch<F: Future>(&mut self, work: F) -> Option<F::Output>;
}

/// The client's POST answer, JSON until something must be streamed.
pub(super) struct Answer<'a> {
    pub(super) client: &'a mut HttpConn<NetStream>,
    pub(super) shape: ClientShape<'a>,
    pub(super) sse: Option<SseOut>,
}

impl Sink for Answer<'_> {
    type Done = bool;

    async fn stream(&mut self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError> {
        if self.sse.is_none() {
            let mut out = SseOut::new(self.shape);
            out.start(state, self.client).await?;
            self.sse = Some(out);
        }
        if let Some(out) = self.sse.as_mut() {
            out.event(state, self.client, message).await?;
        }
        Ok(())
    }

    async fn last(mut self, state: &ShardState, message: &[u8]) -> Result<bool, ProxyError> {
        match self.sse.as_mut() {
            Some(out) => {
                out.event(state, self.client, message).await?;
                out.finish(state, self.client).await
            }
            None => write_json(state, self.client, message, self.shape).await,
        }
    }

    async fn abandon(mut self, state: &ShardState) -> Result<bool, ProxyError> {
        let mut out = self.sse.take().unwrap_or_else(|| SseOut::new(self.shape));
        out.finish(state, self.client).await
    }

    async fn refused(
        self,
        state: &ShardState,
        id: &JsonRpcId,
        refusal: upstream::AuthRefusal,
    ) -> Result<bool, ProxyError> {
        if self.sse.is_none() {
            let keep = self.shape.keep_alive;
            return refusal.write(state, self.client, keep).await;
        }
        let (code, text) = refusal_error(&refusal);
        self.error(state, id, code, &text, None).await
    }

    async fn failed(
        self,
        state: &ShardState,
        id: &JsonRpcId,
        error: ProxyError,
    ) -> Result<bool, ProxyError> {
        if self.sse.is_none() {
            return Err(error);
        }
        let (code, text) = failure_error(&error);
        self.error(state, id, code, &text, None).await
    }
}
