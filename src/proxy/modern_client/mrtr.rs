//! MRTR for translated requests (MCP-NOTES §9): an upstream server→client request ends the
//! client's answer with `input_required` (the exchange parked in the shard's pending table
//! under a sealed `requestState`); the client's retry is unsealed, handed to the owning shard
//! if it landed elsewhere, its `inputResponses` answered upstream, and the call relayed on.
//!
//! Above drive.rs: the relay loop returns a server→client request and this module parks the
//! call ([`relay`]). Not here: the relay loop (drive.rs), sealing (seal.rs), the shard handoff
//! (handoff.rs), client answers (reply.rs).

use crate::config::UpstreamId;
use std::rc::Rc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use shards::io::NetStream;

use crate::http::{HttpConn, RequestHead};
use crate::mcp::{jsonrpc, JsonRpcId};

use super::super::error::ProxyError;
use super::super::metrics::Counter;
use super::super::state::ShardState;
use super::super::stdio::answer::ClientShape;
use super::drive::{close_later, drive, Asked, Ongoing, Relayed};
use super::logging::{log_level, BAD_LEVEL};
use super::pool::Principal;
use super::reply::{fail, fail_on, refuse, refuse_params, write_message};
use super::seal::{self, Handle};
use super::source::Failure;
use super::{Pending, MAX_PENDING, PENDING_TTL};

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the request's parts"
)]
pub(super) async fn retry(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    params: &Value,
    sealed: &Value,
    (principal, hopped): (&Principal, bool),
    request: u64,
) -> Result<bool, ProxyError> {
    let invalid = |message: &str| (400, jsonrpc::INVALID_PARAMS, message.to_owned());
    let outcome: Result<(u64, Pending), (u16, i32, String)> = (|| {
        let text = sealed
            .as_str()
            .ok_or_else(|| invalid("requestState must be the string the proxy issued"))?;
        let handle = seal::unseal(
            state.config.seal_key.as_ref(),
            text,
            principal.as_str(),
            request,
            seal::now_ms(),
        )
        .map_err(|r| invalid(r.as_str()))?;
        if handle.upstream != upstream.compact() {
            return Err(invalid("requestState belongs to another upstream"));
        }
        if usize::from(handle.shard) != state.id().0 {
            return Err((0, 0, handle.shard.to_string()));
        }
        state
            .modern_clients
            .pending
            .borrow_mut()
            .remove(&handle.exchange)
            .map(|pending| (handle.exchange, pending))
            .ok_or_else(|| {
                invalid("requestState names an exchange no longer pending (answered already or timed out)")
            })
    })();
    let (exchange, pending) = match outcome {
        Ok(found) => found,
        Err((0, _, shard)) => {
            let shard = shard.parse::<usize>().unwrap_or(usize::MAX);
            let request = (head, body, principal);
            let to = (upstream, shard, hopped);
            return super::handoff::to_shard(state, client, request, to).await;
        }
        Err((status, code, message)) => {
            return refuse(state, client, shape, status, id, code, &message).await
        }
    };
    // Everything the retry must hold is checked before anything reaches the upstream: a
    // refused retry leaves the exchange pending, exactly as it was, for a corrected one.
    let prepared = log_level(params)
        .map_err(|()| Unusable::Level)
        .and_then(|level| Ok((level, answers_for(&pending.asked, params)?)));
    let (level, answers) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            let expires = pending.expires;
            put_back(state, exchange, pending, expires);
            return refuse_params(state, client, shape, id, &message.to_string()).await;
        }
    };
    for (server_id, response) in &answers {
        if let Err(failure) = pending.session.answer(state, server_id, response).await {
            close_later(state, pending.session);
            return fail(state, client, shape, id, &failure).await;
        }
    }
    let ongoing = Ongoing {
        level,
        source: pending.source,
        upstream_id: pending.upstream_id,
        session: pending.session,
        key: pending.key,
    };
    relay(state, upstream, client, shape, id, ongoing, request).await
}

/// Relays the call (drive.rs) and, when the upstream asks the client something, parks the
/// exchange and answers `input_required`.
pub(super) async fn relay(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    ongoing: Ongoing,
    request: u64,
) -> Result<bool, ProxyError> {
    match drive(state, upstream, client, shape, id, ongoing).await? {
        Relayed::Done(keep) => Ok(keep),
        Relayed::Asks(asked) => {
            input_required(state, upstream, client, shape, id, request, asked).await
        }
    }
}

/// Parks the call in the shard's pending table under a sealed `requestState` and answers
/// `input_required` with the upstream's question.
async fn input_required(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    request: u64,
    asked: Box<Asked>,
) -> Result<bool, ProxyError> {
    let Asked {
        ongoing,
        sse,
        server_id,
        method,
        params,
    } = *asked;
    let translator = &state.modern_clients;
    let exchange = translator.next_exchange();
    let handle = Handle {
        shard: u16::try_from(state.id().0).unwrap_or(u16::MAX),
        upstream: upstream.compact(),
        exchange,
        request,
        expires_ms: seal::now_ms() + u64::try_from(PENDING_TTL.as_millis()).unwrap_or(0),
        principal: ongoing.key.principal.as_str().to_owned(),
    };
    let (Some(sealed), true) = (
        seal::seal(state.config.seal_key.as_ref(), &handle),
        translator.pending.borrow().len() < MAX_PENDING,
    ) else {
        close_later(state, ongoing.session);
        let failure = Failure::Unavailable("too many exchanges waiting for input".into());
        return fail_on(state, client, shape, id, &failure, sse).await;
    };
    state.metrics.incr(Counter::InputRequired);
    let key = format!("input-{exchange}");
    let mut requests = Map::new();
    requests.insert(key.clone(), json!({"method": method, "params": params}));
    let answer = json!({
        "jsonrpc": "2.0",
        "id": id.to_value(),
        "result": {
            "resultType": "input_required",
            "inputRequests": requests,
            "requestState": sealed,
        }
    });
    let pending = Pending {
        source: ongoing.source,
        upstream_id: ongoing.upstream_id,
        session: ongoing.session,
        key: ongoing.key,
        asked: vec![(key, server_id)],
        expires: Instant::now() + PENDING_TTL,
    };
    put_back(state, exchange, pending, Instant::now() + PENDING_TTL);
    write_message(state, client, shape, &answer.to_string().into_bytes(), sse).await
}

/// Why a retry's parameters cannot continue its exchange (400 `-32602` with these words; the
/// exchange stays pending).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum Unusable {
    /// The `_meta` log level is not one.
    #[error("{BAD_LEVEL}")]
    Level,
    /// No answer to one of the upstream's questions (its key).
    #[error("inputResponses lacks \"{0}\"")]
    MissingAnswer(String),
}

/// The JSON-RPC responses to the upstream's questions, built from the retry's
/// `inputResponses`; the error names the first missing answer.
fn answers_for(
    asked: &[(String, JsonRpcId)],
    params: &Value,
) -> Result<Vec<(JsonRpcId, Vec<u8>)>, Unusable> {
    let responses = params.get("inputResponses").and_then(Value::as_object);
    asked
        .iter()
        .map(|(key, server_id)| {
            let result = responses
                .and_then(|r| r.get(key))
                .ok_or_else(|| Unusable::MissingAnswer(key.clone()))?;
            let mut response = Vec::with_capacity(128);
            response.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            server_id.write_json(&mut response);
            response.extend_from_slice(br#","result":"#);
            response.extend_from_slice(result.to_string().as_bytes());
            response.push(b'}');
            Ok((server_id.clone(), response))
        })
        .collect()
}

/// Stores a pending exchange until `expires` (then its call is dropped and its session ended).
fn put_back(state: &Rc<ShardState>, exchange: u64, pending: Pending, expires: Instant) {
    state
        .modern_clients
        .pending
        .borrow_mut()
        .insert(exchange, pending);
    let state = state.clone();
    glommio::spawn_local(async move {
        glommio::timer::sleep(expires.saturating_duration_since(Instant::now())).await;
        let expired = {
            let mut table = state.modern_clients.pending.borrow_mut();
            let due = table
                .iter()
                .filter(|(_, p)| p.expires <= Instant::now())
                .map(|(k, _)| *k)
                .collect::<Vec<_>>();
            due.into_iter()
                .filter_map(|k| table.remove(&k))
                .collect::<Vec<_>>()
        };
        for pending in expired {
            drop(pending.source);
            pending.session.close(&state).await;
        }
    })
    .detach();
}
