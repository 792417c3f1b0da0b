//! A TLS connection whose request belongs to another shard (DESIGN §3.2) under `runtime.hops
//! = "move"` (the other policies forward each such request instead, hop_forward.rs): its socket
//! cannot move (the TLS session's keys and sequence numbers live in this shard's rustls), so
//! this shard keeps terminating TLS and relays the plaintext. It makes a local socket pair, hands
//! one end to the owner exactly like a moved plain connection (the request's bytes, what was
//! read ahead, the client certificate's principal), and copies bytes both ways between the TLS
//! stream and its own end until the owner closes its end. The owner serves its end as a plain
//! connection: a later request on it for a session of a third shard moves that end on by the
//! ordinary fd handoff, and answers (SSE streams included) pass through as they come.
//!
//! The relay runs in the connection's own task, so it never outlives the client's connection,
//! and holds an in-flight pass: a draining shard waits for it (bounded by `shutdown_grace`)
//! while the owner finishes the request and closes its end. A client that stops reading is
//! dropped after the client write timeout, like everywhere else.
//!
//! Not here: deciding who owns a request (server.rs), moving a descriptor (handoff.rs), the
//! copy loop and the socket pair (`shards::io`).

use std::rc::Rc;

use shards::io::NetStream;
use shards::timeout::within;

use crate::config::ListenerId;
use crate::http::HttpConn;

use super::error::ProxyError;
use super::handoff;
use super::metrics::Counter;
use super::state::ShardState;
use super::stdio::answer::CLIENT_WRITE_TIMEOUT;

/// Bytes each direction of a relay holds at most: the smallest pooled buffer (an idle relayed
/// connection, say an SSE stream waiting for events, holds two).
const RELAY_BUF: usize = 4096;

/// Relays `conn` (a TLS connection; `bytes`: what of it this shard consumed, the owner reads
/// first, then what `conn` read ahead; `peer`: its certificate principal, peer.rs
/// `travelling`) to `owner` until the owner closes its end. The caller holds an in-flight pass (a
/// draining shard waits for the relay) and closes `conn` after it.
///
/// # Errors
/// Nothing was relayed and `conn` is as it was, its request unanswered: the owner is gone
/// (shutdown: `ShuttingDown`), or no socket pair could be made (out of descriptors).
pub(super) async fn relay(
    state: &Rc<ShardState>,
    conn: &mut HttpConn<NetStream>,
    (mut bytes, peer): (Vec<u8>, Option<Box<str>>),
    (owner, listener): (shards::ShardId, ListenerId),
) -> Result<(), ProxyError> {
    bytes.extend_from_slice(conn.buffered());
    let (mut here, there) = match state.io.pair() {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "cannot make a socket pair to relay a TLS connection");
            state.bufs.give(bytes);
            return Err(ProxyError::Internal(
                "cannot relay the connection to its shard",
            ));
        }
    };
    if let Err(back) = handoff::send(state, owner, (there, bytes, peer), listener).await {
        tracing::warn!(
            shard = state.id().0,
            owner = owner.0,
            "TLS relay to the owner failed"
        );
        if let Some((_, bytes, _)) = back {
            state.bufs.give(bytes);
        }
        return Err(ProxyError::ShuttingDown);
    }
    state.metrics.incr(Counter::TlsTunnels);
    let bufs = (state.bufs.take(RELAY_BUF), state.bufs.take(RELAY_BUF));
    let (outcome, (up, down)) =
        shards::io::relay(conn.stream_mut(), &mut here, bufs, CLIENT_WRITE_TIMEOUT).await;
    state.bufs.give(up);
    state.bufs.give(down);
    state.metrics.incr(Counter::TlsTunnelsClosed);
    if let Err(e) = outcome {
        tracing::debug!(error = %e, "TLS relay ended");
    }
    // The owner's end closes with `here`; the client gets its close_notify (bounded like
    // every client write).
    drop(here);
    let _ = within(
        CLIENT_WRITE_TIMEOUT,
        futures_lite::AsyncWriteExt::close(conn.stream_mut()),
    )
    .await;
    Ok(())
}
