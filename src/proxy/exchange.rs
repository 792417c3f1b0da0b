//! One request/response exchange with an HTTP upstream: checkout, send, await the head.
//!
//! Not here: streaming the body back (relay.rs) or what the request says (post.rs et al.).
//! A reused keep-alive socket may have been closed by the upstream while idle; when that
//! shows up before any response byte, the request is sent once more on a fresh socket
//! (the upstream cannot have processed it).

use std::rc::Rc;

use glommio::net::TcpStream;

use crate::http::{Framing, HttpConn, ResponseHead};
use crate::mcp::JsonRpcId;

use super::error::ProxyError;
use super::metrics::Counter;
use super::state::ShardState;
use super::timeouts::within;

/// Read buffer for an upstream connection; grows only up to the head limit.
pub const UPSTREAM_READ_BUF: usize = 4096;

/// An upstream connection with its response head read.
#[derive(Debug)]
pub struct Exchange {
    /// The connection, positioned at the start of the body.
    pub conn: HttpConn<TcpStream>,
    /// The response head.
    pub head: ResponseHead,
    /// How the body is framed.
    pub framing: Framing,
    /// Which upstream (for check-in).
    pub upstream: usize,
}

enum Attempt {
    Done(Box<(HttpConn<TcpStream>, ResponseHead)>),
    /// Failed before any response byte on a reused socket: safe to retry.
    Stale(HttpConn<TcpStream>),
    Failed(HttpConn<TcpStream>, ProxyError),
}

/// Sends `request` (complete head + body bytes) and waits for the response head.
pub async fn exchange(
    state: &Rc<ShardState>,
    upstream: usize,
    request: &[u8],
    id: Option<&JsonRpcId>,
    head_request: bool,
) -> Result<Exchange, ProxyError> {
    let pool = state
        .upstreams
        .get(upstream)
        .ok_or(ProxyError::Internal("route names a missing upstream"))?;
    let checkout = pool
        .checkout()
        .await
        .map_err(|e| unavailable(state, id, &e))?;
    let conn = HttpConn::new(checkout.stream, state.bufs.take(UPSTREAM_READ_BUF));
    let (conn, head) = match attempt(state, upstream, conn, request, id, checkout.reused).await {
        Attempt::Done(done) => *done,
        Attempt::Stale(old) => {
            recycle(state, old);
            let fresh = pool
                .connect()
                .await
                .map_err(|e| unavailable(state, id, &e))?;
            let conn = HttpConn::new(fresh, state.bufs.take(UPSTREAM_READ_BUF));
            match attempt(state, upstream, conn, request, id, false).await {
                Attempt::Done(done) => *done,
                Attempt::Stale(conn) => {
                    recycle(state, conn);
                    return Err(ProxyError::UpstreamUnavailable {
                        id: id.cloned(),
                        reason: "connection closed before a response".into(),
                    });
                }
                Attempt::Failed(conn, e) => {
                    recycle(state, conn);
                    return Err(e);
                }
            }
        }
        Attempt::Failed(conn, e) => {
            recycle(state, conn);
            return Err(e);
        }
    };
    let request_method = if head_request {
        crate::http::Method::Head
    } else {
        crate::http::Method::Post
    };
    let framing = head
        .framing(request_method)
        .map_err(|source| ProxyError::UpstreamProtocol {
            id: id.cloned(),
            source,
        })?;
    Ok(Exchange {
        conn,
        head,
        framing,
        upstream,
    })
}

async fn attempt(
    state: &Rc<ShardState>,
    upstream: usize,
    mut conn: HttpConn<TcpStream>,
    request: &[u8],
    id: Option<&JsonRpcId>,
    reused: bool,
) -> Attempt {
    let limits = &state.limits;
    let timeout = state
        .config
        .upstreams
        .get(upstream)
        .map(|u| u.request_timeout)
        .unwrap_or(crate::config::defaults::UPSTREAM_REQUEST_TIMEOUT);
    let mut head = ResponseHead::default();
    let read = match conn.write_all(request).await {
        Ok(()) => within(timeout, conn.read_response_head(limits, &mut head)).await,
        Err(e) => Some(Err(e)),
    };
    let read = match read {
        Some(Ok(true)) => Some(Ok(())),
        Some(Ok(false)) => Some(Err(crate::http::Error::UnexpectedEof)),
        Some(Err(e)) => Some(Err(e)),
        None => None,
    };
    match read {
        Some(Ok(())) => Attempt::Done(Box::new((conn, head))),
        None => {
            state.metrics.incr(Counter::UpstreamTimeouts);
            Attempt::Failed(conn, ProxyError::UpstreamTimeout { id: id.cloned() })
        }
        Some(Err(e)) if reused && nothing_received(&conn, &e) => Attempt::Stale(conn),
        Some(Err(crate::http::Error::Io(e))) => {
            state.metrics.incr(Counter::UpstreamErrors);
            Attempt::Failed(
                conn,
                ProxyError::UpstreamUnavailable {
                    id: id.cloned(),
                    reason: e.to_string(),
                },
            )
        }
        Some(Err(crate::http::Error::UnexpectedEof)) => {
            state.metrics.incr(Counter::UpstreamErrors);
            Attempt::Failed(
                conn,
                ProxyError::UpstreamUnavailable {
                    id: id.cloned(),
                    reason: "upstream closed the connection".into(),
                },
            )
        }
        Some(Err(source)) => Attempt::Failed(
            conn,
            ProxyError::UpstreamProtocol {
                id: id.cloned(),
                source,
            },
        ),
    }
}

fn nothing_received(conn: &HttpConn<TcpStream>, e: &crate::http::Error) -> bool {
    conn.buffered().is_empty()
        && matches!(
            e,
            crate::http::Error::UnexpectedEof | crate::http::Error::Io(_)
        )
}

fn unavailable(
    state: &ShardState,
    id: Option<&JsonRpcId>,
    e: &crate::upstream::pool::ConnectError,
) -> ProxyError {
    state.metrics.incr(Counter::UpstreamErrors);
    match e {
        crate::upstream::pool::ConnectError::TimedOut { .. } => {
            ProxyError::UpstreamTimeout { id: id.cloned() }
        }
        other => ProxyError::UpstreamUnavailable {
            id: id.cloned(),
            reason: other.to_string(),
        },
    }
}

/// Returns the connection's buffer to the slab and drops the socket.
pub fn recycle(state: &ShardState, conn: HttpConn<TcpStream>) {
    let (_stream, buf) = conn.into_parts();
    state.bufs.give(buf);
}

/// Returns a finished exchange's socket to the pool when clean, its buffer to the slab.
pub fn finish(state: &ShardState, exchange: Exchange, reusable: bool) {
    let (stream, buf) = exchange.conn.into_parts();
    let clean = reusable && buf.is_empty();
    state.bufs.give(buf);
    if clean {
        if let Some(pool) = state.upstreams.get(exchange.upstream) {
            pool.checkin(stream);
        }
    }
}
