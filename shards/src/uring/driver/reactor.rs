//! The reactor pass: submit what this tick queued with one `io_uring_enter`, reap and route
//! completions, and quiesce the ring on drop (cancel, then run task work until every op the
//! kernel holds has completed, so no buffer is freed under it).
//!
//! Not here: the completion handlers (completions.rs), the op table (driver.rs).

use super::*;

impl State {
    /// One reactor pass: build the sends queued this tick, re-arm starved recvs, submit
    /// everything with one `io_uring_enter` (which also runs deferred task work), reap and
    /// route every completion. Returns the number of completions reaped.
    pub(crate) fn tick(&mut self) -> usize {
        self.stats.ticks += 1;
        self.notified = false;
        for id in std::mem::take(&mut self.dirty) {
            self.start_send(id);
        }
        while self.bufs.kernel_owned() > 0 {
            let Some(id) = self.starved.pop_front() else {
                break;
            };
            if self
                .conns
                .get(id)
                .is_some_and(|c| c.rx_state == Rx::Starved && c.attached)
            {
                self.arm_recv(id);
            }
        }
        self.drain_backlog();
        self.enter(false);
        // Sends and re-arms pushed while routing completions ride on the next tick.
        let reaped = self.reap();
        self.force_enter = reaped > 0 && self.mode == SetupMode::DeferTaskrun;
        reaped
    }

    pub(super) fn enter(&mut self, wait: bool) {
        let mut sq = self.ring.submission();
        sq.sync();
        let pending = sq.len() as u32;
        // TASKRUN_FLAG: the kernel has completions waiting for us to enter (deferred task work).
        let taskrun = sq.taskrun() || sq.cq_overflow();
        drop(sq);
        if pending == 0 && !wait && !taskrun && !self.force_enter {
            return;
        }
        self.stats.enters += 1;
        // SAFETY: plain io_uring_enter on our own ring with no extra argument; the SQEs it
        // submits were validated by `push`.
        let res = unsafe {
            self.ring.submitter().enter::<libc::sigset_t>(
                pending,
                u32::from(wait),
                IORING_ENTER_GETEVENTS,
                None,
            )
        };
        if res.is_err() {
            // EINTR / EBUSY / EAGAIN: nothing lost, the SQEs stay queued; go around again.
            self.notified = true;
        }
    }

    pub(super) fn reap(&mut self) -> usize {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let n = scratch.len();
        self.stats.cqes += n as u64;
        for &(user_data, res, flags) in &scratch {
            self.dispatch(user_data, res, flags);
        }
        self.scratch = scratch;
        n
    }

    /// Completions posted and not reaped, and whether the kernel flagged task work that needs
    /// an `io_uring_enter`.
    fn waiting(&self) -> (usize, bool) {
        // SAFETY: read-only looks at the queue heads and flags from this (the only) thread
        // touching the ring; the queues are not reaped or pushed through these handles.
        unsafe {
            (
                self.ring.completion_shared().len(),
                self.ring.submission_shared().taskrun(),
            )
        }
    }

    /// Whether a pass would find work the kernel already finished (so the reactor must not
    /// park).
    pub(super) fn completions_waiting(&self) -> bool {
        let (ready, taskrun) = self.waiting();
        ready > 0 || taskrun
    }

    /// Whether everything the kernel finished for this ring has been reaped, as far as this
    /// thread can see without entering: no completion posted, no task work flagged, no
    /// deferred batch cut short. `false` on a ring without `TASKRUN_FLAG` (pending task work
    /// is invisible there).
    pub(crate) fn all_reaped(&self) -> bool {
        self.mode != SetupMode::Plain && !self.force_enter && !self.completions_waiting()
    }

    pub(crate) fn snapshot(&self) -> UringStats {
        let (cq_ready, taskrun_pending) = self.waiting();
        UringStats {
            buffers_in_kernel: self.bufs.kernel_owned(),
            buffer_violations: self.bufs.violations(),
            conns: self.conns.len(),
            cq_ready,
            taskrun_pending,
            reactor_parked: self.reactor_waker.is_some(),
            starved: self.starved.len(),
            ..self.stats
        }
    }

    /// Cancels everything in flight and reaps until no op refers to driver memory. `false` if
    /// that could not be shown (then the memory is leaked rather than freed under the kernel).
    pub(super) fn quiesce(&mut self) -> bool {
        for (_, conn) in self.conns.iter_mut() {
            conn.attached = false;
        }
        for (_, lst) in self.lsts.iter_mut() {
            lst.attached = false;
        }
        self.drain_backlog();
        let _ = self.ring.submit();
        for _ in 0..100 {
            let busy =
                self.conns.iter().any(|(_, c)| {
                    c.tx_inflight || matches!(c.rx_state, Rx::Armed | Rx::Cancelling)
                }) || self.lsts.iter().any(|(_, l)| l.armed);
            if !busy {
                return true;
            }
            let cancel = types::CancelBuilder::any();
            let timeout = types::Timespec::from(Duration::from_millis(100));
            match self
                .ring
                .submitter()
                .register_sync_cancel(Some(timeout), cancel)
            {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(_) => return false,
            }
            // Run deferred task work so the cancelled ops post their last completions.
            // SAFETY: as in `enter`.
            let _ = unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(0, 0, IORING_ENTER_GETEVENTS, None)
            };
            self.reap();
        }
        false
    }
}
