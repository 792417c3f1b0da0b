//! Relaying bytes both ways between two streams of one shard ([`relay`]) and the local socket
//! pair a relay feeds ([`ShardIo::pair`]): how a connection whose bytes cannot move to
//! another shard (a TLS session) still reaches a connection served there.
//!
//! One future drives both directions, each through one bounded buffer: it reads from a stream
//! only when what it read before has been written to the other (backpressure: a slow reader
//! slows its writer's source, memory does not grow), and flushes whenever nothing more is there
//! to read, so a stream of small events passes one by one as it comes while a long answer
//! does not wait for a flush per buffer.
//!
//! Not here: what runs over the streams, who holds the pair's other end (the application).

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::timer::Timer;

use super::{NetStream, ShardIo};

impl ShardIo {
    /// A connected pair of local stream sockets (`AF_UNIX`, close-on-exec; blocking like an
    /// accepted socket: both paths read and write without waiting): one end on this shard's I/O
    /// path, the other as a descriptor for whoever serves it (another shard takes it over with
    /// [`ShardIo::stream`]).
    ///
    /// # Errors
    /// socketpair(2) failed (out of descriptors).
    pub fn pair(&self) -> io::Result<(NetStream, OwnedFd)> {
        let (here, there) = std::os::unix::net::UnixStream::pair()?;
        Ok((self.stream(here.into()), there.into()))
    }
}

/// Copies bytes from `a` (the client's side) to `b` and from `b` to `a` until `b` ends (EOF;
/// what it sent before is written to `a` first), either side errs, or a write makes no
/// progress for `stall` (a peer that stopped reading). When `a` ends first, what it sent is
/// written to `b` and `b`'s write side is shut down (a client that half-closes after its
/// request still gets the answer); the relay then goes on until `b` ends. `bufs`: one buffer
/// per direction (`a` to `b`, then `b` to `a`), their capacity the most each direction holds
/// (at least one byte); given back with the outcome.
pub async fn relay(
    a: &mut NetStream,
    b: &mut NetStream,
    bufs: (Vec<u8>, Vec<u8>),
    stall: Duration,
) -> (io::Result<()>, (Vec<u8>, Vec<u8>)) {
    let mut both = Relay {
        a,
        b,
        ab: Direction::new(bufs.0),
        ba: Direction::new(bufs.1),
        stall,
        timer: None,
        a_ended: false,
        b_shut: false,
    };
    let outcome = (&mut both).await;
    (outcome, (both.ab.buf, both.ba.buf))
}

/// One direction's buffer: bytes `start..end` read and not yet written.
struct Direction {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes were written since the writer's last flush.
    unflushed: bool,
    /// When its writer last took bytes, or bytes to write were last read.
    progress: Instant,
}

impl Direction {
    fn new(mut buf: Vec<u8>) -> Direction {
        let size = buf.capacity().max(1);
        buf.clear();
        buf.resize(size, 0);
        Direction {
            buf,
            start: 0,
            end: 0,
            unflushed: false,
            progress: Instant::now(),
        }
    }

    /// Since when its writer has been holding it up (bytes to write or a flush pending).
    fn stalled_since(&self) -> Option<Instant> {
        (self.start < self.end || self.unflushed).then_some(self.progress)
    }

    /// Moves bytes from `from` to `to` until one of them is not ready: `Ready(Ok)` at `from`'s
    /// EOF once all is written, `Ready(Err)` on an error.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        from: &mut NetStream,
        to: &mut NetStream,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.start < self.end {
                let n = ready!(Pin::new(&mut *to).poll_write(cx, &self.buf[self.start..self.end]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.start += n;
                self.unflushed = true;
                self.progress = Instant::now();
                continue;
            }
            let n = match Pin::new(&mut *from).poll_read(cx, &mut self.buf) {
                Poll::Ready(read) => read?,
                // Nothing more to pass on now: what was written goes out (a TLS stream's last
                // record, the queued sends of the ring) before waiting.
                Poll::Pending if self.unflushed => {
                    ready!(Pin::new(&mut *to).poll_flush(cx))?;
                    self.unflushed = false;
                    continue;
                }
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                if self.unflushed {
                    ready!(Pin::new(&mut *to).poll_flush(cx))?;
                    self.unflushed = false;
                }
                return Poll::Ready(Ok(()));
            }
            // The writer is judged from now on: not by how long the reader was idle.
            self.progress = Instant::now();
            self.start = 0;
            self.end = n;
        }
    }
}

/// The future of [`relay`].
struct Relay<'s> {
    a: &'s mut NetStream,
    b: &'s mut NetStream,
    ab: Direction,
    ba: Direction,
    stall: Duration,
    /// Armed while a direction waits on its writer.
    timer: Option<Timer>,
    /// `a` ended (EOF) and all it sent went to `b`.
    a_ended: bool,
    /// `b`'s write side is shut down (after `a` ended).
    b_shut: bool,
}

impl Future for Relay<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if !me.a_ended {
            match me.ab.poll(cx, me.a, me.b) {
                Poll::Ready(Ok(())) => me.a_ended = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if me.a_ended && !me.b_shut {
            match Pin::new(&mut *me.b).poll_close(cx) {
                Poll::Ready(Ok(())) => me.b_shut = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        if let Poll::Ready(done) = me.ba.poll(cx, me.b, me.a) {
            return Poll::Ready(done);
        }
        // Shutting `b`'s write side down waits for its queued sends: its writer again.
        let closing = (me.a_ended && !me.b_shut).then_some(me.ab.progress);
        let stalled = match (me.ab.stalled_since().or(closing), me.ba.stalled_since()) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => {
                me.timer = None;
                return Poll::Pending;
            }
        };
        // A writer is not taking bytes: give up once it made no progress for `stall`.
        loop {
            let left = me.stall.saturating_sub(stalled.elapsed());
            if left.is_zero() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the relay's peer stopped reading",
                )));
            }
            let timer = match &mut me.timer {
                Some(timer) => {
                    timer.reset(left);
                    timer
                }
                None => me.timer.insert(Timer::new(left)),
            };
            if Pin::new(timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
