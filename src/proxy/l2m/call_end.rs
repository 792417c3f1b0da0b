//! How a translated call ends without a complete result to relay ([`Close`]), and the answer
//! each way gets ([`close`]): nothing, a JSON-RPC error written by the proxy (an MRTR round
//! that cannot go on among them), or the upstream's refusal or failure.
//!
//! Not here: the call itself (call.rs), writing the answer (sink.rs).

use serde_json::value::RawValue;

use crate::mcp::{jsonrpc, JsonRpcId};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::mrtr::Stop;
use super::sink::Sink;
use super::upstream;

/// How a call ends without a complete result to relay: what the client is told.
pub(super) enum Close {
    /// Nothing: the client cancelled, or the session ended.
    Abandon,
    /// A JSON-RPC error written by the proxy.
    Error(i32, &'static str),
    /// The upstream refused the request (401/403): relayed as is.
    Auth(upstream::AuthRefusal),
    /// The upstream failed.
    Failed(ProxyError),
    /// An MRTR round cannot go on.
    Stopped(Stop),
    /// The proxy could not write the answer: the call fails with this error, unanswered.
    Internal(&'static str),
}

/// Ends the call the way `end` says.
pub(super) async fn close<S: Sink>(
    answer: S,
    state: &ShardState,
    id: &JsonRpcId,
    end: Close,
) -> Result<S::Done, ProxyError> {
    match end {
        Close::Abandon => answer.abandon(state).await,
        Close::Error(code, message) => answer.error(state, id, code, message, None).await,
        Close::Auth(refusal) => answer.refused(state, id, refusal).await,
        Close::Failed(e) => answer.failed(state, id, e).await,
        Close::Stopped(stop) => stopped(answer, state, id, &stop).await,
        Close::Internal(what) => Err(ProxyError::Internal(what)),
    }
}

/// Answers the client with the error a [`Stop`] means.
async fn stopped<S: Sink>(
    answer: S,
    state: &ShardState,
    id: &JsonRpcId,
    stop: &Stop,
) -> Result<S::Done, ProxyError> {
    match stop {
        Stop::Undeclared { method, capability } => {
            let text = match capability {
                Some(cap) => format!(
                    "The upstream needs a {method} request, but the client did not declare the \
                     {cap:?} capability"
                ),
                None => format!("The upstream asked for {method:?}, which MRTR does not allow"),
            };
            let data =
                capability.map(|cap| format!(r#"{{"requiredCapabilities":{{"{cap}":{{}}}}}}"#));
            answer
                .error(
                    state,
                    id,
                    jsonrpc::MISSING_CLIENT_CAPABILITY,
                    &text,
                    data.as_deref(),
                )
                .await
        }
        Stop::TooManyRounds => {
            answer
                .error(
                    state,
                    id,
                    jsonrpc::INTERNAL_ERROR,
                    "The upstream kept asking for input (too many MRTR rounds)",
                    None,
                )
                .await
        }
        Stop::Empty => {
            answer
                .error(
                    state,
                    id,
                    jsonrpc::INTERNAL_ERROR,
                    "The upstream answered input_required without input requests or state",
                    None,
                )
                .await
        }
        Stop::ClientError(error) => {
            answer
                .error(
                    state,
                    id,
                    jsonrpc::INTERNAL_ERROR,
                    "The client refused the upstream's input request",
                    serde_json::from_str::<&RawValue>(error)
                        .ok()
                        .map(RawValue::get),
                )
                .await
        }
    }
}
