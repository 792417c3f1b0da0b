//! The flow of one translated 2026-07-28 request: a fresh request checks out (or opens) a
//! pooled legacy session and sends the client's bytes on it; a retry carrying `requestState`
//! is unsealed, answers the pending exchange's server→client requests upstream and picks the
//! exchange up again. Either way the upstream's messages are relayed in the modern shape:
//! notifications as SSE events, the final response under the client's current id with
//! `resultType: "complete"`, and a server→client request ends the answer with an
//! `input_required` result (the exchange waits in the shard's pending table).
//!
//! Not here: the upstream I/O (upstream.rs), the MRTR rounds (mrtr.rs), log filtering
//! (logging.rs), discovery (discover.rs), listens (listen.rs).

use crate::config::UpstreamId;
use std::rc::Rc;
use std::time::Instant;

use serde_json::{json, Value};
use shards::io::NetStream;

use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::{jsonrpc, JsonRpcId};

use super::super::error::ProxyError;
use super::super::metrics::Counter;
use super::super::relay::until_client_gone;
use super::super::state::ShardState;
use super::super::stdio::answer::{write_json, ClientShape, SseOut};
use super::logging::{log_level, passes, BAD_LEVEL};
use super::mrtr::{input_required, retry};
use super::pool::{PoolKey, Principal};
use super::source::{Failure, Source};
use super::upstream::UpSession;
use crate::pipeline::Facts;
use crate::pipeline::RequestCtx;

const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// Server→client requests a 2026-07-28 client can answer through `inputRequests`.
const INPUT_METHODS: &[&str] = &["sampling/createMessage", "elicitation/create", "roots/list"];

/// A call in progress upstream and the session it holds.
pub(super) struct Ongoing {
    /// The request's log level (`notifications/message` filter).
    pub(super) level: Option<usize>,
    /// The call's messages.
    pub(super) source: Source,
    /// The id the upstream knows the call by (the first request's, also across retries).
    pub(super) upstream_id: JsonRpcId,
    /// The session it runs on (checked out).
    pub(super) session: UpSession,
    /// Where the session returns.
    pub(super) key: PoolKey,
}

/// Serves a modern request on a legacy upstream; returns whether the connection stays open.
///
/// # Errors
/// Client write failures; refusals are answered here (400/404 with a JSON-RPC error).
pub(in crate::proxy) async fn serve(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    ctx: &RequestCtx,
) -> Result<bool, ProxyError> {
    let (upstream, facts, started) = (ctx.upstream, &ctx.facts, ctx.started);
    let shape = ClientShape {
        keep_alive: head.keep_alive(),
        http11: head.minor_version() == 1,
        session: None,
        stages: Some(&ctx.stages),
    };
    let id = facts
        .id
        .clone()
        .ok_or(ProxyError::Internal("modern request without an id"))?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ProxyError::Internal("inspected body is not JSON"))?;
    let method = facts.method_name().unwrap_or_default().to_owned();
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    let principal = ctx.principal.clone();
    state.metrics.incr(Counter::ModernTranslated);
    let keep = match method.as_str() {
        "server/discover" => {
            super::discover::answer(state, upstream, client, &id, &params, shape).await?
        }
        "ping" | "logging/setLevel" => {
            refuse(
                state,
                client,
                shape,
                404,
                &id,
                jsonrpc::METHOD_NOT_FOUND,
                &format!("{method} is not a 2026-07-28 method"),
            )
            .await?
        }
        "subscriptions/listen" => {
            super::listen::listen(state, upstream, client, shape, &id, &params).await?
        }
        _ => {
            let request = request_hash(&method, facts.mcp_name.as_deref());
            match params.get("requestState") {
                Some(sealed) => {
                    retry(
                        state, upstream, client, head, body, shape, &id, &params, sealed,
                        &principal, request,
                    )
                    .await?
                }
                None => {
                    fresh(
                        state, upstream, client, shape, &id, facts, body, &params, principal,
                        request,
                    )
                    .await?
                }
            }
        }
    };
    state.metrics.request(facts.method, started.elapsed());
    super::reap(state);
    Ok(keep)
}

/// Binds a `requestState` to the request it continues (method and name).
fn request_hash(method: &str, name: Option<&str>) -> u64 {
    let mut text = String::with_capacity(method.len() + 64);
    text.push_str(method);
    text.push('\0');
    text.push_str(name.unwrap_or_default());
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the request's parts"
)]
async fn fresh(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    facts: &Facts,
    body: &[u8],
    params: &Value,
    principal: Principal,
    request: u64,
) -> Result<bool, ProxyError> {
    let Ok(level) = log_level(params) else {
        return refuse_params(state, client, shape, id, BAD_LEVEL).await;
    };
    let (capabilities, info) = super::upstream::declared_client(params);
    let key = PoolKey {
        upstream,
        principal,
        capabilities: capabilities.to_string().into(),
    };
    // A pooled session the upstream forgot (restart, its own expiry) answers 404: the request
    // is sent once more on a fresh session (it never reached a live session).
    let mut pooled = checkout(state, &key);
    let (source, session) = loop {
        let reused = pooled.is_some();
        let session = match pooled.take() {
            Some(session) => session,
            None => match super::upstream::open(state, upstream, &capabilities, &info).await {
                Ok(opened) => {
                    state
                        .modern_clients
                        .discovered
                        .borrow_mut()
                        .insert(upstream, Rc::new(opened.result));
                    opened.session
                }
                Err(failure) => return fail(state, client, shape, id, &failure).await,
            },
        };
        match session
            .call(
                state,
                upstream,
                id,
                facts.progress_token.as_ref(),
                &facts.spans,
                body,
            )
            .await
        {
            Ok(source) => break (source, session),
            Err(Failure::SessionGone) if reused => drop(session),
            Err(failure) => {
                close_later(state, session);
                return fail(state, client, shape, id, &failure).await;
            }
        }
    };
    let ongoing = Ongoing {
        level,
        source,
        upstream_id: id.clone(),
        session,
        key,
    };
    drive(state, upstream, client, shape, id, ongoing, request).await
}

/// An idle live session for `key`, if the pool has one (expired ones are ended).
fn checkout(state: &Rc<ShardState>, key: &PoolKey) -> Option<UpSession> {
    let (taken, expired) = state
        .modern_clients
        .pool
        .borrow_mut()
        .checkout(key, Instant::now());
    for session in expired {
        close_later(state, session);
    }
    taken.filter(UpSession::is_alive)
}

pub(super) fn close_later(state: &Rc<ShardState>, session: UpSession) {
    let state = state.clone();
    glommio::spawn_local(async move { session.close(&state).await }).detach();
}

fn checkin(state: &Rc<ShardState>, key: PoolKey, session: UpSession) {
    if !session.is_alive() {
        return;
    }
    let evicted = state
        .modern_clients
        .pool
        .borrow_mut()
        .checkin(key, session, Instant::now());
    if let Some(evicted) = evicted {
        close_later(state, evicted);
    }
}

/// What the upstream sent, as the relay sees it.
enum Message {
    Notification(Value),
    ServerRequest(JsonRpcId, String, Value),
    Response(Value),
}

fn classify(value: Value) -> Message {
    let id = value.get("id").and_then(JsonRpcId::from_value);
    match (value.get("method").and_then(Value::as_str), id) {
        (Some(method), Some(id)) => {
            let method = method.to_owned();
            let params = value.get("params").cloned().unwrap_or(Value::Null);
            Message::ServerRequest(id, method, params)
        }
        (Some(_), None) => Message::Notification(value),
        (None, _) => Message::Response(value),
    }
}

/// Relays the call until its final response or a server→client request the client must
/// answer.
pub(super) async fn drive(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    mut ongoing: Ongoing,
    request: u64,
) -> Result<bool, ProxyError> {
    let timeout = state.config.upstream(upstream).request_timeout;
    let mut sse: Option<SseOut> = None;
    loop {
        // 2026-07-28: closing the stream cancels the request; the legacy upstream hears it
        // as `notifications/cancelled` and the session returns to the pool.
        let Some(next) = until_client_gone(client, ongoing.source.next(state, timeout)).await
        else {
            state.metrics.incr(Counter::ClientGone);
            ongoing
                .session
                .cancel(state, ongoing.source, &ongoing.upstream_id)
                .await;
            checkin(state, ongoing.key, ongoing.session);
            return Ok(false);
        };
        let bytes = match next {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                close_later(state, ongoing.session);
                let failure = Failure::Unavailable("the answer ended without a result".into());
                return fail_on(state, client, shape, id, &failure, sse).await;
            }
            Err(failure) => {
                close_later(state, ongoing.session);
                return fail_on(state, client, shape, id, &failure, sse).await;
            }
        };
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        match classify(value) {
            Message::Notification(value) if !passes(&value, ongoing.level) => {}
            Message::Notification(_) => {
                let out = match sse.as_mut() {
                    Some(out) => out,
                    None => {
                        let mut out = SseOut::new(shape);
                        out.start(state, client).await?;
                        sse.insert(out)
                    }
                };
                out.event(client, &bytes).await?;
            }
            Message::Response(mut value) => {
                let server_info = state
                    .modern_clients
                    .discovered
                    .borrow()
                    .get(&upstream)
                    .and_then(|init| init.get("serverInfo").cloned());
                complete(&mut value, id, server_info);
                if let Source::Http(answer) = ongoing.source {
                    answer.finish(state);
                }
                checkin(state, ongoing.key, ongoing.session);
                return write_message(state, client, shape, &value.to_string().into_bytes(), sse)
                    .await;
            }
            Message::ServerRequest(server_id, method, params) => {
                if let Some(answer) = local_answer(&method) {
                    let mut response = Vec::with_capacity(96);
                    response.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
                    server_id.write_json(&mut response);
                    response.extend_from_slice(answer);
                    response.push(b'}');
                    if let Err(failure) = ongoing.session.answer(state, &server_id, &response).await
                    {
                        close_later(state, ongoing.session);
                        return fail_on(state, client, shape, id, &failure, sse).await;
                    }
                    continue;
                }
                return input_required(
                    state, upstream, client, shape, id, ongoing, request, sse, server_id, method,
                    params,
                )
                .await;
            }
        }
    }
}

/// The final response in the modern shape: the client's current id, `resultType: "complete"`
/// and `_meta["io.modelcontextprotocol/serverInfo"]` (from the upstream's `initialize`) on a
/// result that lacks them.
fn complete(response: &mut Value, id: &JsonRpcId, server_info: Option<Value>) {
    let Some(object) = response.as_object_mut() else {
        return;
    };
    object.insert("id".into(), id.to_value());
    let Some(Value::Object(result)) = object.get_mut("result") else {
        return;
    };
    result
        .entry("resultType")
        .or_insert_with(|| Value::String("complete".into()));
    if let Some(info) = server_info {
        if let Some(meta) = result
            .entry("_meta")
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            meta.entry(SERVER_INFO).or_insert(info);
        }
    }
}

/// Server requests the proxy answers itself: `ping`, and anything a 2026 client cannot take.
fn local_answer(method: &str) -> Option<&'static [u8]> {
    if method == "ping" {
        return Some(br#","result":{}"#);
    }
    if INPUT_METHODS.contains(&method) {
        return None;
    }
    Some(br#","error":{"code":-32601,"message":"Method not found (the proxy's 2026-07-28 client cannot take it)"}"#)
}

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
            out.event(client, message).await?;
            out.finish(state, client).await
        }
    }
}

pub(super) async fn fail(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    failure: &Failure,
) -> Result<bool, ProxyError> {
    fail_on(state, client, shape, id, failure, None).await
}

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
            Failure::Busy => 503,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_results_get_the_modern_shape() {
        let mut response = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": []}});
        complete(
            &mut response,
            &JsonRpcId::String("retry".into()),
            Some(json!({"name": "legacy"})),
        );
        assert_eq!(response["id"], "retry");
        assert_eq!(response["result"]["resultType"], "complete");
        assert_eq!(response["result"]["_meta"][SERVER_INFO]["name"], "legacy");
        let mut error =
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "x"}});
        complete(&mut error, &JsonRpcId::Number(2), None);
        assert_eq!(
            error,
            json!({"jsonrpc": "2.0", "id": 2, "error": {"code": -32602, "message": "x"}})
        );
        let mut typed =
            json!({"id": 1, "result": {"resultType": "complete", "_meta": {SERVER_INFO: 1}}});
        complete(
            &mut typed,
            &JsonRpcId::Number(1),
            Some(json!({"name": "other"})),
        );
        assert_eq!(typed["result"]["_meta"][SERVER_INFO], 1);
    }

    #[test]
    fn request_hash_binds_method_and_name() {
        assert_eq!(
            request_hash("tools/call", Some("a")),
            request_hash("tools/call", Some("a"))
        );
        assert_ne!(
            request_hash("tools/call", Some("a")),
            request_hash("tools/call", Some("b"))
        );
        assert_ne!(
            request_hash("tools/call", Some("a")),
            request_hash("prompts/get", Some("a"))
        );
    }

    #[test]
    fn upstream_messages_are_classified() {
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "id": 3, "method": "sampling/createMessage"})),
            Message::ServerRequest(JsonRpcId::Number(3), _, _)
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "method": "notifications/progress"})),
            Message::Notification(_)
        ));
        assert!(matches!(
            classify(json!({"jsonrpc": "2.0", "id": 3, "result": {}})),
            Message::Response(_)
        ));
        assert!(local_answer("ping").is_some());
        assert!(local_answer("sampling/createMessage").is_none());
        assert!(local_answer("tasks/get").is_some());
    }
}
