//! One legacy client request served by a modern upstream: send it with the 2026 `_meta` and
//! headers, relay the notifications of the answer (switching the client's answer to SSE), and
//! drive MRTR rounds: `input_required` becomes server→client requests on this POST's stream,
//! the client's answers (separate POSTs, routed here by id) feed the retry, until a complete
//! result goes to the client under its own id. `notifications/cancelled` for the request
//! closes the upstream connection (the 2026 form of cancellation). A `tools/call` carries the
//! `Mcp-Param-*` headers of its annotated arguments (tools.rs), retried once with a fresh
//! `tools/list` when the upstream answers `-32020`.
//!
//! The answer goes to a [`Sink`]: the POST's own (JSON, or SSE once something is streamed), for
//! a batch element the batch's (batch.rs), for a legacy HTTP+SSE session its stream
//! (proxy::legacy::modern).
//!
//! Not here: local answers and routing of the client's messages (post.rs), the bytes (wire.rs),
//! the round bookkeeping (mrtr.rs), writing the answer (sink.rs).

use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalReceiver};
use serde_json::value::RawValue;
use shards::io::NetStream;
use shards::latch::Latch;

use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::{jsonrpc, JsonRpcId, Method};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::super::stdio::answer::ClientShape;
use super::mrtr::{self, Final, Rounds, Stop};
use super::sink::{Answer, Sink};
use super::wire::{self, ClientMeta, Retry, Shape};
use super::{tools, upstream};
use crate::pipeline::Facts;
use crate::pipeline::RouteStages;
use crate::session::l2m::{ClientAnswer, L2mSession};
use shards::timeout::within;

/// How one upstream round ended.
enum RoundEnd {
    /// The final message (response) of the round.
    Final(Vec<u8>),
    /// The upstream answered 404: an unknown method in 2026-07-28, never "session gone".
    NotFound,
    /// Cancelled by the client, or the session ended.
    Cancelled,
    /// The upstream failed.
    Failed(ProxyError),
    /// The upstream refused the request (401/403): relayed as is.
    Auth(upstream::AuthRefusal),
}

/// Removes the request's cancel latch and MRTR waiters however the call ends.
struct Inflight<'a> {
    session: &'a L2mSession,
    id: JsonRpcId,
    minted: Vec<JsonRpcId>,
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.session.inflight.borrow_mut().remove(&self.id);
        let mut waiters = self.session.waiters.borrow_mut();
        for id in &self.minted {
            waiters.remove(id);
        }
    }
}

/// Serves one translated request; returns whether the client connection stays open.
pub(in crate::proxy) async fn call(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    request: (JsonRpcId, &Facts),
    session: &Rc<L2mSession>,
    stages: &RouteStages,
) -> Result<bool, ProxyError> {
    // Only the answer to a `tools/list` can need the response side.
    let answer_stages = stages.for_answer(request.1.method, &[]);
    let answer = Answer {
        client,
        shape: ClientShape {
            keep_alive: head.keep_alive(),
            http11: head.minor_version() == 1,
            session: None,
            stages: answer_stages.as_ref(),
        },
        sse: None,
    };
    serve(state, answer, head, body, request, session).await
}

/// Serves one translated request (its id, from routing, and its facts) into `answer` (a
/// POST's own answer, a batch element's, or a legacy HTTP+SSE session's stream).
pub(in crate::proxy) async fn serve<S: Sink>(
    state: &Rc<ShardState>,
    mut answer: S,
    head: &RequestHead,
    body: &[u8],
    (id, facts): (JsonRpcId, &Facts),
    session: &Rc<L2mSession>,
) -> Result<S::Done, ProxyError> {
    let timeout = state.config.upstream(session.upstream).request_timeout;
    if session.inflight.borrow().contains_key(&id) {
        // Its cancel latch and MRTR answers are keyed by id: a second request under the same
        // id would take them over from the first (the batch path refuses it the same way).
        return Err(ProxyError::IdInFlight { id: Some(id) });
    }
    let cancel = Rc::new(Latch::default());
    session
        .inflight
        .borrow_mut()
        .insert(id.clone(), cancel.clone());
    let mut inflight = Inflight {
        session,
        id: id.clone(),
        minted: Vec::new(),
    };
    let (tx, rx) = local_channel::new_unbounded::<ClientAnswer>();
    let tx = Rc::new(tx);
    let mut rounds = Rounds::default();
    let mut retry_id: Option<Box<RawValue>> = None;
    // A tools/call mirrors its annotated arguments into Mcp-Param-* headers (tools.rs).
    let tool = facts
        .mcp_name
        .as_deref()
        .filter(|_| facts.method == Method::ToolsCall);
    let mut params = Vec::new();
    if let Some(name) = tool {
        match headers_unless_stopped(state, session, head, name, body, false, &cancel).await {
            Some(found) => params = found,
            None => return answer.abandon(state).await,
        }
    }
    let mut refreshed = false;
    loop {
        if cancel.is_fired() || session.ended.is_fired() {
            // Nothing goes upstream after a cancel, not even a retry round.
            return answer.abandon(state).await;
        }
        let level = session.log_level.borrow().clone();
        let meta = ClientMeta {
            capabilities: &session.capabilities,
            client_info: &session.client_info,
            log_level: level.as_deref(),
        };
        let retry = retry_id.as_deref().map(|rid| Retry {
            id: rid,
            responses: rounds.answers(),
            state: rounds.state(),
        });
        let upstream_body = wire::upstream_body(body, &meta, retry.as_ref())
            .map_err(|_| ProxyError::Internal("could not rewrite the request"))?;
        let end = round(
            state,
            &mut answer,
            head,
            facts,
            session,
            &upstream_body,
            &params,
            &cancel,
            timeout,
        )
        .await?;
        let message = match end {
            RoundEnd::Final(message) => message,
            RoundEnd::NotFound => {
                return answer
                    .error(
                        state,
                        &id,
                        jsonrpc::METHOD_NOT_FOUND,
                        "Method not found (the modern upstream answered 404)",
                        None,
                    )
                    .await;
            }
            RoundEnd::Cancelled => return answer.abandon(state).await,
            RoundEnd::Auth(refusal) => return answer.refused(state, &id, refusal).await,
            RoundEnd::Failed(e) => return answer.failed(state, &id, e).await,
        };
        if let Some(name) = tool.filter(|_| !refreshed && tools::is_header_mismatch(&message)) {
            // The tool's schema may have changed: read tools/list again and retry once when
            // that changes the headers (2026-07-28 §Client Behavior).
            refreshed = true;
            let Some(fresh) =
                headers_unless_stopped(state, session, head, name, body, true, &cancel).await
            else {
                return answer.abandon(state).await;
            };
            if fresh != params {
                params = fresh;
                continue;
            }
        }
        let message = if facts.method == Method::ToolsList {
            tools::relayed_list(state, session.upstream, message)
        } else {
            message
        };
        let input = match mrtr::classify(&message) {
            Ok(Final::InputRequired(input)) => input,
            Ok(Final::Done) if retry_id.is_none() => return answer.last(state, &message).await,
            Ok(Final::Done) => {
                let restored = wire::with_id(&message, &id)
                    .map_err(|_| ProxyError::Internal("could not restore the request id"))?;
                return answer.last(state, &restored).await;
            }
            Err(_) => {
                return answer
                    .error(
                        state,
                        &id,
                        jsonrpc::INTERNAL_ERROR,
                        "The modern upstream sent an input_required result the proxy cannot read",
                        None,
                    )
                    .await;
            }
        };
        let outgoing = match rounds.start(input, &session.capabilities, || session.mint("input")) {
            Ok(outgoing) => outgoing,
            Err(stop) => return stopped(answer, state, &id, &stop).await,
        };
        for out in &outgoing {
            session
                .waiters
                .borrow_mut()
                .insert(out.id.clone(), tx.clone());
            inflight.minted.push(out.id.clone());
        }
        for out in &outgoing {
            answer.stream(state, &out.message).await?;
        }
        match collect(&rx, &mut rounds, &cancel, session, timeout).await {
            Collected::Ready => {}
            Collected::Cancelled => return answer.abandon(state).await,
            Collected::TimedOut => {
                return answer
                    .error(
                        state,
                        &id,
                        jsonrpc::UPSTREAM_TIMEOUT,
                        "The client did not answer the upstream's input request in time",
                        None,
                    )
                    .await;
            }
            Collected::Stopped(stop) => return stopped(answer, state, &id, &stop).await,
        }
        retry_id = Some(
            RawValue::from_string(format!("\"{}\"", session.mint("retry")))
                .map_err(|_| ProxyError::Internal("retry id"))?,
        );
    }
}

/// The `Mcp-Param-*` headers of a `tools/call` of `name` (tools.rs, `refresh`: read
/// `tools/list` again), unless the client cancels the request or the session ends first
/// (`None`).
async fn headers_unless_stopped(
    state: &Rc<ShardState>,
    session: &L2mSession,
    head: &RequestHead,
    name: &str,
    body: &[u8],
    refresh: bool,
    cancel: &Latch,
) -> Option<Vec<(String, String)>> {
    let stop = async {
        futures_lite::future::or(cancel.wait(), session.ended.wait()).await;
        None
    };
    let found =
        async { Some(tools::call_headers(state, session, head, name, body, refresh).await) };
    futures_lite::future::or(found, stop).await
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

/// How waiting for the client's answers ended.
enum Collected {
    Ready,
    Cancelled,
    TimedOut,
    Stopped(Stop),
}

async fn collect(
    rx: &LocalReceiver<ClientAnswer>,
    rounds: &mut Rounds,
    cancel: &Latch,
    session: &L2mSession,
    timeout: Duration,
) -> Collected {
    if rounds.waiting().next().is_none() {
        // requestState alone: retry at once.
        return Collected::Ready;
    }
    loop {
        let next = futures_lite::future::or(async { rx.recv().await }, async {
            futures_lite::future::or(cancel.wait(), session.ended.wait()).await;
            None
        });
        let Some(received) = within(timeout, next).await else {
            return Collected::TimedOut;
        };
        let Some((answered, response)) = received else {
            return Collected::Cancelled;
        };
        match rounds.answer(&answered, &response) {
            Ok(true) => return Collected::Ready,
            Ok(false) => {}
            Err(stop) => return Collected::Stopped(stop),
        }
    }
}

/// Sends one round upstream and reads its answer up to the final message, streaming the
/// notifications before it to the client.
#[allow(clippy::too_many_arguments)]
async fn round<S: Sink>(
    state: &Rc<ShardState>,
    answer: &mut S,
    head: &RequestHead,
    facts: &Facts,
    session: &L2mSession,
    body: &[u8],
    params: &[(String, String)],
    cancel: &Latch,
    timeout: Duration,
) -> Result<RoundEnd, ProxyError> {
    let url = &session.url;
    let mut request = state.bufs.lease(body.len() + 1024);
    wire::request_head_with(
        &mut request,
        &url.path,
        &url.authority,
        head,
        facts.method_name().unwrap_or_default(),
        facts.mcp_name.as_deref(),
        params,
        body.len(),
    );
    request.extend_from_slice(body);
    let id = facts.id();
    let stop = async {
        futures_lite::future::or(cancel.wait(), session.ended.wait()).await;
        None
    };
    let sent = futures_lite::future::or(
        async { Some(upstream::send(state, session.upstream, &request, id).await) },
        stop,
    )
    .await;
    drop(request);
    let mut reply = match sent {
        None => return Ok(RoundEnd::Cancelled),
        Some(Err(e)) => return Ok(RoundEnd::Failed(e)),
        Some(Ok(reply)) => reply,
    };
    let status = reply.status();
    if status == 404 {
        // Dropped, not pooled: its body is unread.
        drop(reply);
        return Ok(RoundEnd::NotFound);
    }
    if let Some(refusal) = reply.auth_refusal(id, timeout).await {
        reply.finish(state);
        return Ok(RoundEnd::Auth(refusal));
    }
    loop {
        let next = futures_lite::future::or(async { Some(reply.next(id, timeout).await) }, async {
            futures_lite::future::or(cancel.wait(), session.ended.wait()).await;
            None
        })
        .await;
        let message = match next {
            // Dropping the reply closes the upstream connection: the request is cancelled.
            None => return Ok(RoundEnd::Cancelled),
            Some(Err(e)) => return Ok(RoundEnd::Failed(e)),
            Some(Ok(None)) => {
                reply.finish(state);
                return Ok(RoundEnd::Failed(ProxyError::UpstreamUnavailable {
                    id: id.cloned(),
                    reason: format!("answer ({status}) ended without a JSON-RPC response"),
                }));
            }
            Some(Ok(Some(message))) => message,
        };
        match wire::shape(&message) {
            Shape::Response => {
                // The response goes to the client now; the rest of the answer (nothing should
                // follow) is drained in the background, the connection pooled if it ends.
                reply.release(state, timeout);
                return Ok(RoundEnd::Final(message));
            }
            Shape::Notification if (200..300).contains(&status) => {
                tools::on_notification(state, session.upstream, &message);
                answer.stream(state, &message).await?;
            }
            // Requests on a 2026 request stream are not allowed; nothing else is relayable.
            _ => {}
        }
    }
}
