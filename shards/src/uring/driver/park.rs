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
//! Not here: the pass itself (reactor.rs), the completion handlers (completions.rs).

use super::*;

/// Longest a parked reactor sleeps without looking at its completion queue (the bound on a
/// lost eventfd wakeup; an idle shard wakes this often, a few microseconds each).
const RESCUE_AFTER: Duration = Duration::from_millis(5);

type EvWait = Pin<Box<dyn Future<Output = ()>>>;

pub(super) async fn reactor(driver: Weak<Driver>, waiter: Rc<glommio::io::BufferedFile>) {
    let mut wait: Option<EvWait> = None;
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
            waiter: &waiter,
            rescue: None,
            busy,
            polled: false,
        };
        if !park.await {
            return;
        }
    }
}

struct Park<'a> {
    driver: &'a Weak<Driver>,
    wait: &'a mut Option<EvWait>,
    waiter: &'a Rc<glommio::io::BufferedFile>,
    rescue: Option<glommio::timer::Timer>,
    busy: bool,
    polled: bool,
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
        }
        let waiter = this.waiter.clone();
        let wait = this.wait.get_or_insert_with(|| {
            Box::pin(async move {
                let _ = waiter.read_at(0, 8).await;
            })
        });
        if wait.as_mut().poll(cx).is_ready() {
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
