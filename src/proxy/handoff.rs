//! Moving a client connection to the shard that owns its request (DESIGN §3.2): the one
//! implementation of the fd handoff, for a session owned elsewhere (server.rs, at a request
//! boundary) and for a 2026-07-28 retry whose `requestState` names another shard
//! (modern_client/handoff.rs). The fd is `dup`ed, the connection's bytes travel with it over
//! the mesh, this shard drops its copy, and the owner serves the connection from those bytes
//! as if it had read them itself (server.rs `adopt`).
//!
//! Not here: deciding who owns a request (server.rs, the sealed state), the mesh (shards).
//! `unsafe`: `dup(2)` and owning the descriptor it returns, each with a SAFETY line.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use shards::io::NetStream;

use crate::config::ListenerId;

use super::metrics::Counter;
use super::state::{MeshMsg, ShardState};

/// A descriptor for `stream` that outlives it (the handoff closes the original with the
/// stream); `None` when `dup` fails (out of descriptors).
pub(super) fn dup_stream(stream: &NetStream) -> Option<OwnedFd> {
    // SAFETY: the fd is a live socket owned by `stream`; dup gives an independent descriptor.
    #[allow(unsafe_code, reason = "fd handoff between shards")]
    let dup = unsafe { libc::dup(stream.as_raw_fd()) };
    if dup < 0 {
        return None;
    }
    // SAFETY: `dup` is a fresh descriptor nothing else owns.
    #[allow(unsafe_code, reason = "fd handoff between shards")]
    Some(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// Sends the connection (`fd` + the bytes it carries, unread by the owner) to `owner`, counting
/// the hop. On failure (the owner is shutting down) the descriptor and bytes come back (`None`
/// only if the mesh returned another message than it was given, which it does not).
pub(super) async fn send(
    state: &ShardState,
    owner: shards::ShardId,
    fd: OwnedFd,
    buffered: Vec<u8>,
    listener: ListenerId,
) -> Result<(), Option<(OwnedFd, Vec<u8>)>> {
    state.metrics.incr(Counter::Hops);
    let msg = MeshMsg::Handoff {
        fd,
        buffered,
        listener,
    };
    match state.mesh.send_to(owner, msg).await {
        Ok(()) => Ok(()),
        Err(MeshMsg::Handoff { fd, buffered, .. }) => Err(Some((fd, buffered))),
        Err(_) => Err(None),
    }
}
