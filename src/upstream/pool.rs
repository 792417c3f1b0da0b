//! Per-shard keep-alive pool of TCP connections to one HTTP upstream, and [`Exchange`], a
//! connection checked out with its response head read.
//!
//! Not here: what is sent on a connection (proxy/exchange.rs) or choosing an upstream (routing).
//! Lives on one shard (RefCell), so checkout/checkin never lock; idle connections are LIFO so
//! the warmest socket is reused first, bounded by `max_idle`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use shards::io::NetStream;

use crate::config::UpstreamId;
use crate::http::{Framing, HttpConn, ResponseHead};

/// Why a connection to the upstream could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Every resolved address refused or failed.
    #[error("connect to {addr} failed: {source}")]
    Failed {
        /// Last address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// No address answered within the connect timeout.
    #[error("connect to {addr} timed out")]
    TimedOut {
        /// Address tried.
        addr: SocketAddr,
    },
    /// The upstream resolved to no address at all.
    #[error("upstream has no resolved address")]
    NoAddress,
}

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
    addrs: Vec<SocketAddr>,
    connect_timeout: Duration,
    max_idle: usize,
    idle: RefCell<Vec<UpstreamConn>>,
}

impl Pool {
    /// A pool for `addrs` (resolved at config load, tried in order).
    pub fn new(addrs: Vec<SocketAddr>, connect_timeout: Duration, max_idle: usize) -> Pool {
        Pool {
            addrs,
            connect_timeout,
            max_idle,
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

    /// A fresh connection, bypassing the idle list (used for the one retry).
    pub async fn connect(&self) -> Result<UpstreamConn, ConnectError> {
        let mut last = Err(ConnectError::NoAddress);
        for &addr in &self.addrs {
            last = match NetStream::connect_timeout(addr, self.connect_timeout).await {
                Ok(stream) => {
                    // Requests are small writes answered at once: Nagle would add 40 ms.
                    let _ = stream.set_nodelay(true);
                    return Ok(HttpConn::new(stream, Vec::with_capacity(READ_BUF)));
                }
                Err(glommio::GlommioError::IoError(e))
                    if e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    Err(ConnectError::TimedOut { addr })
                }
                Err(glommio::GlommioError::IoError(source)) => {
                    Err(ConnectError::Failed { addr, source })
                }
                Err(other) => Err(ConnectError::Failed {
                    addr,
                    source: std::io::Error::other(other.to_string()),
                }),
            };
        }
        last
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
/// sent nothing unsolicited. A non-blocking `MSG_PEEK` costs one syscall and catches the usual
/// stale case (the upstream's keep-alive timeout closed it) before a request is written, so a
/// request is never sent on a socket known to be dead.
fn still_open(conn: &UpstreamConn) -> bool {
    use std::os::fd::AsRawFd;
    let fd = conn.stream_ref().as_raw_fd();
    let mut probe = [0u8; 1];
    // SAFETY: `fd` is a live socket owned by `conn`; `probe` is a valid 1-byte buffer; MSG_PEEK
    // leaves the socket's data untouched and MSG_DONTWAIT never blocks the shard.
    #[allow(unsafe_code, reason = "non-blocking liveness probe on our own socket")]
    let n = unsafe {
        libc::recv(
            fd,
            probe.as_mut_ptr().cast(),
            probe.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
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
