//! Moving a client connection to the shard that owns its request (DESIGN §3.2): the one
//! implementation of the fd handoff, for a session owned elsewhere (server.rs, at a request
//! boundary) and for a 2026-07-28 retry whose `requestState` names another shard
//! (modern_client/handoff.rs). The socket leaves this shard's I/O path
//! (`NetStream::detach`: on the uring path it leaves the ring's file table, with the bytes the
//! ring received but nobody read), the connection's bytes travel with it over the mesh, and the
//! owner serves the connection from those bytes as if it had read them itself, on its own I/O
//! path (server.rs `adopt`). A TLS connection cannot leave (its session's keys live here): it
//! is relayed to the owner instead (tunnel.rs), over a socket pair whose end moves like this.
//!
//! Not here: deciding who owns a request (server.rs, the sealed state), the mesh (shards).

use std::os::fd::OwnedFd;

use shards::io::NetStream;

use crate::config::ListenerId;
use crate::http::HttpConn;

use shards::timeout::within;

use super::metrics::Counter;
use super::state::{MeshMsg, ShardState};
use super::stdio::answer::CLIENT_WRITE_TIMEOUT;

/// Takes the socket out of `conn` for a handoff: its descriptor and the bytes the owner must
/// parse, in stream order: `bytes` (what this shard consumed and the owner must see again),
/// then what `conn` read ahead, then what the I/O path received unread. `conn` is left without
/// a socket. `None` when the socket cannot be detached (a queued send failed or did not finish
/// within the client write timeout, out of descriptors): the connection is lost.
pub(super) async fn take(
    conn: &mut HttpConn<NetStream>,
    mut bytes: Vec<u8>,
) -> Option<(OwnedFd, Vec<u8>)> {
    bytes.extend_from_slice(conn.buffered());
    // Detaching first sends what is queued: bounded like every client write, so a client that
    // stops reading cannot hold the task (it is then closed).
    match within(CLIENT_WRITE_TIMEOUT, conn.stream_mut().detach()).await {
        Some(Ok((fd, received))) => {
            bytes.extend_from_slice(&received);
            Some((fd, bytes))
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot detach the connection for a handoff");
            None
        }
        None => {
            tracing::debug!("client not reading; connection closed instead of handed over");
            None
        }
    }
}

/// A connection on its way to another shard: its socket, the bytes it carries (unread by the
/// owner), and its client certificate principal (peer.rs `travelling`).
pub(super) type Moving = (OwnedFd, Vec<u8>, Option<Box<str>>);

/// Sends the connection to `owner`, counting the hop. On failure (the owner is shutting down)
/// it comes back (`None` only if the mesh returned another message than it was given, which it
/// does not).
pub(super) async fn send(
    state: &ShardState,
    owner: shards::ShardId,
    (fd, buffered, peer): Moving,
    listener: ListenerId,
) -> Result<(), Option<Moving>> {
    state.metrics.incr(Counter::Hops);
    let msg = MeshMsg::Handoff {
        fd,
        buffered,
        listener,
        peer,
    };
    match state.mesh.send_to(owner, msg).await {
        Ok(()) => Ok(()),
        Err(MeshMsg::Handoff {
            fd, buffered, peer, ..
        }) => Err(Some((fd, buffered, peer))),
        Err(_) => Err(None),
    }
}
