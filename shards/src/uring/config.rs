//! The driver's sizes (`UringConfig`) and counters (`UringStats`): plain data, no I/O.
//!
//! Not here: the ring and its ops (driver.rs).

/// Sizes of one driver.
#[derive(Clone, Debug)]
pub struct UringConfig {
    /// Submission queue entries (the completion queue gets 4×).
    pub sq_entries: u32,
    /// Provided buffers (power of two, ≤ 32768).
    pub buf_count: u16,
    /// Bytes per provided buffer.
    pub buf_size: u32,
    /// Slots of the registered file table (clamped to `RLIMIT_NOFILE`); connections past it
    /// use plain fds.
    pub fixed_files: u32,
    /// Bytes a stream may have queued for sending before `write` waits.
    pub max_tx_queued: usize,
    /// Received buffers one connection may hold unread before its recv is paused (cancelled,
    /// re-armed when the reader drains them), so a slow reader cannot take the whole pool.
    pub max_rx_buffers: usize,
    /// Try `SINGLE_ISSUER | DEFER_TASKRUN` first. Off by default: with the reactor parked on
    /// the ring's eventfd inside glommio, the kernel (6.18 here) delivers the eventfd wake for
    /// deferred task work late (milliseconds: the shard idles while requests wait), so the
    /// loopback benchmark ran at a quarter of the throughput; `COOP_TASKRUN` has no such gap.
    pub defer_taskrun: bool,
    /// How long the reactor, out of work, keeps looking at the ring's flags (no syscall, the
    /// shard's other tasks running in between) before it parks on the eventfd. glommio's own
    /// `spin_before_park` cannot stand in for it: its spin makes no syscall, so this ring's
    /// completions (task work the kernel leaves for the shard's next kernel entry) are not
    /// posted while it spins. `None`: park at once.
    pub spin: Option<std::time::Duration>,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            sq_entries: 256,
            buf_count: 1024,
            buf_size: 4096,
            fixed_files: 4096,
            max_tx_queued: 256 * 1024,
            max_rx_buffers: 32,
            defer_taskrun: false,
            spin: None,
        }
    }
}

/// Counters of one driver (a snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringStats {
    /// Reactor passes.
    pub ticks: u64,
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Completions reaped.
    pub cqes: u64,
    /// Connections accepted.
    pub accepts: u64,
    /// Recv completions carrying data.
    pub recvs: u64,
    /// Recvs paused because their reader held `max_rx_buffers` unread buffers.
    pub rx_pauses: u64,
    /// Bytes received.
    pub recv_bytes: u64,
    /// Send ops submitted.
    pub sends: u64,
    /// Bytes sent.
    pub send_bytes: u64,
    /// Times a multishot recv stopped for lack of provided buffers.
    pub enobufs: u64,
    /// Provided buffers the kernel owns now.
    pub buffers_in_kernel: usize,
    /// Buffer ownership violations (must stay 0).
    pub buffer_violations: u64,
    /// Registered file slots in use.
    pub fixed_slots_used: u32,
    /// Sockets that did not get a registered slot (table full) and use their plain fd.
    pub unfixed_fds: u64,
    /// Times the reactor was woken by the ring's eventfd.
    pub eventfd_wakes: u64,
    /// Times the parked reactor's rescue timer found completions the eventfd did not wake it
    /// for (a lost wakeup, bounded by the timer).
    pub lost_wakes: u64,
    /// Live connection entries (including closing ones).
    pub conns: usize,
    /// Completions the kernel posted that the reactor has not reaped yet.
    pub cq_ready: usize,
    /// The kernel flagged task work that needs an `io_uring_enter` to run (`IORING_SQ_TASKRUN`).
    pub taskrun_pending: bool,
    /// The reactor is parked, waiting for the eventfd or a task's request. Parked with
    /// `cq_ready > 0` or `taskrun_pending` for long is a lost wakeup.
    pub reactor_parked: bool,
    /// Connections whose recv stopped for lack of provided buffers, waiting for some to return.
    pub starved: usize,
}
