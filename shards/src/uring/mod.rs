//! Per-shard io_uring socket I/O: the hot path under the proxy's connections (issue 13).
//!
//! One [`Uring`] per shard owns one io_uring, set up with the best flags the kernel accepts
//! ([`SetupMode`]: `SINGLE_ISSUER | COOP_TASKRUN | TASKRUN_FLAG`, else `COOP_TASKRUN`, else plain;
//! `SINGLE_ISSUER | DEFER_TASKRUN` first when [`UringConfig::defer_taskrun`] asks for it, see
//! below), a registered (fixed) file table, and one provided-buffer ring. On it:
//!
//! - [`UringListener`]: one multishot accept per listening socket (the caller binds it, e.g.
//!   with `SO_REUSEPORT`); every accepted socket goes into the fixed file table.
//! - [`UringStream`]: one multishot recv per connection into the provided-buffer ring (no
//!   `EAGAIN` probes, no per-read SQE); [`UringStream::read`] copies out,
//!   [`UringStream::recv`] lends the buffer itself ([`RecvBuf`]). Writes are queued and become
//!   one send per connection per reactor tick (at most one in flight per socket, so order
//!   holds; later writes are coalesced behind it). Ops name the socket by its fixed slot (no
//!   `fdget`/`fput`); a socket that finds the table full uses its plain fd.
//! - Buffers belong to the driver. A buffer is the kernel's from the moment it is published
//!   in the ring until its id comes back in a completion, then the user's until it is read out
//!   (or the [`RecvBuf`] drops) and republished; each transition is checked and counted
//!   ([`UringStats::buffer_violations`]).
//! - Handoff: [`UringStream::into_owned_fd`] cancels the recv, waits for its last completion,
//!   removes the fd from this ring's table and returns it with the bytes already received;
//!   the owner shard gives it to its own [`Uring::stream`].
//! - [`probe`] / [`select_backend`]: whether this kernel has what the path needs, so the proxy
//!   can run `--io uring|glommio` (uring by default; it falls back to glommio with a log line
//!   where the kernel lacks support).
//!
//! # How it lives inside glommio (the choice and why)
//!
//! glommio 0.9 keeps its rings private and offers no hook into its poll loop, so this module
//! runs its own ring next to glommio's and drives it from one **reactor task** per shard:
//!
//! - Each pass (`tick`) builds the sends queued since the last pass, re-arms recvs that ran out
//!   of buffers, and makes **one** `io_uring_enter(GETEVENTS)` that submits everything and runs
//!   the deferred completions; it then routes each completion by `user_data` (kind + connection
//!   id) to the connection's state and wakes the futures waiting on it.
//! - When a future queues work (a write, a re-arm) it wakes the reactor; the wake puts it at
//!   the back of glommio's run queue, so everything the woken tasks queue in the same executor
//!   pass goes out in the same submit. After a pass that reaped completions the reactor yields
//!   once (the tasks it woke usually answer at once) instead of parking.
//! - When a pass found nothing, the reactor **parks on the ring's eventfd**
//!   (`IORING_REGISTER_EVENTFD`: the kernel signals it when completions are posted or, with
//!   `DEFER_TASKRUN`, queued for us). The wait is glommio's own: the eventfd (a dup) wrapped as a glommio
//!   `BufferedFile`, whose `read_at` is an io_uring read on glommio's ring, so glommio sleeps in
//!   its usual `io_uring_enter` and wakes the reactor when our ring has work. Among the ways to
//!   wait on an fd with glommio's public API this is the one that works on an eventfd
//!   (`TcpStream`/`UnixStream` wrappers first try `recv(2)`, which fails on a non-socket) and
//!   costs nothing while the shard is busy: the read is armed only when the reactor parks.
//!   That wake can be lost (soak runs caught the reactor parked with completions queued and the
//!   eventfd signalled but no read of it in flight in glommio), so the reactor never parks with
//!   completions waiting and parks for at most a few milliseconds (driver/park.rs;
//!   `UringStats::lost_wakes` counts the rescues that found work).
//!
//! Why not `DEFER_TASKRUN` by default: the kernel (6.18 here) signals the eventfd for deferred
//! work late (a standalone loop saw p50 8 ms from data arrival to eventfd readiness, against
//! 0.3 ms with `COOP_TASKRUN`), and the ring fd does not poll readable for it at all; deferred
//! work only runs promptly when the ring's own submitter task blocks in `io_uring_enter` on
//! this ring, which glommio's sleep does not. Tried and dropped: polling a dup of the ring fd
//! through glommio (prompt with `COOP_TASKRUN` but no faster than the eventfd under glommio,
//! and two more syscalls per park).
//!
//! Replacing glommio's network path entirely (one ring for timers, files and sockets, the shard
//! blocking in it) would save the eventfd hop and glommio's costly sleep on an idle→busy
//! transition and make `DEFER_TASKRUN` usable, but means forking glommio's reactor; see the
//! numbers of `examples/bench_uring.rs` in `docs/architecture.md`.
//!
//! All `unsafe` of the io_uring path lives in this module; each block says why it holds.

mod bufs;
mod config;
mod driver;
pub(crate) mod fds;
mod probe;
mod stream;
#[cfg(test)]
mod tests;

pub use config::{UringConfig, UringStats};
pub use probe::{probe, select_backend, IoBackend, SetupMode, UringSupport};
pub use stream::{RecvBuf, Uring, UringListener, UringStream};
