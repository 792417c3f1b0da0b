//! A future run with a scope entered around each of its polls (as `tracing`'s `Instrument`
//! does with spans): the caller's [`Scope`] says what entering means, e.g. making a
//! per-connection record current in a thread-local, undone when the guard drops.
//!
//! Not here: any particular scope. A struct, not an `async fn`: an `async fn` taking the future
//! by value holds it twice (the argument and the pinned local; rust-lang/rust#62958).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What is entered around each poll of a [`Scoped`] future.
pub trait Scope {
    /// The guard that leaves the scope when dropped.
    type Entered;

    /// Enters the scope until the returned guard drops.
    fn enter(&self) -> Self::Entered;
}

/// Runs `future` with `scope` entered during each of its polls.
pub fn scoped<S: Scope, F: Future>(scope: S, future: F) -> Scoped<S, F> {
    Scoped { scope, future }
}

pin_project_lite::pin_project! {
    /// The future [`scoped`] returns.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<S, F> {
        scope: S,
        #[pin]
        future: F,
    }
}

impl<S: Scope, F: Future> Future for Scoped<S, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.scope.enter();
        this.future.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    thread_local! {
        static INSIDE: Cell<bool> = const { Cell::new(false) };
    }

    struct Flag(Rc<Cell<u32>>);

    struct Leave;

    impl Drop for Leave {
        fn drop(&mut self) {
            INSIDE.set(false);
        }
    }

    impl Scope for Flag {
        type Entered = Leave;

        fn enter(&self) -> Leave {
            self.0.set(self.0.get() + 1);
            INSIDE.set(true);
            Leave
        }
    }

    #[test]
    fn the_scope_is_entered_around_every_poll_only() {
        let enters = Rc::new(Cell::new(0));
        let mut polls = 0;
        let future = std::future::poll_fn(|cx| {
            assert!(INSIDE.get());
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(7)
            }
        });
        let out = futures_lite::future::block_on(scoped(Flag(enters.clone()), future));
        assert_eq!(out, 7);
        assert_eq!(enters.get(), 3);
        assert!(!INSIDE.get());
    }
}
