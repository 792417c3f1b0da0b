//! Per-shard keep-alive pool of TCP (or TLS, for `https://`) connections to one HTTP upstream,
//! and [`Exchange`], a connection checked out with its response head read.
//!
//! Not here: what is sent on a connection (proxy/exchange.rs) or choosing an upstream (routing).
//! Lives on one shard (RefCell), so checkout/checkin never lock; idle connections are LIFO so
//! the warmest socket is reused first, bounded by `max_idle`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use shards::io::{NetStream, ShardIo};

use crate::config::UpstreamId;
use crate::http::{Framing, HttpConn, ResponseHead};
use crate::tls::{TlsSetupError, UpstreamTls};

use super::connect::connect_any;
pub use super::connect::ConnectError;

/// Read buffer of an upstream connection; kept with the socket while pooled, so a reused
/// connection costs no allocation and no buffer zeroing. Grows only up to the head limit.
pub const READ_BUF: usize = 4096;

/// An upstream connection: the socket and its read buffer.
pub type UpstreamConn = HttpConn<NetStream>;

/// A connection checked out of the pool; `reused` says whether it served a request before
/// (a reused socket may have been closed by the upstream meanwhile, so one retry is safe
/// when nothing was received).
#[derive(Debug)]
pub struct Checkout {
    /// The connection.
    pub conn: UpstreamConn,
    /// Whether it came from the idle list.
    pub reused: bool,
}

/// Idle connections to one upstream, owned by one shard.
#[derive(Debug)]
pub struct Pool {
    /// The shard's I/O path: new connections go onto its ring on the uring path.
    io: ShardIo,
    addrs: Vec<SocketAddr>,
    connect_timeout: Duration,
    max_idle: usize,
    /// `https://`: the shard's TLS setup, or why it could not be built (every connect fails
    /// with it; config load builds the same setup first, so this does not happen).
    tls: Option<Result<UpstreamTls, TlsSetupError>>,
    idle: RefCell<Vec<UpstreamConn>>,
}

impl Pool {
    /// A pool for `addrs` (resolved at config load, tried in order), connecting through `io`,
    /// with TLS over each connection when `tls` is set.
    pub fn new(
        io: ShardIo,
        addrs: Vec<SocketAddr>,
        connect_timeout: Duration,
        max_idle: usize,
        tls: Option<Result<UpstreamTls, TlsSetupError>>,
    ) -> Pool {
        Pool {
            io,
            addrs,
            connect_timeout,
            max_idle,
            tls,
            idle: RefCell::new(Vec::new()),
        }
    }

    /// A warm idle connection, or a new one.
    pub async fn checkout(&self) -> Result<Checkout, ConnectError> {
        loop {
            let warm = self.idle.borrow_mut().pop();
            match warm {
                Some(conn) if still_open(&conn) => return Ok(Checkout { conn, reused: true }),
                Some(_closed) => continue,
                None => break,
            }
        }
        self.connect().await.map(|conn| Checkout {
            conn,
            reused: false,
        })
    }

    /// A fresh connection, bypassing the idle list (used for the one retry): TCP, then for
    /// `https://` the TLS handshake, together within the connect timeout (connect.rs).
    pub async fn connect(&self) -> Result<UpstreamConn, ConnectError> {
        let tls = self.tls.as_ref().map(Result::as_ref);
        let stream = connect_any(&self.io, &self.addrs, self.connect_timeout, tls).await?;
        Ok(HttpConn::new(stream, Vec::with_capacity(READ_BUF)))
    }

    /// Returns a connection whose last response was fully read (nothing left buffered) and
    /// which may be reused.
    pub fn checkin(&self, conn: UpstreamConn) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < self.max_idle && conn.buffered().is_empty() {
            idle.push(conn);
        }
    }
}

/// Whether an idle pooled connection is still usable: the upstream has not closed it (EOF) and
/// sent nothing unsolicited, so a request is never sent on a socket known to be dead
/// (`NetStream::idle_and_open`).
fn still_open(conn: &UpstreamConn) -> bool {
    conn.stream_ref().idle_and_open()
}

/// An upstream connection with its response head read.
#[derive(Debug)]
pub struct Exchange {
    /// The connection, positioned at the start of the body.
    pub conn: UpstreamConn,
    /// The response head.
    pub head: ResponseHead,
    /// How the body is framed.
    pub framing: Framing,
    /// Which upstream (for check-in).
    pub upstream: UpstreamId,
}
