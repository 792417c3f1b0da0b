//! `server/discover` from a 2026-07-28 client to a legacy upstream: answered from the
//! upstream's `initialize` result (cached per shard; a session is opened for it when none is
//! known yet, and pooled for the requests that follow).
//!
//! Not here: the request flow (serve.rs, drive.rs).

use crate::config::UpstreamId;
use std::rc::Rc;
use std::time::Instant;

use serde_json::{json, Value};
use shards::io::NetStream;

use crate::http::HttpConn;
use crate::mcp::{JsonRpcId, ProtocolVersion};

use super::super::error::ProxyError;
use super::super::state::ShardState;
use super::super::stdio::answer::{write_json, ClientShape};
use super::pool::{PoolKey, Principal};

/// Answers `server/discover` for `upstream`.
///
/// # Errors
/// Client write failures.
pub async fn answer(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    client: &mut HttpConn<NetStream>,
    (id, principal): (&JsonRpcId, &Principal),
    params: &Value,
    shape: ClientShape<'_>,
) -> Result<bool, ProxyError> {
    let cached = state
        .modern_clients
        .discovered
        .borrow()
        .get(&upstream)
        .cloned();
    let init = match cached {
        Some(init) => init,
        None => {
            let (capabilities, info) = super::upstream::declared_client(params);
            match super::upstream::open(state, (upstream, principal), &capabilities, &info).await {
                Ok(opened) => {
                    let init = Rc::new(opened.result);
                    state
                        .modern_clients
                        .discovered
                        .borrow_mut()
                        .insert(upstream, init.clone());
                    let key = PoolKey {
                        upstream,
                        // The session was opened for this caller: only its later
                        // requests may reuse it.
                        principal: principal.clone(),
                        token: principal.presented().map(|p| *p.digest()),
                        capabilities: capabilities.to_string().into(),
                    };
                    let evicted = state.modern_clients.pool.borrow_mut().checkin(
                        key,
                        opened.session,
                        Instant::now(),
                    );
                    if let Some(evicted) = evicted {
                        let state = state.clone();
                        glommio::spawn_local(async move { evicted.close(&state).await }).detach();
                    }
                    init
                }
                Err(failure) => {
                    let (code, message) = failure.describe();
                    return super::reply::refuse(state, client, shape, 502, id, code, &message)
                        .await;
                }
            }
        }
    };
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.to_value(),
        "result": discover_result(&init),
    });
    write_json(state, client, body.to_string().as_bytes(), shape).await
}

/// The `server/discover` result built from a legacy `initialize` result.
pub fn discover_result(init: &Value) -> Value {
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": [ProtocolVersion::V2026_07_28.as_str()],
        "capabilities": init.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        // The legacy server's answer may change with its session state: not cached by clients.
        "ttlMs": 0,
        "cacheScope": "private",
    });
    if let (Some(object), Some(instructions)) = (result.as_object_mut(), init.get("instructions")) {
        object.insert("instructions".into(), instructions.clone());
    }
    if let (Some(object), Some(info)) = (result.as_object_mut(), init.get("serverInfo")) {
        object.insert(
            "_meta".into(),
            json!({ "io.modelcontextprotocol/serverInfo": info }),
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_is_built_from_initialize() {
        let init = json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "legacy", "version": "1"},
            "instructions": "be nice",
        });
        let result = discover_result(&init);
        assert_eq!(result["supportedVersions"], json!(["2026-07-28"]));
        assert_eq!(result["capabilities"], init["capabilities"]);
        assert_eq!(result["instructions"], "be nice");
        assert_eq!(
            result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
            "legacy"
        );
        assert_eq!(result["resultType"], "complete");
    }
}
