//! The per-shard driver: the ring, the op table (connections and listeners keyed by user_data),
//! the send queue and the reactor task that submits, reaps and parks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};
use slab::Slab;

use super::bufs::{BufRing, BGID};
use super::probe::{build_ring, SetupMode};

pub(crate) use super::config::{UringConfig, UringStats};

const IORING_ENTER_GETEVENTS: u32 = 1;

pub(crate) const K_RECV: u64 = 1;
pub(crate) const K_SEND: u64 = 2;
pub(crate) const K_ACCEPT: u64 = 3;
pub(crate) const K_CANCEL: u64 = 4;
pub(crate) const K_CLOSE_SLOT: u64 = 5;

pub(crate) fn ud(kind: u64, id: usize) -> u64 {
    ((id as u64) << 8) | kind
}

/// How ops name a socket: a registered slot or (table full) the plain fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Fixed(u32),
    Fd(RawFd),
}

macro_rules! with_target {
    ($target:expr, |$t:ident| $body:expr) => {
        match $target {
            Target::Fixed(slot) => {
                let $t = types::Fixed(slot);
                $body
            }
            Target::Fd(fd) => {
                let $t = types::Fd(fd);
                $body
            }
        }
    };
}

// After the macro: the child modules use `with_target!` (textual macro scope).
mod completions;
mod park;
mod reactor;

/// State of a connection's multishot recv.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rx {
    /// No recv in flight.
    Idle,
    /// A multishot recv is in flight.
    Armed,
    /// Stopped for lack of buffers; the reactor re-arms it when buffers come back.
    Starved,
    /// A cancel was sent; waiting for the recv's last completion.
    Cancelling,
}

/// Bytes of one user-owned provided buffer not yet consumed.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) bid: u16,
    pub(crate) off: u32,
    pub(crate) len: u32,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) target: Target,
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) rx: VecDeque<Chunk>,
    pub(crate) rx_state: Rx,
    pub(crate) eof: bool,
    pub(crate) rx_err: Option<i32>,
    pub(crate) read_waker: Option<Waker>,
    /// The buffer the kernel is sending from (never touched while `tx_inflight`).
    pub(crate) tx_buf: Vec<u8>,
    pub(crate) tx_off: usize,
    pub(crate) tx_inflight: bool,
    /// Bytes queued behind the in-flight send, sent together at the next tick.
    pub(crate) tx_pending: Vec<u8>,
    pub(crate) tx_dirty: bool,
    pub(crate) tx_err: Option<i32>,
    pub(crate) write_waker: Option<Waker>,
    /// A `UringStream` still refers to this entry.
    pub(crate) attached: bool,
}

#[derive(Debug)]
pub(crate) struct Lst {
    pub(crate) target: Target,
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) queue: VecDeque<Result<OwnedFd, i32>>,
    pub(crate) armed: bool,
    pub(crate) waker: Option<Waker>,
    pub(crate) attached: bool,
}

/// Everything the driver owns, behind one `RefCell` (never borrowed across an await).
pub(crate) struct State {
    /// Dropped first (see `Drop`): the kernel must be done with the buffers before they go.
    ring: ManuallyDrop<IoUring>,
    pub(crate) bufs: ManuallyDrop<BufRing>,
    pub(crate) conns: Slab<Conn>,
    pub(crate) lsts: Slab<Lst>,
    free_slots: Vec<u32>,
    backlog: VecDeque<squeue::Entry>,
    dirty: Vec<usize>,
    starved: VecDeque<usize>,
    scratch: Vec<(u64, i32, u32)>,
    pub(crate) max_tx_queued: usize,
    max_rx_buffers: usize,
    reactor_waker: Option<Waker>,
    notified: bool,
    /// Enter with GETEVENTS on the next tick even if the TASKRUN flag is clear: the kernel runs
    /// at most a bounded batch of deferred completions per enter (20 on 6.x) and clears the
    /// flag even when it leaves some for later, without signalling the eventfd for them.
    force_enter: bool,
    /// Wakers of futures whose ops completed, woken after the borrow ends (a wake may drop a
    /// future that touches the driver).
    wake_list: Vec<Waker>,
    pub(crate) stats: UringStats,
    pub(crate) mode: SetupMode,
    /// How long the reactor spins before it parks (`UringConfig::spin`).
    pub(crate) spin: Option<Duration>,
}

/// One per shard; shared by `Rc` between the `Uring` handle, streams, listeners and buffers.
#[derive(Debug)]
pub(crate) struct Driver {
    pub(crate) st: RefCell<State>,
    /// Registered with the ring: the kernel signals it when completions wait for the shard.
    evfd: File,
}

fn nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid, exclusively borrowed `lim`.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc == 0 {
        lim.rlim_cur
    } else {
        1024
    }
}

impl Driver {
    /// Sets up the ring, the buffer ring, the file table and the eventfd, and spawns the reactor
    /// on the current glommio executor.
    pub(crate) fn start(cfg: &UringConfig) -> io::Result<Rc<Driver>> {
        let (ring, mode) = build_ring(
            cfg.sq_entries,
            cfg.sq_entries.saturating_mul(4),
            cfg.defer_taskrun,
        )?;
        let bufs = BufRing::register(&ring, cfg.buf_count, cfg.buf_size)?;
        let slots = u64::from(cfg.fixed_files).min(nofile_limit()) as u32;
        let free_slots = if slots > 0 && ring.submitter().register_files_sparse(slots).is_ok() {
            (0..slots).rev().collect()
        } else {
            Vec::new()
        };
        // SAFETY: plain syscall, result checked.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd we own.
        let evfd = unsafe { File::from_raw_fd(raw) };
        ring.submitter().register_eventfd(evfd.as_raw_fd())?;
        // glommio gets its own dup: its file type closes what it owns on drop.
        let glommio_fd = evfd.try_clone()?.into_raw_fd();
        // SAFETY: `glommio_fd` is a fresh dup owned by nobody else; BufferedFile takes it over.
        let waiter = Rc::new(unsafe { glommio::io::BufferedFile::from_raw_fd(glommio_fd) });
        let driver = Rc::new(Driver {
            st: RefCell::new(State {
                ring: ManuallyDrop::new(ring),
                bufs: ManuallyDrop::new(bufs),
                conns: Slab::new(),
                lsts: Slab::new(),
                free_slots,
                backlog: VecDeque::new(),
                dirty: Vec::new(),
                starved: VecDeque::new(),
                scratch: Vec::with_capacity(256),
                max_tx_queued: cfg.max_tx_queued.max(1),
                max_rx_buffers: cfg.max_rx_buffers.max(1),
                reactor_waker: None,
                notified: false,
                force_enter: false,
                wake_list: Vec::new(),
                stats: UringStats::default(),
                mode,
                spin: cfg.spin.filter(|d| !d.is_zero()),
            }),
            evfd,
        });
        glommio::spawn_local(park::reactor(Rc::downgrade(&driver), waiter)).detach();
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Wake the reactor if it is parked so it sees the driver is gone and ends.
        let _ = (&self.evfd).write_all(&1u64.to_ne_bytes());
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("mode", &self.mode)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl State {
    pub(crate) fn notify(&mut self) {
        if !self.notified {
            self.notified = true;
            if let Some(waker) = self.reactor_waker.take() {
                waker.wake();
            }
        }
    }

    /// Queues one SQE (submitted at the next tick, or now if the SQ is full).
    pub(crate) fn push(&mut self, entry: squeue::Entry) {
        if self.backlog.is_empty() {
            // SAFETY: every SQE built by this driver points only at memory the driver owns until
            // the op's last completion: provided buffers (BufRing), send buffers (Conn::tx_buf,
            // untouched while in flight, Conn freed only after), nothing else.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                self.notify();
                return;
            }
        }
        self.backlog.push_back(entry);
        self.notify();
    }

    fn drain_backlog(&mut self) {
        while let Some(entry) = self.backlog.front() {
            // SAFETY: as in `push`.
            if unsafe { self.ring.submission().push(entry) }.is_err() {
                // SQ full: submit what is there and try once more.
                if self.ring.submit().is_err() {
                    return;
                }
                // SAFETY: as in `push`.
                if unsafe { self.ring.submission().push(entry) }.is_err() {
                    return;
                }
            }
            self.backlog.pop_front();
        }
    }

    /// Installs `fd` in the registered file table if a slot is free.
    pub(crate) fn register_fd(&mut self, fd: RawFd) -> Target {
        if let Some(slot) = self.free_slots.pop() {
            if self
                .ring
                .submitter()
                .register_files_update(slot, &[fd])
                .is_ok()
            {
                self.stats.fixed_slots_used += 1;
                return Target::Fixed(slot);
            }
            self.free_slots.push(slot);
        }
        self.stats.unfixed_fds += 1;
        Target::Fd(fd)
    }

    /// Removes a slot from the table at once (for a handoff: the fd leaves this ring).
    pub(crate) fn unregister_now(&mut self, target: Target) -> io::Result<()> {
        if let Target::Fixed(slot) = target {
            self.ring.submitter().register_files_update(slot, &[-1])?;
            self.stats.fixed_slots_used -= 1;
            self.free_slots.push(slot);
        }
        Ok(())
    }

    /// Closes a slot asynchronously; the slot is reused only after the close completes.
    fn close_target(&mut self, target: Target) {
        if let Target::Fixed(slot) = target {
            let entry = opcode::Close::new(types::Fixed(slot))
                .build()
                .user_data(ud(K_CLOSE_SLOT, slot as usize));
            self.push(entry);
        }
    }

    /// Registers a connected socket and arms its multishot recv at once (bytes land in
    /// provided buffers before anyone reads).
    pub(crate) fn add_conn(&mut self, fd: OwnedFd) -> usize {
        let target = self.register_fd(fd.as_raw_fd());
        let id = self.conns.insert(Conn {
            target,
            fd: Some(fd),
            rx: VecDeque::new(),
            rx_state: Rx::Idle,
            eof: false,
            rx_err: None,
            read_waker: None,
            tx_buf: Vec::new(),
            tx_off: 0,
            tx_inflight: false,
            tx_pending: Vec::new(),
            tx_dirty: false,
            tx_err: None,
            write_waker: None,
            attached: true,
        });
        self.arm_recv(id);
        id
    }

    pub(crate) fn add_listener(&mut self, fd: OwnedFd) -> usize {
        let target = self.register_fd(fd.as_raw_fd());
        self.lsts.insert(Lst {
            target,
            fd: Some(fd),
            queue: VecDeque::new(),
            armed: false,
            waker: None,
            attached: true,
        })
    }

    pub(crate) fn arm_recv(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !matches!(conn.rx_state, Rx::Idle | Rx::Starved) || conn.eof || conn.rx_err.is_some() {
            return;
        }
        conn.rx_state = Rx::Armed;
        let entry = with_target!(conn.target, |t| opcode::RecvMulti::new(t, BGID).build())
            .user_data(ud(K_RECV, id));
        self.push(entry);
    }

    pub(crate) fn arm_accept(&mut self, id: usize) {
        let Some(lst) = self.lsts.get_mut(id) else {
            return;
        };
        if lst.armed {
            return;
        }
        lst.armed = true;
        let entry = with_target!(lst.target, |t| opcode::AcceptMulti::new(t)
            .flags(libc::SOCK_CLOEXEC)
            .build())
        .user_data(ud(K_ACCEPT, id));
        self.push(entry);
    }

    pub(crate) fn cancel(&mut self, user_data: u64) {
        let entry = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(ud(K_CANCEL, 0));
        self.push(entry);
    }

    /// Marks a connection as having bytes to send at the next tick.
    pub(crate) fn mark_dirty(&mut self, id: usize) {
        if let Some(conn) = self.conns.get_mut(id) {
            if !conn.tx_dirty {
                conn.tx_dirty = true;
                self.dirty.push(id);
                self.notify();
            }
        }
    }

    pub(crate) fn recycle(&mut self, bid: u16) {
        self.bufs.recycle(bid);
        self.buffers_returned();
    }

    /// Buffers went back to the kernel: a recv stopped for lack of them is re-armed by the next
    /// tick, so make sure one comes even when the reactor is parked.
    pub(crate) fn buffers_returned(&mut self) {
        if !self.starved.is_empty() {
            self.notify();
        }
    }

    /// The stream handle went away: stop receiving, flush what is queued, then close.
    pub(crate) fn detach_conn(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.attached = false;
        conn.read_waker = None;
        conn.write_waker = None;
        let chunks: Vec<u16> = conn.rx.drain(..).map(|c| c.bid).collect();
        let armed = conn.rx_state == Rx::Armed;
        if armed {
            conn.rx_state = Rx::Cancelling;
        }
        for bid in chunks {
            self.bufs.recycle(bid);
        }
        if armed {
            self.cancel(ud(K_RECV, id));
        }
        self.maybe_finish(id);
    }

    /// Frees a detached connection once no op refers to it any more.
    fn maybe_finish(&mut self, id: usize) {
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        let rx_quiet = matches!(conn.rx_state, Rx::Idle | Rx::Starved);
        let tx_quiet = !conn.tx_inflight && (conn.tx_pending.is_empty() || conn.tx_err.is_some());
        if conn.attached || !rx_quiet || !tx_quiet {
            return;
        }
        let conn = self.conns.remove(id);
        for chunk in conn.rx {
            self.bufs.recycle(chunk.bid);
        }
        self.close_target(conn.target);
        // The plain fd closes here; the slot (if any) keeps the socket until its close runs.
        drop(conn.fd);
    }

    pub(crate) fn detach_listener(&mut self, id: usize) {
        let Some(lst) = self.lsts.get_mut(id) else {
            return;
        };
        lst.attached = false;
        lst.waker = None;
        lst.queue.clear();
        if lst.armed {
            self.cancel(ud(K_ACCEPT, id));
        } else {
            self.finish_listener(id);
        }
    }

    fn finish_listener(&mut self, id: usize) {
        if self.lsts.get(id).is_some_and(|l| !l.attached && !l.armed) {
            let lst = self.lsts.remove(id);
            self.close_target(lst.target);
            drop(lst.fd);
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        let quiet = self.quiesce();
        // SAFETY: `ring` is dropped exactly once, here, before the buffers it may write to.
        unsafe { ManuallyDrop::drop(&mut self.ring) };
        if quiet {
            // SAFETY: dropped exactly once; the ring is gone and no op was in flight.
            unsafe { ManuallyDrop::drop(&mut self.bufs) };
        } else {
            // Could not prove the kernel is done with driver memory: leak it instead.
            let conns = std::mem::take(&mut self.conns);
            std::mem::forget(conns);
        }
    }
}
