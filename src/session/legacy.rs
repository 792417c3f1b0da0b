//! One legacy HTTP+SSE (2024-11-05) client session's state ([`LegacyOut`]): the bounded queue
//! between the exchanges its POSTs start and its event stream, the stream's end, and the count
//! of exchanges still running (the stream waits for them at shutdown). `ShardState.legacy`
//! maps session ids to these. Generic over `S`, the route's stages (the proxy's
//! `RouteStages`), so this layer does not import the pipeline.
//!
//! Not here: the transport itself (the proxy's legacy folder: routing, delivering, the stream
//! task).
//! Single-shard data: `Cell`s and a local channel, no locks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use glommio::channels::local_channel::{LocalReceiver, LocalSender};
use shards::latch::Latch;

/// Messages queued for one legacy stream. A client that falls this far behind is not reading
/// its stream: its session ends (with a log line) instead of growing memory.
pub const QUEUE_CAPACITY: usize = 256;

/// One legacy session's link between its exchanges and its stream.
#[derive(Debug)]
pub struct LegacyOut<S> {
    /// Messages for the stream, in the order they arrived.
    pub(crate) tx: LocalSender<Vec<u8>>,
    /// Fired to end the stream (and with it the session).
    pub(crate) ended: Latch,
    /// Exchanges still running (the stream waits for them at shutdown).
    pub(crate) inflight: Cell<u32>,
    /// Set at shutdown: `drained` fires once `inflight` is zero.
    pub(crate) draining: Cell<bool>,
    /// Fired once a draining session has no exchange left.
    pub(crate) drained: Latch,
    /// The upstream's own stream (GET or the child's inbox) is being piped already.
    pub(crate) listening: Cell<bool>,
    /// The route's stages (the proxy's `ListingWatch`): their response side judges the
    /// messages queued here that answer the session's `tools/list` requests.
    pub(crate) stages: S,
    /// Messages queued so far, and taken by the stream (numbering them one by one).
    queued: Cell<u64>,
    taken: Cell<u64>,
    /// The messages as they arrived, by number, of those a stage changed before they were
    /// queued (the tape records both); at most [`QUEUE_CAPACITY`].
    originals: RefCell<VecDeque<(u64, Vec<u8>)>>,
}

impl<S> LegacyOut<S> {
    /// A session's queue and the stream's end of it.
    pub(crate) fn new(stages: S) -> (Rc<Self>, LocalReceiver<Vec<u8>>) {
        let (tx, rx) = glommio::channels::local_channel::new_bounded(QUEUE_CAPACITY);
        let out = Rc::new(LegacyOut {
            tx,
            ended: Latch::default(),
            inflight: Cell::new(0),
            draining: Cell::new(false),
            drained: Latch::default(),
            listening: Cell::new(false),
            stages,
            queued: Cell::new(0),
            taken: Cell::new(0),
            originals: RefCell::default(),
        });
        (out, rx)
    }

    /// Counts an exchange as running until the returned guard drops.
    pub(crate) fn work(self: &Rc<Self>) -> Work<S> {
        self.inflight.set(self.inflight.get() + 1);
        Work(self.clone())
    }

    /// Shutdown: `drained` fires once no exchange runs.
    pub(crate) fn drain(&self) {
        self.draining.set(true);
        if self.inflight.get() == 0 {
            self.drained.fire();
        }
    }

    /// Notes a message queued (after `tx` took it), with the bytes it arrived as when a stage
    /// changed it; its number.
    pub(crate) fn queued(&self, original: Option<Vec<u8>>) -> u64 {
        let n = self.queued.get() + 1;
        self.queued.set(n);
        if let Some(original) = original {
            self.originals.borrow_mut().push_back((n, original));
        }
        n
    }

    /// The number of the message the stream took last.
    pub(crate) fn last_taken(&self) -> u64 {
        self.taken.get()
    }

    /// Notes a message taken from the queue by the stream; the bytes it arrived as when a
    /// stage changed it.
    pub(crate) fn taken(&self) -> Option<Vec<u8>> {
        let n = self.taken.get() + 1;
        self.taken.set(n);
        let mut originals = self.originals.borrow_mut();
        match originals.front() {
            Some((at, _)) if *at == n => originals.pop_front().map(|(_, bytes)| bytes),
            _ => None,
        }
    }

    /// Claims the right to pipe the upstream's own stream; false when already claimed.
    pub(crate) fn start_listening(&self) -> bool {
        !self.listening.replace(true)
    }
}

/// An exchange in flight for a session (see [`LegacyOut::work`]).
#[derive(Debug)]
pub(crate) struct Work<S>(Rc<LegacyOut<S>>);

impl<S> Drop for Work<S> {
    fn drop(&mut self) {
        let left = self.0.inflight.get().saturating_sub(1);
        self.0.inflight.set(left);
        if left == 0 && self.0.draining.get() {
            self.0.drained.fire();
        }
    }
}
