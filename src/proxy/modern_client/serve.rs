//! The entry of a translated 2026-07-28 request: which flow it takes. `server/discover`
//! (discover.rs) and `subscriptions/listen` (listen.rs) have their own; a request carrying
//! `requestState` is a retry (mrtr.rs); any other request is a fresh call: it checks out (or
//! opens) a pooled legacy session, sends the client's bytes on it, and is relayed (drive.rs),
//! parked by mrtr.rs if the upstream asks the client something.
//!
//! The top of this folder: it calls every flow and none calls it back.

use crate::config::UpstreamId;
use std::rc::Rc;

use serde_json::Value;
use shards::io::NetStream;

use crate::http::{HttpConn, RequestHead};
use crate::mcp::{jsonrpc, JsonRpcId};
use crate::pipeline::{Facts, RequestCtx};

use super::super::error::ProxyError;
use super::super::metrics::Counter;
use super::super::state::ShardState;
use super::super::stdio::answer::ClientShape;
use super::drive::{checkout, close_later, Ongoing};
use super::logging::{log_level, BAD_LEVEL};
use super::mrtr::{relay, retry};
use super::pool::{PoolKey, Principal};
use super::reply::{fail, refuse, refuse_params};
use super::source::Failure;

/// Serves the modern request `id` on a legacy upstream; returns whether the connection stays
/// open.
///
/// # Errors
/// Client write failures; refusals are answered here (400/404 with a JSON-RPC error).
pub(in crate::proxy) async fn serve(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    ctx: &RequestCtx,
    id: &JsonRpcId,
) -> Result<bool, ProxyError> {
    let (upstream, facts, started) = (ctx.upstream, &ctx.facts, ctx.started);
    // Only the answer to a `tools/list` can need the response side.
    let answer_stages = ctx.stages.for_answer(facts.method, &[]);
    let shape = ClientShape {
        stages: answer_stages.as_ref(),
        ..ClientShape::of(head)
    };
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| ProxyError::Internal("inspected body is not JSON"))?;
    let method = facts.method_name().unwrap_or_default().to_owned();
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    let principal = ctx.principal.clone();
    state.metrics.incr(Counter::ModernTranslated);
    let keep = match method.as_str() {
        "server/discover" => {
            let asker = (id, &principal);
            super::discover::answer(state, upstream, client, asker, &params, shape).await?
        }
        "ping" | "logging/setLevel" => {
            refuse(
                state,
                client,
                shape,
                404,
                id,
                jsonrpc::METHOD_NOT_FOUND,
                &format!("{method} is not a 2026-07-28 method"),
            )
            .await?
        }
        "subscriptions/listen" => {
            let listener = (upstream, &principal);
            super::listen::listen(state, listener, client, shape, id, &params).await?
        }
        _ => {
            let request = request_hash(&method, facts.mcp_name.as_deref());
            match params.get("requestState") {
                Some(sealed) => {
                    let asker = (&principal, ctx.hopped);
                    retry(
                        state, upstream, client, head, body, shape, id, &params, sealed, asker,
                        request,
                    )
                    .await?
                }
                None => {
                    fresh(
                        state, upstream, client, shape, id, facts, body, &params, principal,
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
        token: principal.presented().map(|p| *p.digest()),
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
            None => {
                match super::upstream::open(state, (upstream, &key.principal), &capabilities, &info)
                    .await
                {
                    Ok(opened) => {
                        state
                            .modern_clients
                            .discovered
                            .borrow_mut()
                            .insert(upstream, Rc::new(opened.result));
                        opened.session
                    }
                    Err(failure) => return fail(state, client, shape, id, &failure).await,
                }
            }
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
    relay(state, upstream, client, shape, id, ongoing, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
