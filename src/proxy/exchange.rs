//! One request/response exchange with an HTTP upstream: checkout, send, await the head.
//!
//! Not here: streaming the body back (relay.rs) or what the request says (post.rs et al.).
//! A reused keep-alive socket may have been closed by the upstream while idle; when that
//! shows up before any response byte, the request is sent once more on a fresh socket
//! (the upstream cannot have processed it).

use crate::config::UpstreamId;
use std::rc::Rc;

use crate::http::ResponseHead;
use crate::mcp::JsonRpcId;
pub use crate::upstream::pool::Exchange;
use crate::upstream::pool::{ConnectError, UpstreamConn};

use super::error::ProxyError;
use super::metrics::Counter;
use super::state::ShardState;
use shards::timeout::within;

enum Attempt {
    Done(Box<(UpstreamConn, ResponseHead)>),
    /// Failed before any response byte on a reused socket: safe to retry.
    Stale,
    Failed(ProxyError),
}

/// Sends `request` (complete head + body bytes) and waits for the response head.
pub async fn exchange(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    request: &[u8],
    id: Option<&JsonRpcId>,
    head_request: bool,
) -> Result<Exchange, ProxyError> {
    // Only HTTP upstreams have a pool; any other has no address to connect to (as an empty
    // pool would say).
    let pool = state
        .pool(upstream)
        .ok_or_else(|| unavailable(state, id, &ConnectError::NoAddress))?;
    let checkout = pool
        .checkout()
        .await
        .map_err(|e| unavailable(state, id, &e))?;
    let (conn, head) =
        match attempt(state, upstream, checkout.conn, request, id, checkout.reused).await {
            Attempt::Done(done) => *done,
            Attempt::Stale => {
                let fresh = pool
                    .connect()
                    .await
                    .map_err(|e| unavailable(state, id, &e))?;
                match attempt(state, upstream, fresh, request, id, false).await {
                    Attempt::Done(done) => *done,
                    Attempt::Stale => {
                        return Err(ProxyError::UpstreamUnavailable {
                            id: id.cloned(),
                            reason: "connection closed before a response".into(),
                        });
                    }
                    Attempt::Failed(e) => return Err(e),
                }
            }
            Attempt::Failed(e) => return Err(e),
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
    upstream: UpstreamId,
    mut conn: UpstreamConn,
    request: &[u8],
    id: Option<&JsonRpcId>,
    reused: bool,
) -> Attempt {
    let limits = &state.limits;
    let timeout = state.config.upstream(upstream).request_timeout;
    let mut head = ResponseHead::default();
    let write = within(timeout, conn.write_all(request)).await;
    let read = match write {
        // Only a failed write proves the upstream never got the request: the one case where
        // a POST (which may have side effects) can be sent again on a fresh socket.
        Some(Err(_)) if reused => return Attempt::Stale,
        Some(Err(e)) => Some(Err(e)),
        None => None,
        Some(Ok(())) => within(timeout, conn.read_final_response_head(limits, &mut head)).await,
    };
    match read {
        Some(Ok(())) => Attempt::Done(Box::new((conn, head))),
        None => {
            state.metrics.incr(Counter::UpstreamTimeouts);
            Attempt::Failed(ProxyError::UpstreamTimeout { id: id.cloned() })
        }
        Some(Err(crate::http::Error::Io(e))) => {
            state.metrics.incr(Counter::UpstreamErrors);
            Attempt::Failed(ProxyError::UpstreamUnavailable {
                id: id.cloned(),
                reason: e.to_string(),
            })
        }
        Some(Err(crate::http::Error::UnexpectedEof)) => {
            state.metrics.incr(Counter::UpstreamErrors);
            Attempt::Failed(ProxyError::UpstreamUnavailable {
                id: id.cloned(),
                reason: "upstream closed the connection".into(),
            })
        }
        Some(Err(source)) => Attempt::Failed(ProxyError::UpstreamProtocol {
            id: id.cloned(),
            source,
        }),
    }
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
        tls @ crate::upstream::pool::ConnectError::Tls { .. } => ProxyError::UpstreamTls {
            id: id.cloned(),
            reason: tls.to_string(),
        },
        other => ProxyError::UpstreamUnavailable {
            id: id.cloned(),
            reason: other.to_string(),
        },
    }
}

/// Returns a finished exchange's connection to the pool when clean; otherwise drops it.
pub fn finish(state: &ShardState, exchange: Exchange, reusable: bool) {
    if let (true, Some(pool)) = (reusable, state.pool(exchange.upstream)) {
        pool.checkin(exchange.conn);
    }
}
