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
//! the round bookkeeping (mrtr.rs), writing the answer (sink.rs), the answer of a call that ends
//! without a result (call_end.rs).

use std::borrow::Cow;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use serde_json::value::RawValue;
use shards::io::NetStream;
use shards::latch::Latch;

use crate::http::{HttpConn, RequestHead};
use crate::mcp::{jsonrpc, JsonRpcId, Method};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::super::stdio::answer::ClientShape;
use super::call_end::{close, Close};
use super::mrtr::{self, Final, InputRequired, Rounds};
use super::sink::{Answer, Sink};
use super::wire::{self, ClientMeta, Retry, Shape};
use super::{tools, upstream};
use crate::pipeline::Facts;
use crate::pipeline::RouteStages;
use crate::session::l2m::{ClientAnswer, L2mSession};
use crate::session::Principal;
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
    session: (&Rc<L2mSession>, &Principal),
    stages: &RouteStages,
) -> Result<bool, ProxyError> {
    // Only the answer to a `tools/list` can need the response side.
    let answer_stages = stages.for_answer(request.1.method, &[]);
    let answer = Answer {
        client,
        shape: ClientShape {
            stages: answer_stages.as_ref(),
            ..ClientShape::of(head)
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
    (session, principal): (&Rc<L2mSession>, &Principal),
) -> Result<S::Done, ProxyError> {
    let timeout = state.config.upstream(session.upstream).request_timeout;
    let (mut inflight, cancel) = Inflight::claim(session, &id)?;
    let (tx, rx) = local_channel::new_unbounded::<ClientAnswer>();
    let client = (Rc::new(tx), rx);
    let mut rounds = Rounds::default();
    let mut retry_id: Option<Box<RawValue>> = None;
    let tool = called_tool(facts);
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
        let upstream_body = round_body(session, body, retry_id.as_deref(), &rounds)?;
        let upstream = (&upstream_body[..], &params[..]);
        let end = round(
            state,
            &mut answer,
            head,
            facts,
            (session, principal),
            upstream,
            &cancel,
            timeout,
        );
        let message = match end.await?.into_final() {
            Ok(message) => message,
            Err(end) => return close(answer, state, &id, end).await,
        };
        if let Some(name) = tool.filter(|_| !refreshed && tools::is_header_mismatch(&message)) {
            refreshed = true;
            let call = (&**session, head, name, body);
            match refresh_headers(state, call, &cancel, &mut params).await {
                None => return answer.abandon(state).await,
                Some(true) => continue,
                Some(false) => {}
            }
        }
        let message = if facts.method == Method::ToolsList {
            tools::relayed_list(state, session.upstream, message)
        } else {
            message
        };
        let input = match next_step(&message, &id, retry_id.is_some()) {
            Ok(Next::Last(last)) => return answer.last(state, &last).await,
            Ok(Next::Input(input)) => input,
            Err(end) => return close(answer, state, &id, end).await,
        };
        let asked = ask_client(
            &mut answer,
            state,
            &mut inflight,
            &client,
            &mut rounds,
            input,
            (&cancel, timeout),
        );
        if let Some(end) = asked.await? {
            return close(answer, state, &id, end).await;
        }
        retry_id = Some(retry_id_for(session)?);
    }
}

impl<'a> Inflight<'a> {
    /// Registers request `id` in the session's table of requests in flight (its cancel latch
    /// and MRTR answers are keyed by id); the guard removes it however the call ends.
    ///
    /// # Errors
    /// `id` is in flight already: a second request under it would take over the first's
    /// latch and answers (the batch path refuses it the same way).
    fn claim(session: &'a L2mSession, id: &JsonRpcId) -> Result<(Self, Rc<Latch>), ProxyError> {
        if session.inflight.borrow().contains_key(id) {
            return Err(ProxyError::IdInFlight {
                id: Some(id.clone()),
            });
        }
        let cancel = Rc::new(Latch::default());
        session
            .inflight
            .borrow_mut()
            .insert(id.clone(), cancel.clone());
        let inflight = Inflight {
            session,
            id: id.clone(),
            minted: Vec::new(),
        };
        Ok((inflight, cancel))
    }
}

/// The body of the next upstream round: the client's request with the session's 2026
/// `_meta`, and on a retry the client's MRTR answers and the upstream's request state.
fn round_body(
    session: &L2mSession,
    body: &[u8],
    retry_id: Option<&RawValue>,
    rounds: &Rounds,
) -> Result<Vec<u8>, ProxyError> {
    let level = session.log_level.borrow().clone();
    let meta = ClientMeta {
        capabilities: &session.capabilities,
        client_info: &session.client_info,
        log_level: level.as_deref(),
    };
    let retry = retry_id.map(|rid| Retry {
        id: rid,
        responses: rounds.answers(),
        state: rounds.state(),
    });
    wire::upstream_body(body, &meta, retry.as_ref())
        .map_err(|_| ProxyError::Internal("could not rewrite the request"))
}

impl RoundEnd {
    /// The round's final message, or how the call ends without one.
    fn into_final(self) -> Result<Vec<u8>, Close> {
        match self {
            RoundEnd::Final(message) => Ok(message),
            RoundEnd::NotFound => Err(Close::Error(
                jsonrpc::METHOD_NOT_FOUND,
                "Method not found (the modern upstream answered 404)",
            )),
            RoundEnd::Cancelled => Err(Close::Abandon),
            RoundEnd::Auth(refusal) => Err(Close::Auth(refusal)),
            RoundEnd::Failed(e) => Err(Close::Failed(e)),
        }
    }
}

/// What a round's final message leads to.
enum Next<'m> {
    /// The complete result for the client.
    Last(Cow<'m, [u8]>),
    /// Another MRTR round: the input the upstream needs from the client.
    Input(InputRequired),
}

/// Reads a round's final message: a complete result (put back under the client's `id` when a
/// retry carried a minted one), or the input the upstream asks for.
fn next_step<'m>(message: &'m [u8], id: &JsonRpcId, retried: bool) -> Result<Next<'m>, Close> {
    match mrtr::classify(message) {
        Ok(Final::InputRequired(input)) => Ok(Next::Input(input)),
        Ok(Final::Done) if !retried => Ok(Next::Last(Cow::Borrowed(message))),
        Ok(Final::Done) => match wire::with_id(message, id) {
            Ok(restored) => Ok(Next::Last(Cow::Owned(restored))),
            Err(_) => Err(Close::Internal("could not restore the request id")),
        },
        Err(_) => Err(Close::Error(
            jsonrpc::INTERNAL_ERROR,
            "The modern upstream sent an input_required result the proxy cannot read",
        )),
    }
}

/// One MRTR round with the client: the upstream's input requests go to it as server→client
/// requests under minted ids (each answer routed back here by `client`'s sender), then its
/// answers are awaited (`collect`) until the cancel latch fires or `timeout` passes. `Some`
/// when the call ends instead of retrying.
async fn ask_client<S: Sink>(
    answer: &mut S,
    state: &ShardState,
    inflight: &mut Inflight<'_>,
    client: &(Rc<LocalSender<ClientAnswer>>, LocalReceiver<ClientAnswer>),
    rounds: &mut Rounds,
    input: InputRequired,
    (cancel, timeout): (&Latch, Duration),
) -> Result<Option<Close>, ProxyError> {
    let session = inflight.session;
    let outgoing = match rounds.start(input, &session.capabilities, || session.mint("input")) {
        Ok(outgoing) => outgoing,
        Err(stop) => return Ok(Some(Close::Stopped(stop))),
    };
    for out in &outgoing {
        session
            .waiters
            .borrow_mut()
            .insert(out.id.clone(), client.0.clone());
        inflight.minted.push(out.id.clone());
    }
    for out in &outgoing {
        answer.stream(state, &out.message).await?;
    }
    Ok(collect(&client.1, rounds, cancel, session, timeout).await)
}

/// A fresh id for the next retry round, minted by the session.
fn retry_id_for(session: &L2mSession) -> Result<Box<RawValue>, ProxyError> {
    RawValue::from_string(format!("\"{}\"", session.mint("retry")))
        .map_err(|_| ProxyError::Internal("retry id"))
}

/// The tool a `tools/call` names: its annotated arguments are mirrored into `Mcp-Param-*`
/// headers (tools.rs).
fn called_tool(facts: &Facts) -> Option<&str> {
    facts
        .mcp_name
        .as_deref()
        .filter(|_| facts.method == Method::ToolsCall)
}

/// After the upstream said the `Mcp-Param-*` headers do not match (the tool's schema may have
/// changed): reads `tools/list` again into `params`. `Some(true)`: they changed, retry once
/// with them (2026-07-28 §Client Behavior); `Some(false)`: unchanged; `None`: the client
/// cancelled or the session ended.
async fn refresh_headers(
    state: &Rc<ShardState>,
    (session, head, name, body): (&L2mSession, &RequestHead, &str, &[u8]),
    cancel: &Latch,
    params: &mut Vec<(String, String)>,
) -> Option<bool> {
    let fresh = headers_unless_stopped(state, session, head, name, body, true, cancel).await?;
    if fresh == *params {
        return Some(false);
    }
    *params = fresh;
    Some(true)
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

/// Waits for the client's answers to the round's input requests (at once when the upstream
/// sent only `requestState`); `Some` when the call ends instead of retrying.
async fn collect(
    rx: &LocalReceiver<ClientAnswer>,
    rounds: &mut Rounds,
    cancel: &Latch,
    session: &L2mSession,
    timeout: Duration,
) -> Option<Close> {
    // requestState alone (no request waits for an answer): retry at once.
    rounds.waiting().next()?;
    loop {
        let next = futures_lite::future::or(async { rx.recv().await }, async {
            futures_lite::future::or(cancel.wait(), session.ended.wait()).await;
            None
        });
        let Some(received) = within(timeout, next).await else {
            return Some(Close::Error(
                jsonrpc::UPSTREAM_TIMEOUT,
                "The client did not answer the upstream's input request in time",
            ));
        };
        let Some((answered, response)) = received else {
            return Some(Close::Abandon);
        };
        match rounds.answer(&answered, &response) {
            Ok(true) => return None,
            Ok(false) => {}
            Err(stop) => return Some(Close::Stopped(stop)),
        }
    }
}

/// Sends one round upstream (with the token exchanged for `principal`'s, the request's own)
/// and reads its answer up to the final message, streaming the notifications before it to the
/// client.
#[allow(clippy::too_many_arguments)]
async fn round<S: Sink>(
    state: &Rc<ShardState>,
    answer: &mut S,
    head: &RequestHead,
    facts: &Facts,
    (session, principal): (&L2mSession, &Principal),
    (body, params): (&[u8], &[(String, String)]),
    cancel: &Latch,
    timeout: Duration,
) -> Result<RoundEnd, ProxyError> {
    let no_token = |why| ProxyError::no_token(why, facts.id().cloned());
    state
        .exchange_for(session.upstream, principal)
        .await
        .map_err(no_token)?;
    let configured = state
        .upstream_headers(session.upstream, principal)
        .map_err(no_token)?;
    let mut request = state.bufs.lease(body.len() + 1024);
    wire::request_head_with(
        &mut request,
        (&session.url, &configured),
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
    state.upstream_answered(session.upstream, reply.status(), principal);
    if reply.status() == 404 {
        // Dropped, not pooled: its body is unread.
        drop(reply);
        return Ok(RoundEnd::NotFound);
    }
    if let Some(refusal) = reply.auth_refusal(id, timeout).await {
        reply.finish(state);
        return Ok(RoundEnd::Auth(refusal));
    }
    read_round(state, answer, (facts, session), reply, cancel, timeout).await
}

/// Reads a round's answer message by message: the notifications before the response go to
/// the client, the response ends the round.
async fn read_round<S: Sink>(
    state: &Rc<ShardState>,
    answer: &mut S,
    (facts, session): (&Facts, &L2mSession),
    mut reply: upstream::Reply,
    cancel: &Latch,
    timeout: Duration,
) -> Result<RoundEnd, ProxyError> {
    let id = facts.id();
    let status = reply.status();
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
