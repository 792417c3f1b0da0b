//! The reactor task and how it parks: tick, then either yield once (work was done) or sleep
//! until a task asks for a pass (`State::notify`) or the ring's eventfd fires (read through
//! glommio, so glommio's sleep wakes for it).
//!
//! Two guards against a lost wakeup, which soak runs showed (bench/soak.sh: the reactor parked
//! with completions in its queue and the eventfd signalled, but no read of the eventfd in flight
//! in glommio, for a second or more, until unrelated traffic woke the shard): it never parks with
//! completions or task work already waiting, and it parks for at most `RESCUE_AFTER`; a rescue
//! that finds completions waiting counts in `UringStats::lost_wakes` and re-arms the eventfd read.
//!
//! The eventfd read is polled only when it is new or its own waker fired ([`EvWait`]): glommio
//! keeps one waker clone per poll of a pending read (`Source::collect_rw`), and the task's
//! reference count is an `i16`, so polling it on every park (each rescue, each notify) panicked
//! the shard after 32 767 parks without an eventfd wake — about 164 s of an idle shard.
//!
//! Not here: the pass itself (reactor.rs), the completion handlers (completions.rs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Wake;

use super::*;

/// Longest a parked reactor sleeps without looking at its completion queue (the bound on a
/// lost eventfd wakeup; an idle shard wakes this often, a few microseconds each).
const RESCUE_AFTER: Duration = Duration::from_millis(5);

/// The parked reactor's eventfd read (a glommio read, armed on glommio's ring) and the waker it
/// was polled with.
struct EvWait {
    read: Pin<Box<dyn Future<Output = ()>>>,
    /// Whether the read has been polled once (it then holds a waker until it completes).
    armed: bool,
}

/// The waker the eventfd read holds: notes that the read woke (so the next park polls it
/// again) and wakes the reactor task. One per reactor, made on its first park; the `Arc` is what
/// `Waker::from` takes, never shared state (the flag is only touched on this shard's thread).
struct EvWaker {
    fired: AtomicBool,
    reactor: Waker,
}

impl Wake for EvWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Relaxed);
        self.reactor.wake_by_ref();
    }
}

pub(super) async fn reactor(driver: Weak<Driver>, waiter: Rc<glommio::io::BufferedFile>) {
    let mut wait: Option<EvWait> = None;
    let mut ev_waker: Option<(Arc<EvWaker>, Waker)> = None;
    loop {
        let busy = {
            let Some(d) = driver.upgrade() else {
                return;
            };
            let (busy, mut wakers) = {
                let mut st = d.st.borrow_mut();
                let reaped = st.tick();
                (reaped > 0 || st.notified, std::mem::take(&mut st.wake_list))
            };
            for waker in wakers.drain(..) {
                waker.wake();
            }
            // Hand the (now empty) vector back to keep its capacity.
            d.st.borrow_mut().wake_list = wakers;
            busy
        };
        let park = Park {
            driver: &driver,
            wait: &mut wait,
            ev_waker: &mut ev_waker,
            waiter: &waiter,
            rescue: None,
            busy,
            polled: false,
            spin_until: None,
        };
        if !park.await {
            return;
        }
    }
}

struct Park<'a> {
    driver: &'a Weak<Driver>,
    wait: &'a mut Option<EvWait>,
    ev_waker: &'a mut Option<(Arc<EvWaker>, Waker)>,
    waiter: &'a Rc<glommio::io::BufferedFile>,
    rescue: Option<glommio::timer::Timer>,
    busy: bool,
    polled: bool,
    /// End of the spin before parking, set on its first poll (with `UringConfig::spin`).
    spin_until: Option<Instant>,
}

impl Future for Park<'_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        let Some(d) = this.driver.upgrade() else {
            return Poll::Ready(false);
        };
        let first = !this.polled;
        this.polled = true;
        if first && this.busy {
            // Yield once so the tasks just woken run and queue their sends first.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if !first && this.busy {
            return Poll::Ready(true);
        }
        {
            let mut st = d.st.borrow_mut();
            if st.notified || st.completions_waiting() {
                st.reactor_waker = None;
                return Poll::Ready(true);
            }
            if let Some(spin) = st.spin {
                // Spin: stay runnable (the shard's other tasks run between two looks) and
                // look at the queue and the TASKRUN flag again, with no syscall, until the
                // spin is over; a completion is then reaped without the eventfd round trip
                // through glommio's sleep.
                let until = *this.spin_until.get_or_insert_with(|| Instant::now() + spin);
                if Instant::now() < until {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
        let waiter = this.waiter.clone();
        let wait = this.wait.get_or_insert_with(|| EvWait {
            read: Box::pin(async move {
                let _ = waiter.read_at(0, 8).await;
            }),
            armed: false,
        });
        let (ev, ev_waker) = this.ev_waker.get_or_insert_with(|| {
            let ev = Arc::new(EvWaker {
                fired: AtomicBool::new(false),
                reactor: cx.waker().clone(),
            });
            (ev.clone(), Waker::from(ev))
        });
        // Poll the read only when new or woken by it: each poll of a pending read leaves a
        // waker clone in glommio (see the module docs).
        let fired = ev.fired.swap(false, Ordering::Relaxed);
        let poll_read = !wait.armed || fired;
        wait.armed = true;
        if poll_read
            && wait
                .read
                .as_mut()
                .poll(&mut Context::from_waker(ev_waker))
                .is_ready()
        {
            *this.wait = None;
            let mut st = d.st.borrow_mut();
            st.stats.eventfd_wakes += 1;
            st.reactor_waker = None;
            return Poll::Ready(true);
        }
        let rescue = this
            .rescue
            .get_or_insert_with(|| glommio::timer::Timer::new(RESCUE_AFTER));
        if Pin::new(rescue).poll(cx).is_ready() {
            let mut st = d.st.borrow_mut();
            st.reactor_waker = None;
            if st.completions_waiting() {
                // The eventfd fired (or should have) and its read did not wake us: start a
                // fresh read rather than trust the one in flight.
                st.stats.lost_wakes += 1;
                *this.wait = None;
            }
            return Poll::Ready(true);
        }
        d.st.borrow_mut().reactor_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
