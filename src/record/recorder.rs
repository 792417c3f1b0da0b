//! [`Recorder`]: one shard's open tapes on the request side. A tape is a slot holding its
//! header facts and the lines gathered since the last write; the request path appends lines
//! (no I/O, no allocation beyond the buffer growing), the shard's writer (writer.rs) takes
//! them in batches. Past [`MAX_PENDING`] bytes gathered on the shard, lines are dropped and
//! counted rather than memory growing; past [`WAKE_BYTES`] the writer is woken early.
//!
//! Not here: the files (writer.rs), which tape a request belongs to (scope.rs, the proxy).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};

use crate::config::RecordingConfig;
use crate::session::SessionId;
use crate::tape::format::Direction;

use super::header::{now_us, TapeInfo};
use super::line::{self, Forwarded, Http, Parts};
use super::redact::Redactor;

/// Most bytes of lines a shard holds between writes; past it lines are dropped (counted).
pub const MAX_PENDING: usize = 16 << 20;

/// Gathered bytes that wake the writer before its interval ends.
pub const WAKE_BYTES: usize = 1 << 20;

/// A tape of this shard: its slot and the slot's generation (a reused slot is another tape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TapeId {
    index: u32,
    generation: u32,
}

/// One open tape, request side.
#[derive(Debug)]
pub(super) struct Tape {
    pub(super) info: TapeInfo,
    /// The first message's time.
    pub(super) started_us: u64,
    /// The session the tape belongs to, once known (else the header's is a connection's).
    pub(super) session: Option<SessionId>,
    /// The file may be written: its session is known (or it records a connection).
    pub(super) bound: bool,
    /// Lines gathered since the last write.
    pub(super) pending: Vec<u8>,
    pub(super) pending_lines: u64,
    /// The session ended: write what is left, mark the tape complete, free the slot.
    pub(super) ending: bool,
    /// A write failed: lines are dropped from now on.
    pub(super) failed: bool,
    /// A line of it was dropped (the shard's buffer was full): it ends `failed`, not
    /// `complete`.
    pub(super) lossy: bool,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    tape: Option<Tape>,
}

/// Counts the writer reports to the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Lines dropped: the shard's buffer was full, the tape failed, or the recorder closed.
    pub dropped: u64,
}

/// One shard's recorder.
#[derive(Debug)]
pub struct Recorder {
    config: RecordingConfig,
    shard: usize,
    redactor: Redactor,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    by_session: RefCell<HashMap<SessionId, TapeId>>,
    pending_bytes: Cell<usize>,
    dropped: Cell<u64>,
    next_connection: Cell<u64>,
    closed: Cell<bool>,
    wake: LocalSender<()>,
    woken: RefCell<Option<LocalReceiver<()>>>,
}

impl Recorder {
    /// Shard `shard`'s recorder.
    pub fn new(config: &RecordingConfig, shard: usize) -> Recorder {
        let (wake, woken) = local_channel::new_bounded(1);
        Recorder {
            config: config.clone(),
            shard,
            redactor: Redactor::new(&config.redact),
            slots: RefCell::default(),
            free: RefCell::default(),
            by_session: RefCell::default(),
            pending_bytes: Cell::new(0),
            dropped: Cell::new(0),
            next_connection: Cell::new(0),
            closed: Cell::new(false),
            wake,
            woken: RefCell::new(Some(woken)),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RecordingConfig {
        &self.config
    }

    /// The shard it records on.
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// The writer's wake-up channel (taken once, by the writer).
    pub fn take_wake(&self) -> Option<LocalReceiver<()>> {
        self.woken.borrow_mut().take()
    }

    /// The tape of `session`, opened with `info()` when it has none yet.
    pub fn session_tape(&self, session: &SessionId, info: impl FnOnce() -> TapeInfo) -> TapeId {
        if let Some(&id) = self.by_session.borrow().get(session) {
            return id;
        }
        let mut info = info();
        info.session = crate::audit::session_hash(session.as_str());
        let id = self.open(info, Some(*session));
        self.by_session.borrow_mut().insert(*session, id);
        id
    }

    /// A tape whose session is not known yet (an `initialize` on its way): [`Recorder::bind`]
    /// names it once the session exists; until then nothing of it is written.
    pub fn unbound(&self, info: TapeInfo) -> TapeId {
        self.open(info, None)
    }

    /// A tape of one client connection's stateless (2026-07-28) traffic.
    pub fn connection_tape(&self, mut info: TapeInfo) -> TapeId {
        info.session = self.connection_name();
        let id = self.open(info, None);
        self.with(id, |tape| tape.bound = true);
        id
    }

    /// Names `tape`'s session (minted for the request it recorded).
    pub fn bind(&self, tape: TapeId, session: &SessionId) {
        let bound = self.with(tape, |tape| {
            if tape.bound {
                return false;
            }
            tape.session = Some(*session);
            tape.info.session = crate::audit::session_hash(session.as_str());
            tape.bound = true;
            true
        });
        if bound == Some(true) {
            self.by_session.borrow_mut().insert(*session, tape);
        }
    }

    /// Ends `tape`: what it gathered is written, then it is marked complete. A tape whose
    /// session never came to be is written as a connection's.
    pub fn end(&self, tape: TapeId) {
        let name = self
            .with(tape, |t| !t.bound)
            .unwrap_or(false)
            .then(|| self.connection_name());
        self.with(tape, |t| {
            if let Some(name) = name {
                t.info.session = name;
                t.bound = true;
            }
            t.ending = true;
        });
        if let Some(session) = self.with(tape, |t| t.session).flatten() {
            self.by_session.borrow_mut().remove(&session);
        }
    }

    /// Makes the unbound `tape` (its request opened no session: refused, or an answer that
    /// failed) its connection's tape, or moves its lines to `into`, the connection's tape
    /// already open, freeing it without a file: one file per connection, not per request.
    /// Returns the connection's tape.
    pub fn to_connection(&self, tape: TapeId, into: Option<TapeId>) -> TapeId {
        let into = into.filter(|&into| into != tape && self.with(into, |_| ()).is_some());
        let Some(into) = into else {
            let name = self.connection_name();
            self.with(tape, |t| {
                t.info.session = name;
                t.bound = true;
            });
            return tape;
        };
        if let Some((batch, lines)) = self.take_pending(tape) {
            let moved = self.with(into, |t| {
                t.pending.extend_from_slice(&batch);
                t.pending_lines += lines;
            });
            match moved {
                Some(()) => self
                    .pending_bytes
                    .set(self.pending_bytes.get() + batch.len()),
                None => self.dropped.set(self.dropped.get() + lines),
            }
        }
        self.free(tape);
        into
    }

    /// Whether `tape` is unbound (its session not known yet).
    pub fn is_unbound(&self, tape: TapeId) -> bool {
        self.with(tape, |t| !t.bound).unwrap_or(false)
    }

    /// Records one message of `tape`.
    pub fn record(
        &self,
        tape: TapeId,
        dir: Direction,
        msg: &[u8],
        valid: bool,
        http: Option<Http<'_>>,
    ) {
        self.record_forwarded(tape, (dir, msg, valid), None, http);
    }

    /// Records one message of `tape` with what went on when an interception rule changed it
    /// (`Some(None)`: blocked or answered by the rule; `Some(Some(bytes))`: changed).
    pub fn record_forwarded(
        &self,
        tape: TapeId,
        (dir, msg, valid): (Direction, &[u8], bool),
        forwarded: Forwarded<'_>,
        http: Option<Http<'_>>,
    ) {
        if self.closed.get() || self.pending_bytes.get() >= MAX_PENDING {
            self.drop_line(tape);
            return;
        }
        let redacted = (!self.redactor.is_empty())
            .then(|| self.redactor.apply(msg))
            .flatten();
        let forwarded_redacted = match forwarded {
            Some(Some(bytes)) if !self.redactor.is_empty() => self.redactor.apply(bytes),
            _ => None,
        };
        let (msg, valid, names) = match &redacted {
            Some((bytes, names)) => (bytes.as_slice(), true, names.as_slice()),
            None => (msg, valid, &[][..]),
        };
        let forwarded = match &forwarded_redacted {
            Some((bytes, _)) => Some(Some(bytes.as_slice())),
            None => forwarded,
        };
        let parts = Parts {
            t_us: now_us(),
            dir,
            msg,
            valid,
            forwarded,
            http,
            redacted: names,
        };
        let grew = self.with(tape, |t| {
            if t.failed || t.ending {
                return None;
            }
            let before = t.pending.len();
            line::append(&mut t.pending, &parts);
            t.pending_lines += 1;
            Some(t.pending.len() - before)
        });
        match grew.flatten() {
            Some(bytes) => {
                let total = self.pending_bytes.get() + bytes;
                self.pending_bytes.set(total);
                if total >= WAKE_BYTES {
                    let _ = self.wake.try_send(());
                }
            }
            None => self.dropped.set(self.dropped.get() + 1),
        }
    }

    /// Counts a line of `tape` dropped; the tape will end `failed` (a message is missing).
    pub fn drop_line(&self, tape: TapeId) {
        self.dropped.set(self.dropped.get() + 1);
        self.with(tape, |t| t.lossy = true);
    }

    /// Marks the recorder closed (after its final write): later lines are dropped, counted.
    pub fn close(&self) {
        self.closed.set(true);
    }

    /// Takes the counts gathered since the last call.
    pub fn take_counts(&self) -> Counts {
        Counts {
            dropped: self.dropped.replace(0),
        }
    }

    /// The sessions with open tapes.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.by_session.borrow().keys().copied().collect()
    }

    /// Ends the tape of `session`, if it has one.
    pub fn end_session(&self, session: &SessionId) {
        let id = self.by_session.borrow().get(session).copied();
        if let Some(id) = id {
            self.end(id);
        }
    }

    /// Ends every tape (shutdown).
    pub fn end_all(&self) {
        for id in self.ids() {
            self.end(id);
        }
    }

    /// Every open tape.
    pub(super) fn ids(&self) -> Vec<TapeId> {
        let slots = self.slots.borrow();
        (0..slots.len())
            .filter_map(|index| {
                let slot = slots.get(index)?;
                slot.tape.as_ref()?;
                Some(TapeId {
                    index: u32::try_from(index).ok()?,
                    generation: slot.generation,
                })
            })
            .collect()
    }

    /// Runs `f` on `tape`, when it is still open.
    pub(super) fn with<T>(&self, tape: TapeId, f: impl FnOnce(&mut Tape) -> T) -> Option<T> {
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_mut(tape.index as usize)?;
        if slot.generation != tape.generation {
            return None;
        }
        slot.tape.as_mut().map(f)
    }

    /// Takes `tape`'s gathered lines (the writer's batch) and their count.
    pub(super) fn take_pending(&self, tape: TapeId) -> Option<(Vec<u8>, u64)> {
        let (batch, lines) = self.with(tape, |t| {
            (
                std::mem::take(&mut t.pending),
                std::mem::take(&mut t.pending_lines),
            )
        })?;
        self.pending_bytes
            .set(self.pending_bytes.get().saturating_sub(batch.len()));
        Some((batch, lines))
    }

    /// Frees `tape`'s slot (the writer finished it).
    pub(super) fn free(&self, tape: TapeId) {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = slots.get_mut(tape.index as usize) {
            if slot.generation == tape.generation {
                slot.tape = None;
                slot.generation = slot.generation.wrapping_add(1);
                self.free.borrow_mut().push(tape.index);
            }
        }
    }

    fn open(&self, info: TapeInfo, session: Option<SessionId>) -> TapeId {
        let tape = Tape {
            info,
            started_us: now_us(),
            session,
            bound: session.is_some(),
            pending: Vec::new(),
            pending_lines: 0,
            ending: false,
            failed: false,
            lossy: false,
        };
        let mut slots = self.slots.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(index) => match slots.get_mut(index as usize) {
                Some(slot) => {
                    slot.tape = Some(tape);
                    TapeId {
                        index,
                        generation: slot.generation,
                    }
                }
                None => unreachable_slot(),
            },
            None => {
                let index = u32::try_from(slots.len()).unwrap_or(u32::MAX);
                slots.push(Slot {
                    generation: 0,
                    tape: Some(tape),
                });
                TapeId {
                    index,
                    generation: 0,
                }
            }
        }
    }

    /// `connection:<now_us>-<shard>-<n>`: unique across runs and shards (the shard's counter
    /// starts at 0 in every run).
    fn connection_name(&self) -> String {
        let n = self.next_connection.get();
        self.next_connection.set(n + 1);
        format!("connection:{}-{}-{n}", now_us(), self.shard)
    }
}

/// A free-list index always names a slot (slots are never removed).
fn unreachable_slot() -> TapeId {
    TapeId {
        index: u32::MAX,
        generation: u32::MAX,
    }
}
