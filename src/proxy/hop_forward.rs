//! Forwarding one request to the shard owning it while the client's connection stays on this
//! shard (DESIGN §3.2, `runtime.hops`): the other way to hop besides moving the connection
//! (server.rs `handoff`, modern_client/handoff.rs). A connection carrying sessions of several
//! shards (a backend multiplexing its users' sessions over a connection pool) would otherwise
//! move on almost every request, and a TLS connection cannot move at all.
//!
//! The request goes over a link: one end of a local socket pair whose other end the owner
//! serves as an ordinary client connection (sent to it once, like a moved connection), kept in
//! this shard's pool between requests (`state::HopLinks`). The request is read whole here
//! (after the Host/Origin check, within the body limit and the head timeout, `Expect:
//! 100-continue` answered here; a chunked body goes on as one chunk) and written in one piece.
//! Only a link that ends before any byte of an answer is replaced and the request sent again
//! on a new one: the owner closes a link unanswered only while it is idle (its keep-alive
//! timeout), so the request never ran. The answer comes back as the owner wrote it: its head
//! byte for byte, its body piece by piece as it arrives (an SSE stream event by event),
//! chunked again when chunked. While it waits, the client is watched: a client that hangs up
//! closes the link, which ends the request on the owner as if the client had hung up there.
//!
//! Not here: serving the link on the owner (server.rs `adopt`: an ordinary connection), the
//! pool (`state::hop_links`).
//! Hot path for rotating sessions: a pooled link (its buffer and answer head reused), one
//! write of the request, the answer's pieces written as they come.

use std::rc::Rc;

use shards::io::NetStream;

use crate::config::HopPolicy;
use crate::http::{
    write_chunk, BodyReader, Framing, Head, HttpConn, Limits, MessageKind, Method, RequestHead,
    ResponseHead, LAST_CHUNK, MAX_HEADERS_CAP,
};

use super::admit::read_request_body;
use super::error::ProxyError;
use super::metrics::Counter;
use super::relay::until_client_gone;
use super::relay_plan::{write_within, STREAM_WRITE_TIMEOUT};
use super::state::{HopLink, HopLinkKey, MeshMsg, ShardState};

/// Read buffer of a link (answer heads are small; body pieces pass through it).
const LINK_READ_BUF: usize = 16 * 1024;

/// Whether a request another shard owns is forwarded there (the connection stays) rather than
/// the connection moved, under `policy`, for a connection that `moved` here already or is
/// `tls` (it cannot move: it would be relayed for the rest of its life).
pub(super) fn forwards(policy: HopPolicy, moved: bool, tls: bool) -> bool {
    match policy {
        HopPolicy::Move => false,
        HopPolicy::Forward => true,
        // A connection that moved once already carries sessions of several shards: moving it
        // again would only make it wander.
        HopPolicy::Auto => moved || tls,
    }
}

/// How the wait for the answer's head ended.
enum HeadWait {
    /// The final head is in `link.answer`; the body follows on the link.
    Final,
    /// The client hung up.
    ClientGone,
    /// The link ended before any byte of an answer: the owner never took the request.
    Unanswered,
    /// The link broke or sent what is not an answer; `relayed`: an interim answer reached the
    /// client already.
    Broken { relayed: bool },
}

/// Forwards `head` (and its body, read from `client` here) to `key.owner` and relays the
/// answer to `client`. Returns whether the client connection stays open for its next request.
///
/// # Errors
/// Before anything was sent to the client: the Host/Origin check (403), the request body's
/// errors (400/408/413), the owner unreachable (503 while it shuts down, 502 when the link
/// broke or its answer cannot be relayed).
pub(super) async fn forward(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    key: HopLinkKey,
) -> Result<bool, ProxyError> {
    // Before any 100 Continue and body read: a request refused anyway uploads nothing.
    super::guard::check_host_origin(state.config.listener(key.listener), head)?;
    let mut request = state.bufs.take(head.fields().raw().len() + 1024);
    let outcome = match encode_request(state, client, head, &mut request).await {
        Ok(()) => send(state, client, head, &request, key).await,
        Err(e) => Err(e),
    };
    state.bufs.give(request);
    outcome
}

/// The request as the owner reads it: the head as the client sent it, then the body read here,
/// into `out` directly (framed as one chunk and the last chunk when the client sent it chunked).
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
    let start = out.len();
    read_request_body(state, client, head, out).await?;
    if framing == Framing::Chunked {
        let len = out.len() - start;
        if len > 0 {
            let size_line = format!("{len:x}\r\n");
            out.splice(start..start, size_line.bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(LAST_CHUNK);
    }
    Ok(())
}

/// Sends `request` (a whole request, head and framed body, for `head`) to `key.owner` over a
/// link (a pooled one, or a new one when none is idle or the pooled one ended unanswered),
/// counts the hop and relays the answer. Also the way a 2026-07-28 retry reaches the shard
/// holding its exchange (modern_client/handoff.rs).
///
/// # Errors
/// As [`forward`], after the request was read.
pub(in crate::proxy) async fn send(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    request: &[u8],
    key: HopLinkKey,
) -> Result<bool, ProxyError> {
    let mut pooled = state.hop_links.take(&key, &state.bufs);
    let mut counted = false;
    let mut link = loop {
        let reused = pooled.is_some();
        let mut link = match pooled.take() {
            Some(link) => link,
            None => open(state, &key).await?,
        };
        if !counted {
            counted = true;
            state.metrics.incr(Counter::Hops);
            state.metrics.incr(Counter::HopsForwarded);
        }
        let wait = ask(state, client, head, &mut link, request).await;
        if let HeadWait::Final = wait {
            break link;
        }
        link.close(&state.bufs);
        match wait {
            HeadWait::ClientGone => return Ok(false),
            HeadWait::Unanswered if reused => continue,
            // A new link the owner closed unanswered: it is shutting down (it ends its idle
            // connections, and refuses new ones, once its latch fired).
            HeadWait::Unanswered => return Err(ProxyError::ShuttingDown),
            _ => {}
        }
        tracing::warn!(
            owner = key.owner.0,
            "link to the shard owning the request broke"
        );
        return match wait {
            HeadWait::Broken { relayed: true } => Ok(false),
            _ => Err(unavailable("no answer from the shard owning the request")),
        };
    };
    let framing = match link.answer.framing(head.method()) {
        Ok(framing) => framing,
        Err(source) => {
            link.close(&state.bufs);
            return Err(ProxyError::UpstreamProtocol { id: None, source });
        }
    };
    let keep = write_client(client, link.answer.fields().raw()).await
        && relay_body(state, client, &mut link.conn, framing).await
        && framing != Framing::UntilClose
        && link.answer.keep_alive();
    // After a HEAD the owner may still have sent a body (an error answer has one): never reuse.
    if keep && head.method() != Method::Head {
        state.hop_links.put(key, link, &state.bufs);
    } else {
        link.close(&state.bufs);
    }
    Ok(keep)
}

/// A 502 for a link that failed (the JSON-RPC error says the upstream is unavailable).
fn unavailable(reason: &str) -> ProxyError {
    ProxyError::UpstreamUnavailable {
        id: None,
        reason: reason.to_owned(),
    }
}

/// Opens a link to `key.owner`: a socket pair, one end sent to the owner as a connection of
/// `key.listener` with `key.peer`'s principal.
async fn open(state: &ShardState, key: &HopLinkKey) -> Result<HopLink, ProxyError> {
    let (here, there) = state.io.pair().map_err(|e| {
        tracing::warn!(error = %e, "cannot make a socket pair to forward a request");
        unavailable("cannot open a link to the shard owning the request")
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
    Ok(HopLink {
        conn: HttpConn::new(here, state.bufs.take(LINK_READ_BUF)),
        answer: ResponseHead::default(),
    })
}

/// Limits for the owner's answer heads: the owner adds a few fields to heads read within the
/// configured limits, so allow more.
fn answer_limits(state: &ShardState) -> Limits {
    Limits {
        max_head_bytes: state.limits.max_head_bytes.saturating_mul(2),
        max_headers: MAX_HEADERS_CAP,
        max_body_bytes: u64::MAX,
    }
}

/// Writes `request` to the link and waits for the answer's final head, relaying interim ones
/// other than `100 Continue` (this shard answered the client's `Expect` itself) to an HTTP/1.1
/// client. A failed write still reads: the owner may have answered (say a 401 before the
/// body) and closed.
async fn ask(
    state: &ShardState,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    link: &mut HopLink,
    request: &[u8],
) -> HeadWait {
    let _ = link.conn.write_all(request).await;
    let limits = answer_limits(state);
    // Whether an answer head came (nothing may be sent again), and whether one reached the
    // client (no error answer may follow).
    let (mut answered, mut relayed) = (false, false);
    loop {
        let read = link.conn.read_response_head(&limits, &mut link.answer);
        match until_client_gone(client, read).await {
            None => return HeadWait::ClientGone,
            Some(Ok(true)) => {
                answered = true;
                match link.answer.status() {
                    100 => {}
                    101 => return HeadWait::Broken { relayed },
                    102..=199 if head.minor_version() == 0 => {}
                    102..=199 => {
                        if !write_client(client, link.answer.fields().raw()).await {
                            return HeadWait::ClientGone;
                        }
                        relayed = true;
                    }
                    _ => return HeadWait::Final,
                }
            }
            // Closed, or reset (it had the request's bytes unread), before any answer byte.
            Some(Ok(false)) if !answered => return HeadWait::Unanswered,
            Some(Err(crate::http::Error::Io(e)))
                if !answered
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ) =>
            {
                return HeadWait::Unanswered
            }
            Some(Ok(false) | Err(_)) => return HeadWait::Broken { relayed },
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

/// Writes `bytes` to the client within the stream write timeout (a client that stopped
/// reading is let go, as on any relayed stream).
async fn write_client(client: &mut HttpConn<NetStream>, bytes: &[u8]) -> bool {
    write_within(client, bytes, STREAM_WRITE_TIMEOUT).await
}
