//! The user-facing types: the per-shard handle, a connected stream, a listener, a borrowed
//! provided buffer.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::driver::{ud, Driver, Rx, State, Target, UringConfig, UringStats, K_RECV};
use super::probe::SetupMode;

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

/// The io_uring of one shard. Cheap to clone (`Rc`); not `Send`: create it on the shard.
#[derive(Clone)]
pub struct Uring {
    d: Rc<Driver>,
}

impl fmt::Debug for Uring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Uring")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

impl Uring {
    /// Sets up the shard's ring (best [`SetupMode`] the kernel accepts), its provided-buffer
    /// ring and registered file table, and spawns the reactor task. Must be called on a glommio
    /// executor (it spawns a task there).
    pub fn new(cfg: &UringConfig) -> io::Result<Uring> {
        Ok(Uring {
            d: Driver::start(cfg)?,
        })
    }

    /// The setup flags the kernel accepted for this ring.
    pub fn mode(&self) -> SetupMode {
        self.d.st.borrow().mode
    }

    /// A snapshot of the driver's counters.
    pub fn stats(&self) -> UringStats {
        self.d.st.borrow().snapshot()
    }

    /// Asks the reactor for a pass, as a task queueing work does (tests: parks without I/O).
    #[cfg(test)]
    pub(crate) fn notify_reactor(&self) {
        self.d.st.borrow_mut().notify();
    }

    /// Takes over a connected socket (e.g. accepted elsewhere, or handed over from another
    /// shard): installs it in the registered file table and returns the stream.
    pub fn stream(&self, fd: OwnedFd) -> UringStream {
        let raw = fd.as_raw_fd();
        let id = self.d.st.borrow_mut().add_conn(fd);
        UringStream {
            d: self.d.clone(),
            id,
            raw,
            gone: false,
        }
    }

    /// Takes over a listening socket (bound and listening, e.g. with `SO_REUSEPORT`, by the
    /// caller) and accepts on it with one multishot accept.
    pub fn listener(&self, fd: OwnedFd) -> UringListener {
        let raw = fd.as_raw_fd();
        let id = self.d.st.borrow_mut().add_listener(fd);
        UringListener {
            d: self.d.clone(),
            id,
            raw,
        }
    }
}

/// A connected socket driven by the shard's ring: multishot recv into provided buffers, sends
/// queued and submitted once per reactor tick (at most one in flight, later writes coalesced
/// behind it).
///
/// Writes are write-behind: `write_all` returns once the bytes are queued (waiting only when
/// more than `UringConfig::max_tx_queued` bytes are queued); `flush` waits until the kernel
/// took them all and reports a send error. Dropping the stream still sends what is queued,
/// then closes the socket.
pub struct UringStream {
    d: Rc<Driver>,
    id: usize,
    raw: RawFd,
    gone: bool,
}

impl fmt::Debug for UringStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UringStream")
            .field("fd", &self.raw)
            .field("slot", &self.fixed_slot())
            .finish()
    }
}

impl UringStream {
    /// The registered file slot, `None` when the table was full and the plain fd is used.
    pub fn fixed_slot(&self) -> Option<u32> {
        match self.d.st.borrow().conns.get(self.id).map(|c| c.target) {
            Some(Target::Fixed(slot)) => Some(slot),
            _ => None,
        }
    }

    /// Whether bytes, end of stream or an error were already received and not read: an idle
    /// connection (e.g. pooled) for which this is true is not clean to reuse.
    pub fn rx_pending(&self) -> bool {
        self.d
            .st
            .borrow()
            .conns
            .get(self.id)
            .is_none_or(|c| !c.rx.is_empty() || c.eof || c.rx_err.is_some())
    }

    /// Whether [`UringStream::rx_pending`] is current without a syscall to look: a multishot
    /// recv is armed on it (bytes, end of stream or an error arriving post a completion) and
    /// the ring has nothing finished that is not reaped yet (a close whose completion waits
    /// in the queue or as flagged task work would otherwise go unseen).
    pub fn rx_watched(&self) -> bool {
        let st = self.d.st.borrow();
        st.all_reaped()
            && st
                .conns
                .get(self.id)
                .is_some_and(|c| c.rx_state == Rx::Armed)
    }

    /// Copies received bytes into `buf`; `Ok(0)` at end of stream (or for an empty `buf`).
    pub fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut st = self.d.st.borrow_mut();
        let st = &mut *st;
        let Some(conn) = st.conns.get_mut(self.id) else {
            return Poll::Ready(Err(errno(libc::EBADF)));
        };
        let mut copied = 0;
        while copied < buf.len() {
            let Some(chunk) = conn.rx.front_mut() else {
                break;
            };
            let n = (chunk.len as usize).min(buf.len() - copied);
            // SAFETY: the chunk's buffer is user-owned until recycled below (after the copy),
            // and off+len ≤ buffer size by construction.
            let src = unsafe { st.bufs.slice(chunk.bid, chunk.off, n as u32) };
            buf[copied..copied + n].copy_from_slice(src);
            copied += n;
            chunk.off += n as u32;
            chunk.len -= n as u32;
            if chunk.len == 0 {
                let bid = chunk.bid;
                conn.rx.pop_front();
                st.bufs.recycle(bid);
            }
        }
        if copied > 0 {
            st.buffers_returned();
            return Poll::Ready(Ok(copied));
        }
        if let Some(e) = conn.rx_err {
            return Poll::Ready(Err(errno(e)));
        }
        if conn.eof {
            return Poll::Ready(Ok(0));
        }
        park_reader(st, self.id, cx);
        Poll::Pending
    }

    /// Reads into `buf`; `Ok(0)` at end of stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_into(cx, buf)).await
    }

    /// Borrows the next received provided buffer (no copy); it goes back to the kernel when
    /// the [`RecvBuf`] drops. `None` at end of stream.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<RecvBuf>>> {
        let mut st = self.d.st.borrow_mut();
        let st = &mut *st;
        let Some(conn) = st.conns.get_mut(self.id) else {
            return Poll::Ready(Err(errno(libc::EBADF)));
        };
        if let Some(chunk) = conn.rx.pop_front() {
            // SAFETY: the buffer is user-owned from now until the RecvBuf drops and recycles it.
            let ptr = unsafe { st.bufs.slice(chunk.bid, chunk.off, chunk.len) }.as_ptr();
            return Poll::Ready(Ok(Some(RecvBuf {
                d: self.d.clone(),
                bid: chunk.bid,
                ptr,
                len: chunk.len as usize,
            })));
        }
        if let Some(e) = conn.rx_err {
            return Poll::Ready(Err(errno(e)));
        }
        if conn.eof {
            return Poll::Ready(Ok(None));
        }
        park_reader(st, self.id, cx);
        Poll::Pending
    }

    /// The next received buffer, borrowed; `None` at end of stream.
    pub async fn recv(&mut self) -> io::Result<Option<RecvBuf>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Queues `buf` for sending at the next tick; waits while the queue is over its limit.
    pub fn poll_queue(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut st = self.d.st.borrow_mut();
        let max = st.max_tx_queued;
        let Some(conn) = st.conns.get_mut(self.id) else {
            return Poll::Ready(Err(errno(libc::EBADF)));
        };
        if let Some(e) = conn.tx_err {
            return Poll::Ready(Err(errno(e)));
        }
        let queued = conn.tx_buf.len() - conn.tx_off + conn.tx_pending.len();
        if queued >= max {
            conn.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        conn.tx_pending.extend_from_slice(buf);
        st.mark_dirty(self.id);
        Poll::Ready(Ok(buf.len()))
    }

    /// Queues all of `buf` (write-behind; see the type's doc).
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        poll_fn(|cx| self.poll_queue(cx, buf)).await.map(drop)
    }

    /// Ready once every queued byte was taken by the kernel; the first send error otherwise.
    pub fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.d.st.borrow_mut();
        let Some(conn) = st.conns.get_mut(self.id) else {
            return Poll::Ready(Err(errno(libc::EBADF)));
        };
        if let Some(e) = conn.tx_err {
            return Poll::Ready(Err(errno(e)));
        }
        if !conn.tx_inflight && conn.tx_off >= conn.tx_buf.len() && conn.tx_pending.is_empty() {
            return Poll::Ready(Ok(()));
        }
        conn.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits until every queued byte was sent.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_sent(cx)).await
    }

    /// Flushes (for `Write`/`Both`), then `shutdown(2)`s the socket.
    pub async fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            self.flush().await?;
        }
        shutdown_fd(self.raw, how)
    }

    /// Flushes, then closes (the close itself is asynchronous on the ring).
    pub async fn close(mut self) -> io::Result<()> {
        self.flush().await
    }

    /// Takes the socket out of this shard for a handoff: flushes, stops the recv (waiting for
    /// its last completion), removes the fd from the registered table and returns it with the
    /// bytes received but not read yet. The other shard passes the fd to its own
    /// [`Uring::stream`].
    pub async fn into_owned_fd(mut self) -> io::Result<(OwnedFd, Vec<u8>)> {
        self.flush().await?;
        {
            let mut st = self.d.st.borrow_mut();
            let armed = match st.conns.get_mut(self.id) {
                Some(conn) if conn.rx_state == Rx::Armed => {
                    conn.rx_state = Rx::Cancelling;
                    true
                }
                Some(conn) => {
                    if conn.rx_state == Rx::Starved {
                        conn.rx_state = Rx::Idle;
                    }
                    false
                }
                None => return Err(errno(libc::EBADF)),
            };
            if armed {
                st.cancel(ud(K_RECV, self.id));
            }
        }
        poll_fn(|cx| {
            let mut st = self.d.st.borrow_mut();
            match st.conns.get_mut(self.id) {
                Some(conn) if conn.rx_state == Rx::Cancelling || conn.rx_state == Rx::Armed => {
                    conn.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await;
        let mut st = self.d.st.borrow_mut();
        let st = &mut *st;
        let target = match st.conns.get(self.id) {
            Some(conn) => conn.target,
            None => return Err(errno(libc::EBADF)),
        };
        st.unregister_now(target)?;
        let mut conn = st.conns.remove(self.id);
        self.gone = true;
        let mut rest = Vec::new();
        for chunk in conn.rx.drain(..) {
            // SAFETY: user-owned chunk, copied out before it is recycled.
            rest.extend_from_slice(unsafe { st.bufs.slice(chunk.bid, chunk.off, chunk.len) });
            st.bufs.recycle(chunk.bid);
        }
        let fd = conn.fd.take().ok_or_else(|| errno(libc::EBADF))?;
        Ok((fd, rest))
    }
}

fn shutdown_fd(fd: RawFd, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown(2) on an fd this stream owns; no memory is passed.
    if unsafe { libc::shutdown(fd, how) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl AsRawFd for UringStream {
    fn as_raw_fd(&self) -> RawFd {
        self.raw
    }
}

impl AsFd for UringStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the driver keeps the stream's OwnedFd open for as long as the stream lives
        // (it closes it only after the stream is dropped, or hands it out by consuming the
        // stream in `into_owned_fd`), so the borrow cannot outlive the fd.
        unsafe { BorrowedFd::borrow_raw(self.raw) }
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        if !self.gone {
            if let Ok(mut st) = self.d.st.try_borrow_mut() {
                st.detach_conn(self.id);
            }
        }
    }
}

impl futures_lite::AsyncRead for UringStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_into(cx, buf)
    }
}

impl futures_lite::AsyncWrite for UringStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_queue(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_sent(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_sent(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(shutdown_fd(this.raw, Shutdown::Write)),
            other => other,
        }
    }
}

/// A received provided buffer on loan; it goes back to the kernel when dropped.
pub struct RecvBuf {
    d: Rc<Driver>,
    bid: u16,
    ptr: *const u8,
    len: usize,
}

impl fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl Deref for RecvBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is user-owned until this RecvBuf drops (it recycles it then), and
        // its memory lives as long as the driver, which `self.d` keeps alive.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        if let Ok(mut st) = self.d.st.try_borrow_mut() {
            st.recycle(self.bid);
        }
    }
}

/// A listening socket accepting through one multishot accept on the shard's ring.
pub struct UringListener {
    d: Rc<Driver>,
    id: usize,
    raw: RawFd,
}

impl fmt::Debug for UringListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UringListener")
            .field("fd", &self.raw)
            .finish()
    }
}

impl UringListener {
    /// The next accepted connection, as a stream on the same ring.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<UringStream>> {
        let mut st = self.d.st.borrow_mut();
        let Some(lst) = st.lsts.get_mut(self.id) else {
            return Poll::Ready(Err(errno(libc::EBADF)));
        };
        match lst.queue.pop_front() {
            Some(Ok(fd)) => {
                let raw = fd.as_raw_fd();
                let id = st.add_conn(fd);
                Poll::Ready(Ok(UringStream {
                    d: self.d.clone(),
                    id,
                    raw,
                    gone: false,
                }))
            }
            Some(Err(e)) => Poll::Ready(Err(errno(e))),
            None => {
                lst.waker = Some(cx.waker().clone());
                let armed = lst.armed;
                if !armed {
                    st.arm_accept(self.id);
                }
                Poll::Pending
            }
        }
    }

    /// Accepts the next connection.
    pub async fn accept(&mut self) -> io::Result<UringStream> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }
}

impl futures_lite::Stream for UringListener {
    type Item = io::Result<UringStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_accept(cx).map(Some)
    }
}

impl AsRawFd for UringListener {
    fn as_raw_fd(&self) -> RawFd {
        self.raw
    }
}

impl AsFd for UringListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the driver keeps the listener's OwnedFd open for as long as the listener
        // lives (it closes it only after the listener is dropped).
        unsafe { BorrowedFd::borrow_raw(self.raw) }
    }
}

impl Drop for UringListener {
    fn drop(&mut self) {
        if let Ok(mut st) = self.d.st.try_borrow_mut() {
            st.detach_listener(self.id);
        }
    }
}

/// Parks a reader until more arrives: keeps its waker and arms the recv if none is armed.
fn park_reader(st: &mut State, id: usize, cx: &Context<'_>) {
    let Some(conn) = st.conns.get_mut(id) else {
        return;
    };
    if !conn
        .read_waker
        .as_ref()
        .is_some_and(|w| w.will_wake(cx.waker()))
    {
        conn.read_waker = Some(cx.waker().clone());
    }
    // A starved recv is re-armed here too when buffers are back (not only by the next tick).
    let starved = conn.rx_state == Rx::Starved && st.bufs.kernel_owned() > 0;
    if conn.rx_state == Rx::Idle || starved {
        st.arm_recv(id);
    }
}
