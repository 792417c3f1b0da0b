//! Opening one connection to an HTTP upstream ([`connect_any`]): TCP to each resolved address
//! in turn, then, for an `https://` upstream, the TLS handshake, TCP and TLS together within
//! the upstream's `connect_timeout`; and why that failed ([`ConnectError`]). Both the
//! Streamable HTTP pool and a legacy HTTP+SSE session's stream and POSTs connect through here,
//! so both get the same TLS checks and the same deadline.
//!
//! Not here: keeping connections (pool.rs), what is sent on them, building the rustls
//! configuration (crate::tls).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shards::io::{NetStream, ShardIo};

use crate::tls::{TlsSetupError, UpstreamTls};

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
    /// The TCP connection was made but the TLS handshake failed: certificate not trusted or
    /// not for this host, protocol alert, or the upstream closed it.
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        /// Address connected to.
        addr: SocketAddr,
        /// rustls's error (inside an `InvalidData` error) or the socket's.
        source: std::io::Error,
    },
    /// The upstream resolved to no address at all.
    #[error("upstream has no resolved address")]
    NoAddress,
}

/// How to secure a new connection: `None` for `http://`; for `https://` the shard's TLS
/// setup, or why it could not be built (every connect then fails with it; config load builds
/// the same setup first, so this does not happen).
pub type TlsSetup<'a> = Option<Result<&'a UpstreamTls, &'a TlsSetupError>>;

/// A new connection to the first of `addrs` (tried in order) that accepts it through `io`,
/// with the TLS handshake of `tls` done over it; each address gets `connect_timeout` for TCP
/// and TLS together. Nagle is off (`ShardIo::connect`).
///
/// # Errors
/// The last address's failure, or [`ConnectError::NoAddress`] when `addrs` is empty.
pub async fn connect_any(
    io: &ShardIo,
    addrs: &[SocketAddr],
    connect_timeout: Duration,
    tls: TlsSetup<'_>,
) -> Result<NetStream, ConnectError> {
    let mut last = ConnectError::NoAddress;
    for &addr in addrs {
        let started = Instant::now();
        let stream = match io.connect(addr, connect_timeout).await {
            Ok(stream) => {
                secure(
                    addr,
                    stream,
                    tls,
                    connect_timeout.saturating_sub(started.elapsed()),
                )
                .await
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(ConnectError::TimedOut { addr })
            }
            Err(source) => Err(ConnectError::Failed { addr, source }),
        };
        match stream {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Runs the TLS handshake of `tls` on a new connection within `left` (what the TCP connect
/// left of the connect timeout); a plain upstream's stream is returned as it is.
async fn secure(
    addr: SocketAddr,
    stream: NetStream,
    tls: TlsSetup<'_>,
    left: Duration,
) -> Result<NetStream, ConnectError> {
    let tls = match tls {
        None => return Ok(stream),
        Some(Ok(tls)) => tls,
        Some(Err(setup)) => {
            let source = std::io::Error::other(setup.clone());
            return Err(ConnectError::Tls { addr, source });
        }
    };
    // Boxed: the handshake's state is kilobytes, and inline it would grow every future that
    // awaits a connection, plain upstreams' too. One allocation per new TLS connection.
    let handshake = Box::pin(stream.connect_tls(tls.config.clone(), tls.name.clone()));
    match shards::timeout::within(left, handshake).await {
        Some(Ok(stream)) => Ok(stream),
        // The caller's error log line carries the reason (ProxyError::UpstreamTls, SseError).
        Some(Err(source)) => Err(ConnectError::Tls { addr, source }),
        None => Err(ConnectError::TimedOut { addr }),
    }
}
