//! [`NetListener`]: a shard's listening socket on either I/O path.
//!
//! Not here: binding (`ShardIo::bind`, `crate::listener`).

use std::fmt;
use std::io;

use glommio::net::TcpListener;

use super::NetStream;
use crate::uring::UringListener;

/// A listening socket owned by one shard.
pub struct NetListener(Inner);

enum Inner {
    Glommio(TcpListener),
    Uring(UringListener),
}

impl fmt::Debug for NetListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Glommio(l) => f.debug_tuple("NetListener::Glommio").field(l).finish(),
            Inner::Uring(l) => f.debug_tuple("NetListener::Uring").field(l).finish(),
        }
    }
}

impl From<TcpListener> for NetListener {
    fn from(l: TcpListener) -> Self {
        NetListener(Inner::Glommio(l))
    }
}

impl From<UringListener> for NetListener {
    fn from(l: UringListener) -> Self {
        NetListener(Inner::Uring(l))
    }
}

impl NetListener {
    /// The next connection, Nagle off (small request/response writes: Nagle would add up to
    /// 40 ms per exchange). Cancel-safe: a connection is never lost when the wait is dropped.
    ///
    /// # Errors
    /// accept(2) failed (e.g. out of descriptors).
    pub async fn accept(&mut self) -> io::Result<NetStream> {
        let stream = match &mut self.0 {
            Inner::Glommio(l) => NetStream::from(l.accept().await.map_err(io::Error::from)?),
            Inner::Uring(l) => NetStream::from(l.accept().await?),
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// getsockname(2) failed.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match &self.0 {
            Inner::Glommio(l) => l.local_addr().map_err(io::Error::from),
            Inner::Uring(l) => {
                let addr = socket2::SockRef::from(l).local_addr()?;
                addr.as_socket()
                    .ok_or_else(|| io::Error::other("not an inet address"))
            }
        }
    }
}
