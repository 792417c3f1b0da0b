//! Forwarding one request to the shard owning its session while the client's connection stays
//! on this shard (DESIGN §3.2, `runtime.hops`): the other way to hop besides moving the
//! connection (server.rs `handoff`). A connection carrying sessions of several shards (a
//! backend multiplexing its users' sessions over a connection pool) would otherwise move on
//! almost every request.
//!
//! The request goes over a link: one end of a local socket pair whose other end the owner
//! serves as an ordinary client connection (sent to it once, like a moved connection), kept in
//! this shard's pool between requests (`state::HopLinks`). The request is read whole here
//! (within the body limit and the head timeout, `Expect: 100-continue` answered here; a chunked
//! body goes on as one chunk) and written in one piece, so when a pooled link turns out closed
//! (the owner ended it idle) nothing reached the owner and the request goes again on a new
//! link. The answer comes back as the owner wrote it: its head byte for byte, its body piece by
//! piece as it arrives (an SSE stream event by event), chunked again when chunked. While it
//! waits, the client is watched: a client that hangs up closes the link, which ends the
//! request on the owner as if the client had hung up there.
//!
//! Not here: choosing between moving and forwarding (server.rs), serving the link on the owner
//! (server.rs `adopt`: an ordinary connection), the pool (`state::hop_links`).
//! Hot path for rotating sessions: a pooled link, one write of the request, the answer's
//! pieces written as they come; no allocation beyond pooled buffers.

use std::rc::Rc;

use crate::http::{
    write_chunk, BodyReader, Framing, Head, HttpConn, MessageKind, RequestHead, ResponseHead,
    LAST_CHUNK,
};
use shards::io::NetStream;
use shards::timeout::within;

use super::admit::read_request_body;
use super::error::ProxyError;
use super::metrics::Counter;
use super::relay::until_client_gone;
use super::relay_plan::STREAM_WRITE_TIMEOUT;
use super::state::{HopLinkKey, MeshMsg, ShardState};

/// Read buffer of a link (answer heads are small; body pieces pass through it).
const LINK_READ_BUF: usize = 16 * 1024;

/// How the wait for the answer's head ended.
enum HeadWait {
    /// The final head is in; the body follows on the link.
    Final,
    /// The client hung up.
    ClientGone,
    /// The link broke before a final head (`replayable`: before any byte of an answer reached
    /// the client).
    LinkBroken { replayable: bool },
}

/// Forwards `head` (and its body, read from `client` here) to `key.owner` and relays the
/// answer to `client`. Returns whether the client connection stays open for its next request.
///
/// # Errors
/// Before anything was sent to the client: the request body's errors (400/408/413), and
/// `ShuttingDown` when the owner cannot be reached (it is shutting down).
pub(super) async fn forward(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    key: HopLinkKey,
) -> Result<bool, ProxyError> {
    state.metrics.incr(Counter::Hops);
    state.metrics.incr(Counter::HopsForwarded);
    let mut request = state.bufs.take(head.fields().raw().len() + 512);
    let outcome = match encode_request(state, client, head, &mut request).await {
        Ok(()) => exchange(state, client, head, &request, key).await,
        Err(e) => Err(e),
    };
    state.bufs.give(request);
    outcome
}

/// The request as the owner reads it: the head as the client sent it, then the body read here
/// (one chunk and the last chunk when the client sent it chunked).
async fn encode_request(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    out: &mut Vec<u8>,
) -> Result<(), ProxyError> {
    out.extend_from_slice(head.fields().raw());
    let framing = head.framing()?;
    if framing == Framing::Empty {
        return Ok(());
    }
    let mut body = state.bufs.take(1024);
    let read = read_request_body(state, client, head, &mut body).await;
    if read.is_ok() {
        match framing {
            Framing::Chunked if body.is_empty() => out.extend_from_slice(LAST_CHUNK),
            Framing::Chunked => {
                write_chunk(out, &body);
                out.extend_from_slice(LAST_CHUNK);
            }
            _ => out.extend_from_slice(&body),
        }
    }
    state.bufs.give(body);
    read
}

/// Sends `request` over a link to the owner (a pooled one, or a new one when none is idle or
/// the pooled one broke before answering) and relays the answer.
async fn exchange(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    request: &[u8],
    key: HopLinkKey,
) -> Result<bool, ProxyError> {
    let mut answer = ResponseHead::default();
    let mut pooled = state.hop_links.take(&key);
    let mut link = loop {
        let reused = pooled.is_some();
        let mut link = match pooled.take() {
            Some(link) => link,
            None => open(state, &key).await?,
        };
        match ask(state, client, &mut link, request, &mut answer).await {
            HeadWait::Final => break link,
            HeadWait::ClientGone => return Ok(false),
            HeadWait::LinkBroken { replayable: true } if reused => continue,
            HeadWait::LinkBroken { replayable } => {
                tracing::warn!(
                    owner = key.owner.0,
                    "link to the shard owning the session broke"
                );
                return if replayable {
                    Err(ProxyError::ShuttingDown)
                } else {
                    Ok(false)
                };
            }
        }
    };
    let framing = match answer.framing(head.method()) {
        Ok(framing) => framing,
        Err(_) => return Ok(false),
    };
    if !write_client(client, answer.fields().raw()).await {
        return Ok(false);
    }
    if !relay_body(state, client, &mut link, framing).await {
        return Ok(false);
    }
    let reusable = framing != Framing::UntilClose && answer.keep_alive();
    if reusable {
        state.hop_links.put(key, link);
    }
    Ok(reusable)
}

/// Opens a link to `key.owner`: a socket pair, one end sent to the owner as a connection of
/// `key.listener` with `key.peer`'s principal.
async fn open(state: &ShardState, key: &HopLinkKey) -> Result<HttpConn<NetStream>, ProxyError> {
    let (here, there) = state.io.pair().map_err(|e| {
        tracing::warn!(error = %e, "cannot make a socket pair to forward a request");
        ProxyError::Internal("cannot forward the request to its shard")
    })?;
    let msg = MeshMsg::Handoff {
        fd: there,
        buffered: Vec::new(),
        listener: key.listener,
        peer: key.peer.clone(),
    };
    if state.mesh.send_to(key.owner, msg).await.is_err() {
        return Err(ProxyError::ShuttingDown);
    }
    state.metrics.incr(Counter::HopLinksOpened);
    Ok(HttpConn::new(here, state.bufs.take(LINK_READ_BUF)))
}

/// Writes `request` to `link` and waits for the answer's final head, relaying interim ones
/// other than `100 Continue` (this shard answered the client's `Expect` itself).
async fn ask(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    link: &mut HttpConn<NetStream>,
    request: &[u8],
    answer: &mut ResponseHead,
) -> HeadWait {
    let mut replayable = true;
    if link.write_all(request).await.is_err() {
        return HeadWait::LinkBroken { replayable };
    }
    loop {
        match until_client_gone(client, link.read_response_head(&state.limits, answer)).await {
            None => return HeadWait::ClientGone,
            Some(Ok(true)) => match answer.status() {
                100 => {}
                101..=199 => {
                    replayable = false;
                    if !write_client(client, answer.fields().raw()).await {
                        return HeadWait::ClientGone;
                    }
                }
                _ => return HeadWait::Final,
            },
            Some(Ok(false) | Err(_)) => return HeadWait::LinkBroken { replayable },
        }
    }
}

/// Relays the answer's body from `link` to `client` as it arrives; false when either side
/// broke off (the client connection must close: its answer is cut short or it is gone).
async fn relay_body(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    link: &mut HttpConn<NetStream>,
    framing: Framing,
) -> bool {
    let Ok(mut reader) = BodyReader::new(framing, MessageKind::Response, u64::MAX) else {
        return false;
    };
    let chunked = framing == Framing::Chunked;
    let mut scratch = state.bufs.lease(if chunked { 4096 } else { 0 });
    loop {
        match until_client_gone(client, link.next_body_chunk(&mut reader)).await {
            None | Some(Err(_)) => return false,
            Some(Ok(None)) => break,
            Some(Ok(Some(piece))) if chunked => {
                scratch.clear();
                write_chunk(&mut scratch, piece);
                if !write_client(client, &scratch).await {
                    return false;
                }
            }
            Some(Ok(Some(piece))) => {
                if !write_client(client, piece).await {
                    return false;
                }
            }
        }
    }
    !chunked || write_client(client, LAST_CHUNK).await
}

/// Writes `bytes` to the client; false when it is gone or stopped reading (the stream write
/// timeout, as on any relayed stream).
async fn write_client(client: &mut HttpConn<NetStream>, bytes: &[u8]) -> bool {
    matches!(
        within(STREAM_WRITE_TIMEOUT, client.write_all(bytes)).await,
        Some(Ok(()))
    )
}
