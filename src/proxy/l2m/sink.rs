//! The seam between the translation and the client's transport: where a translated session's
//! messages go. [`Sink`] takes the messages of a long-lived stream (`subscriptions/listen`
//! notifications), [`Reply`] the messages of one request's answer (notifications, MRTR
//! server→client requests, then the response). A Streamable HTTP client gets them on its POST's
//! answer (call.rs: JSON, switched to SSE when something must stream) or its GET stream
//! (stream.rs); a legacy HTTP+SSE client gets each as an `event: message` on its session stream
//! (crate::proxy::legacy::modern).
//!
//! Not here: what is sent (call.rs, stream.rs), how each transport writes it.

use std::future::Future;

use crate::mcp::{write_error, JsonRpcId};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::upstream::AuthRefusal;

/// The message of the in-band error that stands for an upstream's 401/403 when no HTTP
/// status can carry it.
pub(in crate::proxy) fn refused_text(status: u16) -> String {
    format!("The upstream refused the client's credentials ({status})")
}

/// A client's stream of messages.
pub(in crate::proxy) trait Sink {
    /// Sends one message that does not end anything.
    ///
    /// # Errors
    /// The client is gone (write error, or its session ended).
    async fn send(&mut self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError>;

    /// Runs `work` unless the client leaves first (`None`).
    async fn watch<F: Future>(&mut self, work: F) -> Option<F::Output>;
}

/// One request's answer to a client.
pub(in crate::proxy) trait Reply: Sink + Sized {
    /// Whether nothing went out yet, so the answer can still be an HTTP status (Streamable
    /// HTTP only: a legacy SSE answer is always in-band).
    fn fresh(&self) -> bool;

    /// Sends the final message; returns whether the client connection stays open.
    ///
    /// # Errors
    /// The client's write error.
    async fn last(self, state: &ShardState, message: &[u8]) -> Result<bool, ProxyError>;

    /// Ends the answer without a response (the request was cancelled).
    ///
    /// # Errors
    /// The client's write error.
    async fn close(self, state: &ShardState) -> Result<bool, ProxyError>;

    /// Relays an upstream 401/403: as the HTTP answer (status, challenge, body) while
    /// [`Reply::fresh`], else as a `-32010` error for request `id` ([`refused_text`]).
    ///
    /// # Errors
    /// The client's write error.
    async fn refuse(
        self,
        state: &ShardState,
        id: &JsonRpcId,
        refusal: AuthRefusal,
    ) -> Result<bool, ProxyError>;

    /// Ends the answer with a JSON-RPC error for `id`.
    ///
    /// # Errors
    /// The client's write error.
    async fn error(
        self,
        state: &ShardState,
        id: &JsonRpcId,
        code: i32,
        message: &str,
        data: Option<&str>,
    ) -> Result<bool, ProxyError> {
        let mut body = Vec::with_capacity(160);
        write_error(&mut body, Some(id), code, message, data);
        self.last(state, &body).await
    }
}
