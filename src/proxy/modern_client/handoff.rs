//! Moves a retry whose `requestState` names another shard to that shard: the connection (its
//! socket) and the request's bytes (head, body re-framed as read, read-ahead) travel over
//! the mesh like a session handoff (a TLS connection is relayed instead, tunnel.rs), and the
//! owning shard reads the request again; or, as `runtime.hops` says (`forward`, or `auto` for a
//! TLS connection or one that came from another shard already), only the request is forwarded
//! there (hop_forward.rs) and the connection stays. No lookup: the shard is in the sealed state.
//!
//! Not here: moving the fd (proxy/handoff.rs, shared with the session handoff), unsealing
//! (seal.rs).

use crate::config::{ListenerId, UpstreamId};
use std::rc::Rc;

use shards::io::NetStream;

use crate::http::{write_chunk, Framing, Head, HttpConn, RequestHead, LAST_CHUNK};
use crate::pipeline::Principal;

use super::super::error::ProxyError;
use super::super::state::{HopLinkKey, ShardState};

/// Hands the connection to `shard` (a TLS connection is relayed to it, tunnel.rs, with the
/// request's principal when a client certificate names it), or forwards only the retry there
/// as `runtime.hops` says for a connection that `hopped` here before or not; returns whether
/// this shard keeps serving the connection.
///
/// # Errors
/// A state naming a shard that does not exist (it was sealed by another process layout), or
/// one that is gone (503, shutting down).
pub async fn to_shard(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    (head, body, principal): (&RequestHead, &[u8], &Principal),
    (upstream, shard, hopped): (UpstreamId, usize, bool),
) -> Result<bool, ProxyError> {
    if shard >= state.ctx.shard_count {
        return Err(ProxyError::Internal(
            "requestState names a shard that does not exist",
        ));
    }
    let mut bytes = Vec::with_capacity(head.fields().raw().len() + body.len() + 64);
    bytes.extend_from_slice(head.fields().raw());
    if matches!(head.framing(), Ok(Framing::Chunked)) {
        write_chunk(&mut bytes, body);
        bytes.extend_from_slice(LAST_CHUNK);
    } else {
        bytes.extend_from_slice(body);
    }
    // The listener whose route this is (the owning shard picks routes by it).
    let listener = state
        .config
        .listener_ids()
        .find(|(_, l)| {
            l.routes
                .iter()
                .any(|r| r.path.as_bytes() == head.path() && r.upstream == upstream)
        })
        .map_or(ListenerId::FIRST, |(id, _)| id);
    let owner = shards::ShardId(shard);
    // Only a client certificate's principal travels (a token's or key's comes with each
    // request): the request's own, or on a route with `auth` the TLS connection's certificate.
    let peer = super::super::peer::certificate_of(principal).or_else(|| {
        let caller = super::super::peer::certificate_caller(client.stream_mut()).ok()?;
        super::super::peer::travelling(caller.as_ref())
    });
    let tls = client.stream_mut().is_tls();
    // The policy, the connection's kind and whether it came from another shard before decide.
    if super::super::hop_forward::forwards(state.config.runtime.hops, hopped, tls) {
        let key = HopLinkKey {
            owner,
            listener,
            peer,
        };
        let keep = super::super::hop_forward::send(state, client, head, &bytes, key).await?;
        // The owner served (and audited) the retry; a refusal here is audited here.
        crate::proxy::audit::discard();
        return Ok(keep);
    }
    if tls {
        let relay = super::super::tunnel::relay(state, client, (bytes, peer), (owner, listener));
        Box::pin(relay).await?;
        // The owner served (and audited) the retry.
        crate::proxy::audit::discard();
        return Ok(false);
    }
    let (fd, bytes) =
        super::super::handoff::take(client, bytes)
            .await
            .ok_or(ProxyError::Internal(
                "cannot detach the connection for a retry handoff",
            ))?;
    let moving = (fd, bytes, peer);
    if let Err(back) = super::super::handoff::send(state, owner, moving, listener).await {
        // The owner is gone (shutdown), and its exchange with it; the socket comes back to
        // carry the answer.
        if let Some((fd, _, _)) = back {
            *client.stream_mut() = state.io.stream(fd);
        }
        tracing::warn!(shard, "retry handoff failed; the exchange's shard is gone");
        return Err(ProxyError::ShuttingDown);
    }
    // The owner serves (and audits) the retry.
    crate::proxy::audit::discard();
    Ok(false)
}
