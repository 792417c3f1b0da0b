//! The per-shard socket I/O interface the application's connections use (issue 13): one type
//! for a connected TCP stream ([`NetStream`]) and one for a listener ([`NetListener`]) whichever
//! path the shard runs, and the shard's handle that makes them ([`ShardIo`]), so the HTTP code
//! is written once.
//!
//! Two paths (`--io uring|glommio`, [`IoBackend`]):
//! - **uring**: the shard's own io_uring ([`crate::uring`]): multishot accept and recv into
//!   provided buffers, fixed files, queued sends. Upstream connections are opened with glommio's
//!   connect and their socket then moves onto the ring.
//! - **glommio**: glommio's `TcpStream`/`TcpListener` (plain syscalls, ring used to wait).
//!
//! TLS (tls.rs) is a third kind of [`NetStream`]: a rustls session over one of the two.
//! relay.rs copies bytes both ways between two streams (a TLS session and a local socket pair
//! whose other end another shard serves).
//!
//! Not here: the ring itself (`crate::uring`), what runs over the streams (the application).

mod listener;
mod relay;
mod stream;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

pub use listener::NetListener;
pub use relay::relay;
pub use stream::NetStream;

use crate::uring::{fds, IoBackend, Uring, UringConfig, UringStats};

/// One shard's I/O path: its ring on the uring path, nothing on the glommio path. Cheap to
/// clone (`Rc` inside); not `Send`: build it on the shard.
#[derive(Clone, Debug, Default)]
pub struct ShardIo {
    ring: Option<Uring>,
}

impl ShardIo {
    /// glommio's own sockets.
    pub fn glommio() -> ShardIo {
        ShardIo { ring: None }
    }

    /// Starts the shard's ring (spawns its reactor task: call on the shard's executor).
    ///
    /// # Errors
    /// The ring cannot be set up (kernel, memory or descriptor limits).
    pub fn uring(cfg: &UringConfig) -> io::Result<ShardIo> {
        Ok(ShardIo {
            ring: Some(Uring::new(cfg)?),
        })
    }

    /// `backend` on this shard: the ring for `Uring` (glommio, with the reason, when it cannot
    /// be set up), glommio's sockets otherwise. `spin`: the ring's reactor spins that long
    /// before it parks ([`UringConfig::spin`]).
    pub fn start(
        backend: IoBackend,
        spin: Option<std::time::Duration>,
    ) -> (ShardIo, Option<io::Error>) {
        match backend {
            IoBackend::Glommio => (ShardIo::glommio(), None),
            IoBackend::Uring => match ShardIo::uring(&UringConfig {
                spin,
                ..UringConfig::default()
            }) {
                Ok(io) => (io, None),
                Err(e) => (ShardIo::glommio(), Some(e)),
            },
        }
    }

    /// The path this shard runs.
    pub fn backend(&self) -> IoBackend {
        if self.ring.is_some() {
            IoBackend::Uring
        } else {
            IoBackend::Glommio
        }
    }

    /// The ring's counters (uring path only).
    pub fn stats(&self) -> Option<UringStats> {
        self.ring.as_ref().map(Uring::stats)
    }

    /// Takes over a connected socket (accepted elsewhere, or handed over by another shard).
    pub fn stream(&self, fd: OwnedFd) -> NetStream {
        match &self.ring {
            Some(ring) => NetStream::from(ring.stream(fd)),
            None => NetStream::from(fds::glommio_stream(fd)),
        }
    }

    /// Binds `addr` with `SO_REUSEPORT` (every shard binds the same address) and listens.
    ///
    /// # Errors
    /// The socket cannot be created, bound or listened on.
    pub fn bind(&self, addr: SocketAddr, backlog: i32) -> io::Result<NetListener> {
        let fd = crate::listener::bind_socket(addr, backlog)?;
        Ok(match &self.ring {
            Some(ring) => NetListener::from(ring.listener(fd)),
            None => NetListener::from(fds::glommio_listener(fd)),
        })
    }

    /// Connects to `addr` within `timeout` (an io_uring connect on glommio's ring), Nagle off
    /// (requests are small writes answered at once); on the uring path the socket then moves
    /// onto this shard's ring.
    ///
    /// # Errors
    /// As the connect: `TimedOut`, refused, unreachable, out of descriptors.
    pub async fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<NetStream> {
        let stream = glommio::net::TcpStream::connect_timeout(addr, timeout)
            .await
            .map_err(io::Error::from)?;
        let _ = stream.set_nodelay(true);
        match &self.ring {
            None => Ok(NetStream::from(stream)),
            Some(ring) => {
                // glommio's stream gives its descriptor up only by `dup`; the original closes
                // with it.
                let fd = fds::borrow_glommio(&stream).try_clone_to_owned()?;
                drop(stream);
                Ok(NetStream::from(ring.stream(fd)))
            }
        }
    }
}
