//! The record of the request being polled on this thread: [`within`] runs a request's future
//! with its record current during each poll (as `tracing`'s `Instrument` does with spans), and
//! [`note`] lets code deep in the request (the policy stage, the status counter) add a fact
//! without every signature carrying the record. Futures spawned by the request are not inside
//! it: what they write is not this request's answer.
//!
//! Not here: what is noted (record.rs). Cost: without an audit log the caller awaits its
//! future bare, and [`note`] is one thread-local read.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use super::Record;

/// A request's record, shared by its connection loop and its polls.
pub type Shared = Rc<RefCell<Record>>;

thread_local! {
    static CURRENT: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

/// Runs `future` with `record` current during each of its polls. The future comes boxed:
/// only requests with a record pay for it, and the caller's own future stays small.
pub async fn within<F: Future>(record: &Shared, mut future: Pin<Box<F>>) -> F::Output {
    futures_lite::future::poll_fn(|cx| {
        let _current = Enter::new(record.clone());
        future.as_mut().poll(cx)
    })
    .await
}

/// Adds to the current request's record, if there is one.
pub fn note(add: impl FnOnce(&mut Record)) {
    CURRENT.with_borrow(|current| {
        if let Some(record) = current {
            add(&mut record.borrow_mut());
        }
    });
}

/// Whether a request's record is current (lets callers skip work only the audit needs).
pub fn active() -> bool {
    CURRENT.with_borrow(Option::is_some)
}

/// Makes a record current until dropped, then restores the one before.
struct Enter {
    before: Option<Shared>,
}

impl Enter {
    fn new(record: Shared) -> Enter {
        Enter {
            before: CURRENT.replace(Some(record)),
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.set(self.before.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_reach_the_polled_request_only() {
        let record: Shared = Rc::new(RefCell::new(Record::new("POST")));
        note(|r| r.set_status(500)); // no request current: dropped
        let ran = futures_lite::future::block_on(within(
            &record,
            Box::pin(async {
                assert!(active());
                futures_lite::future::yield_now().await;
                note(|r| r.set_status(202));
                7
            }),
        ));
        assert_eq!(ran, 7);
        assert!(!active());
        assert_eq!(record.borrow().status, Some(202));
    }
}
