//! Descriptor ownership moves between glommio's socket types and `OwnedFd`, for the per-shard
//! I/O layer (`crate::io`): glommio's `TcpStream`/`TcpListener` take a descriptor only through
//! `FromRawFd` and lend theirs only as a `RawFd`, so these conversions need `unsafe`, kept here
//! with the rest of the crate's.
//!
//! Not here: any I/O.

use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

use glommio::net::{TcpListener, TcpStream};

/// glommio's stream over a connected socket we own.
pub(crate) fn glommio_stream(fd: OwnedFd) -> TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: `into_raw_fd` gives up our exclusive ownership of an open socket; TcpStream
    // takes it over (and closes it).
    unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) }
}

/// glommio's listener over a bound, listening socket we own.
pub(crate) fn glommio_listener(fd: OwnedFd) -> TcpListener {
    use std::os::fd::FromRawFd;
    // SAFETY: as in `glommio_stream`: exclusive ownership of an open listening socket moves
    // into the TcpListener.
    unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) }
}

/// Borrows the descriptor of a glommio stream (for socket options, a `dup`, a peek).
pub(crate) fn borrow_glommio(stream: &TcpStream) -> BorrowedFd<'_> {
    // SAFETY: the stream owns its descriptor and keeps it open for as long as it lives; the
    // borrow is tied to the stream's lifetime.
    unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) }
}
