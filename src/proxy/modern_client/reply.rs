//! The translated request's answers to the client: a JSON body or the last SSE event, a
//! failure upstream mapped to its status (or to an error event once SSE has started), and
//! refusals with a JSON-RPC error.
//!
//! The bottom of this folder: every flow (drive, mrtr, discover, listen) answers through it and
//! it calls none of them.

use shards::io::NetStream;

use crate::http::HttpConn;
use crate::mcp::{jsonrpc, JsonRpcId};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::super::stdio::answer::{write_json, ClientShape, SseOut};
use super::source::Failure;

/// Writes `message` as the answer: a JSON body, or the last event of the SSE answer begun.
pub(super) async fn write_message(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    message: &[u8],
    sse: Option<SseOut>,
) -> Result<bool, ProxyError> {
    match sse {
        None => write_json(state, client, message, shape).await,
        Some(mut out) => {
            out.event(state, client, message).await?;
            out.finish(state, client).await
        }
    }
}

/// Answers a failure upstream before anything was sent (see [`fail_on`]).
pub(super) async fn fail(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    failure: &Failure,
) -> Result<bool, ProxyError> {
    fail_on(state, client, shape, id, failure, None).await
}

/// Answers a failure upstream: its status and a JSON-RPC error, or an error event closing
/// the SSE answer already begun.
pub(super) async fn fail_on(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    failure: &Failure,
    sse: Option<SseOut>,
) -> Result<bool, ProxyError> {
    let (code, message) = failure.describe();
    tracing::warn!(%message, "translated request failed");
    if sse.is_none() {
        let status = match failure {
            Failure::Timeout => 504,
            Failure::Busy | Failure::NoToken => 503,
            Failure::Unavailable(_) | Failure::SessionGone => 502,
        };
        return refuse(state, client, shape, status, id, code, &message).await;
    }
    let mut body = Vec::with_capacity(128);
    jsonrpc::write_error(&mut body, Some(id), code, &message, None);
    write_message(state, client, shape, &body, sse).await
}

/// Answers 400 with a JSON-RPC invalid-params error for `id` (a bad `_meta` field or answer).
pub(super) async fn refuse_params(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    message: &str,
) -> Result<bool, ProxyError> {
    refuse(
        state,
        client,
        shape,
        400,
        id,
        jsonrpc::INVALID_PARAMS,
        message,
    )
    .await
}

/// Answers `status` with a JSON-RPC error for `id`.
pub(super) async fn refuse(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    status: u16,
    id: &JsonRpcId,
    code: i32,
    message: &str,
) -> Result<bool, ProxyError> {
    let mut body = Vec::with_capacity(message.len() + 96);
    jsonrpc::write_error(&mut body, Some(id), code, message, None);
    let mut out = Vec::with_capacity(body.len() + 128);
    super::super::headers::local_response(
        &mut out,
        status,
        Some("application/json"),
        &[],
        &body,
        shape.keep_alive,
    );
    state.metrics.status(status);
    client.write_all(&out).await.map_err(ProxyError::Http)?;
    Ok(shape.keep_alive)
}
