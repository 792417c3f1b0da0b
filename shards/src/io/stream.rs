//! [`NetStream`]: a shard's connected socket on either I/O path, with the few socket
//! operations the application needs besides reading and writing.
//!
//! Not here: making streams (`ShardIo`), the TLS handshakes (tls.rs).

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

use crate::uring::{fds, IoBackend, UringStream};

/// A connected TCP stream owned by one shard.
///
/// Writes on the uring path are queued (write-behind) and sent by the ring's next pass, so
/// they go out without a `flush`; `flush` waits until the kernel took them and reports a send
/// error. Dropping the stream sends what is queued, then closes.
pub struct NetStream(pub(super) Inner);

pub(super) enum Inner {
    Glommio(TcpStream),
    Uring(UringStream),
    /// A TLS session over one of the others (tls.rs). Boxed: the session state is large and
    /// the type is recursive.
    Tls(Box<futures_rustls::TlsStream<NetStream>>),
    /// The socket left this shard ([`NetStream::detach`]); every operation fails.
    Detached,
}

impl fmt::Debug for NetStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Glommio(s) => f.debug_tuple("NetStream::Glommio").field(s).finish(),
            Inner::Uring(s) => f.debug_tuple("NetStream::Uring").field(s).finish(),
            Inner::Tls(s) => f
                .debug_tuple("NetStream::Tls")
                .field(s.get_ref().0)
                .finish(),
            Inner::Detached => f.write_str("NetStream::Detached"),
        }
    }
}

impl From<TcpStream> for NetStream {
    fn from(s: TcpStream) -> Self {
        NetStream(Inner::Glommio(s))
    }
}

impl From<UringStream> for NetStream {
    fn from(s: UringStream) -> Self {
        NetStream(Inner::Uring(s))
    }
}

fn detached() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "socket moved to another shard")
}

impl NetStream {
    /// The path it runs on (`None` once detached).
    pub fn backend(&self) -> Option<IoBackend> {
        match &self.0 {
            Inner::Glommio(_) => Some(IoBackend::Glommio),
            Inner::Uring(_) => Some(IoBackend::Uring),
            Inner::Tls(s) => s.get_ref().0.backend(),
            Inner::Detached => None,
        }
    }

    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        match &self.0 {
            Inner::Glommio(s) => Ok(fds::borrow_glommio(s)),
            Inner::Uring(s) => Ok(s.as_fd()),
            Inner::Tls(s) => s.get_ref().0.fd(),
            Inner::Detached => Err(detached()),
        }
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// setsockopt(2) failed, or the stream is detached.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        socket2::SockRef::from(&self.fd()?).set_nodelay(on)
    }

    /// Whether an idle connection (nothing expected from the peer) is still clean to reuse:
    /// the peer has not closed it and sent nothing unsolicited. This catches the usual stale
    /// case, a keep-alive timeout on the other side, before a request is written (a request
    /// written on a socket the peer closed is answered by a reset, and is not retried: a POST
    /// may not be sent twice). On the uring path with its recv armed and every completion of
    /// the ring reaped, what the ring received says it (no syscall; a close that arrives later
    /// is the same race as one arriving just after a probe); otherwise a non-blocking
    /// `MSG_PEEK` (one syscall). On a TLS stream the raw socket is probed: any
    /// TLS record arriving while idle (a late session ticket, a `close_notify`) also counts as
    /// not clean, which only costs a reconnect.
    pub fn idle_and_open(&self) -> bool {
        match &self.0 {
            Inner::Uring(s) if s.rx_pending() => return false,
            Inner::Uring(s) if s.rx_watched() => return true,
            Inner::Tls(s) => return s.get_ref().0.idle_and_open(),
            _ => {}
        }
        let Ok(fd) = self.fd() else {
            return false;
        };
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        let peek = socket2::SockRef::from(&fd)
            .recv_with_flags(&mut probe, libc::MSG_PEEK | libc::MSG_DONTWAIT);
        matches!(peek, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Takes the socket out of this shard for a handoff: its descriptor and the bytes the I/O
    /// path already received but nobody read (they come after anything the caller buffered).
    /// Queued writes are sent first. The stream is left detached: every later operation fails.
    ///
    /// # Errors
    /// A queued send failed, `dup` failed (glommio path: out of descriptors), the stream
    /// was detached already, or it is a TLS stream (left as it was: a TLS session's keys and
    /// sequence numbers live in this process and cannot move with a raw descriptor: relay it
    /// over a [`ShardIo::pair`] instead).
    pub async fn detach(&mut self) -> io::Result<(OwnedFd, Vec<u8>)> {
        if let Inner::Tls(_) = &self.0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a TLS stream cannot be handed to another shard as a raw descriptor",
            ));
        }
        match std::mem::replace(&mut self.0, Inner::Detached) {
            Inner::Glommio(s) => {
                // glommio gives its descriptor up only by `dup`; the original closes with `s`.
                let fd = fds::borrow_glommio(&s).try_clone_to_owned()?;
                Ok((fd, Vec::new()))
            }
            Inner::Uring(s) => s.into_owned_fd().await,
            Inner::Tls(_) | Inner::Detached => Err(detached()),
        }
    }
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Inner::Glommio(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Uring(s) => s.poll_read_into(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::Detached => Poll::Ready(Err(detached())),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Inner::Glommio(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Uring(s) => s.poll_queue(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Glommio(s) => Pin::new(s).poll_flush(cx),
            Inner::Uring(s) => s.poll_sent(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::Detached => Poll::Ready(Err(detached())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Glommio(s) => Pin::new(s).poll_close(cx),
            Inner::Uring(s) => Pin::new(s).poll_close(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
            Inner::Detached => Poll::Ready(Ok(())),
        }
    }
}
