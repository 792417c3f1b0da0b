//! A one-shot broadcast latch for one executor: fired once, wakes every task waiting on it
//! (shutdown of a shard, closing a child process, ending a stream).
//!
//! Not here: what firing means (the owner decides: shard shutdown, child close, ...).
//! Lives on one shard (Rc + Cell), never crosses threads; a waiter deregisters on drop so
//! connection churn does not grow the waiter list.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A one-shot broadcast: `fire` once, every `wait` resolves.
#[derive(Debug, Default)]
pub struct Latch {
    fired: Cell<bool>,
    waiters: RefCell<slab::Slab<Waker>>,
}

impl Latch {
    /// Marks the latch fired and wakes all waiters.
    pub fn fire(&self) {
        self.fired.set(true);
        for waker in self.waiters.borrow_mut().drain() {
            waker.wake();
        }
    }

    /// Whether `fire` has been called.
    pub fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// Resolves once the latch has fired.
    pub fn wait(&self) -> LatchWait<'_> {
        LatchWait {
            latch: self,
            slot: None,
        }
    }
}

/// Future returned by [`Latch::wait`].
#[derive(Debug)]
pub struct LatchWait<'a> {
    latch: &'a Latch,
    slot: Option<usize>,
}

impl Future for LatchWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.latch.fired.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.latch.waiters.borrow_mut();
        match self.slot.and_then(|s| waiters.get_mut(s)) {
            Some(w) => w.clone_from(cx.waker()),
            None => {
                let slot = waiters.insert(cx.waker().clone());
                drop(waiters);
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for LatchWait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut waiters = self.latch.waiters.borrow_mut();
            if waiters.contains(slot) {
                waiters.remove(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fired_latch_releases_waiters_and_dropped_waiters_deregister() {
        glommio::LocalExecutor::default().run(async {
            let latch = std::rc::Rc::new(Latch::default());
            let l2 = latch.clone();
            let task = glommio::spawn_local(async move {
                l2.wait().await;
                true
            });
            glommio::yield_if_needed().await;
            {
                let dropped = latch.wait();
                let _ = futures_lite::future::poll_once(dropped).await;
            }
            glommio::executor().yield_now().await;
            assert_eq!(latch.waiters.borrow().len(), 1, "only the live task waits");
            assert!(!latch.is_fired());
            latch.fire();
            assert!(task.await);
            latch.wait().await;
        });
    }
}
