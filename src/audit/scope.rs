//! The record of the request being served on this thread: [`connection`] runs a client
//! connection's future with that connection's slot current during each of its polls (as
//! `tracing`'s `Instrument` does with spans); the connection loop puts each request's record
//! in the slot ([`begin`], [`end`]); [`note`] lets code deep in the request (the policy stage,
//! the status counter) add a fact without every signature carrying the record. Futures the
//! request spawns are not inside it: what they write is not this request's answer.
//!
//! Not here: what is noted (record.rs). Cost: connections of a shard without an audit log are
//! not wrapped, and [`note`] is one thread-local read; with one, the wrapper is per connection
//! (nothing is moved or allocated per request).

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use super::Record;

/// One connection's request record, while a request is in flight.
type Slot = Rc<RefCell<Option<Record>>>;

thread_local! {
    static CURRENT: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Runs the connection future `future` with its own slot current during each poll.
pub fn connection<F: Future>(future: F) -> Connection<F> {
    shards::scoped::scoped(ConnSlot(Slot::default()), future)
}

/// A connection's future inside its audit scope.
pub type Connection<F> = shards::scoped::Scoped<ConnSlot, F>;

/// A connection's slot, made current around each poll of its future.
#[derive(Debug)]
pub struct ConnSlot(Slot);

impl shards::scoped::Scope for ConnSlot {
    type Entered = Enter;

    fn enter(&self) -> Enter {
        Enter::new(self.0.clone())
    }
}

/// Makes `record` the record of the connection's request (inside [`connection`]; elsewhere
/// it is dropped).
pub fn begin(record: Record) {
    CURRENT.with_borrow(|slot| {
        if let Some(slot) = slot {
            *slot.borrow_mut() = Some(record);
        }
    });
}

/// Takes the connection's request record out, once the request ended.
pub fn end() -> Option<Record> {
    CURRENT.with_borrow(|slot| slot.as_ref().and_then(|slot| slot.borrow_mut().take()))
}

/// Adds to the current request's record, if there is one.
pub fn note(add: impl FnOnce(&mut Record)) {
    CURRENT.with_borrow(|slot| {
        if let Some(slot) = slot {
            if let Some(record) = slot.borrow_mut().as_mut() {
                add(record);
            }
        }
    });
}

/// Makes a connection's slot current until dropped, then restores the one before.
#[derive(Debug)]
pub struct Enter {
    before: Option<Slot>,
}

impl Enter {
    fn new(slot: Slot) -> Enter {
        Enter {
            before: CURRENT.replace(Some(slot)),
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
    fn notes_reach_the_polled_connection_only() {
        begin(Record::new("GET")); // no connection current: dropped
        note(|r| r.set_status(500));
        assert!(end().is_none());
        let other = connection(async {
            begin(Record::new("POST"));
            futures_lite::future::yield_now().await;
            note(|r| r.set_status(404));
            end()
        });
        let ran = futures_lite::future::block_on(connection(async {
            begin(Record::new("POST"));
            futures_lite::future::yield_now().await;
            note(|r| r.set_status(202));
            // Another connection polled in between keeps its own record.
            let other = other.await.and_then(|r| r.status);
            (end().and_then(|r| r.status), other)
        }));
        assert_eq!(ran, (Some(202), Some(404)));
        assert!(end().is_none());
    }
}
