//! The relay of one translated call in progress (fresh or continued by a retry): the upstream's
//! messages are relayed in the modern shape: notifications as SSE events, the final response
//! under the client's current id with `resultType: "complete"`; a server→client request the
//! client must answer ends the relay ([`Relayed::Asks`]) and the caller parks the call. Also
//! the pool checkout/checkin of the session the call holds.
//!
//! Below mrtr.rs and serve.rs (they call it; it calls neither). Not here: which flow a request
//! takes (serve.rs), the upstream I/O (upstream.rs), parking and retries (mrtr.rs), client
//! answers and errors (reply.rs), log filtering (logging.rs).

use crate::config::UpstreamId;
use std::rc::Rc;
use std::time::Instant;

use serde_json::{json, Value};
use shards::io::NetStream;

use crate::http::HttpConn;
use crate::mcp::JsonRpcId;

use super::super::error::ProxyError;
use super::super::metrics::Counter;
use super::super::relay::until_client_gone;
use super::super::state::ShardState;
use super::super::stdio::answer::{ClientShape, SseOut};
use super::logging::passes;
use super::pool::PoolKey;
use super::reply::{fail_on, write_message};
use super::source::{Failure, Source};
use super::upstream::UpSession;

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

/// An idle live session for `key`, if the pool has one (expired ones are ended).
pub(super) fn checkout(state: &Rc<ShardState>, key: &PoolKey) -> Option<UpSession> {
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

/// How a relay ended.
pub(super) enum Relayed {
    /// The client has its answer (or an error); whether the connection stays open.
    Done(bool),
    /// The upstream asked something only the client can answer: the caller parks the call
    /// (mrtr.rs) and answers `input_required`. Boxed: the rare case should not make every
    /// return of the relay as large as a parked call.
    Asks(Box<Asked>),
}

/// A server→client request the client must answer, and the call waiting for it.
pub(super) struct Asked {
    /// The call in progress.
    pub(super) ongoing: Ongoing,
    /// The SSE answer already started, if notifications came first.
    pub(super) sse: Option<SseOut>,
    /// The upstream's id for its request.
    pub(super) server_id: JsonRpcId,
    /// Its method (one of [`INPUT_METHODS`]).
    pub(super) method: String,
    /// Its params.
    pub(super) params: Value,
}

/// Relays the call until its final response or a server→client request the client must
/// answer (returned, not handled here, so this loop knows nothing of parking).
pub(super) async fn drive(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    mut ongoing: Ongoing,
) -> Result<Relayed, ProxyError> {
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
            return Ok(Relayed::Done(false));
        };
        let bytes = match next {
            Ok(Some(bytes)) => bytes,
            ended => {
                let failure = ended.err().unwrap_or_else(|| {
                    Failure::Unavailable("the answer ended without a result".into())
                });
                close_later(state, ongoing.session);
                return fail_on(state, client, shape, id, &failure, sse)
                    .await
                    .map(Relayed::Done);
            }
        };
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        match classify(value) {
            Message::Notification(value) if !passes(&value, ongoing.level) => {}
            Message::Notification(_) => notify(state, client, shape, &mut sse, &bytes).await?,
            Message::Response(mut value) => {
                complete(&mut value, id, server_info(state, upstream));
                if let Source::Http(answer) = ongoing.source {
                    answer.finish(state);
                }
                checkin(state, ongoing.key, ongoing.session);
                return write_message(state, client, shape, &value.to_string().into_bytes(), sse)
                    .await
                    .map(Relayed::Done);
            }
            Message::ServerRequest(server_id, method, params) => {
                if let Some(answer) = local_answer(&method) {
                    let response = local_response(&server_id, answer);
                    if let Err(failure) = ongoing.session.answer(state, &server_id, &response).await
                    {
                        close_later(state, ongoing.session);
                        return fail_on(state, client, shape, id, &failure, sse)
                            .await
                            .map(Relayed::Done);
                    }
                    continue;
                }
                return Ok(Relayed::Asks(Box::new(Asked {
                    ongoing,
                    sse,
                    server_id,
                    method,
                    params,
                })));
            }
        }
    }
}

/// Sends one notification to the client as an SSE event, starting the SSE answer first when
/// it is the first.
async fn notify(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    sse: &mut Option<SseOut>,
    bytes: &[u8],
) -> Result<(), ProxyError> {
    let out = match sse {
        Some(out) => out,
        None => {
            let mut out = SseOut::new(shape);
            out.start(state, client).await?;
            sse.insert(out)
        }
    };
    out.event(state, client, bytes).await
}

/// The `serverInfo` of the upstream's `initialize` answer, for the final response's `_meta`.
fn server_info(state: &ShardState, upstream: UpstreamId) -> Option<Value> {
    state
        .modern_clients
        .discovered
        .borrow()
        .get(&upstream)
        .and_then(|init| init.get("serverInfo").cloned())
}

/// The whole answer to a server→client request the proxy answers itself (`answer`: what
/// follows the id, from [`local_answer`]).
fn local_response(server_id: &JsonRpcId, answer: &[u8]) -> Vec<u8> {
    let mut response = Vec::with_capacity(96);
    response.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    server_id.write_json(&mut response);
    response.extend_from_slice(answer);
    response.push(b'}');
    response
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
