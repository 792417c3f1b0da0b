//! The one thread that plays every `slow` call of a stdio demo server: pauses and progress
//! notifications of any number of calls at once, ordered by a deadline heap.
//!
//! Not here: what a script says (`tools.rs` builds it), cancellation requests (the main thread
//! sets a call's flag), writing stdout (the writer thread; scripts send to its outbox).
//!
//! Why one thread and not one per call: a thread per call capped concurrent `slow` calls (each
//! thread costs a stack and a spawn), so thousands of calls held open at once — the proxy's
//! scale bench runs 10 000 through one shared child — queued behind each other. A heap of
//! deadlines costs one entry per waiting call.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::super::SseStep;

/// One call's script and its cancellation flag.
pub(super) struct Script {
    /// Pauses and messages, in order.
    pub(super) steps: Vec<SseStep>,
    /// Set by the main thread on `notifications/cancelled`: stop before the next step.
    pub(super) cancelled: Arc<AtomicBool>,
}

/// The main thread's handle: send scripts, then `finish` to wait for the last one.
pub(super) struct Player {
    scripts: Sender<Script>,
    thread: JoinHandle<()>,
}

impl Player {
    /// Starts the player thread; scripts send their messages to `outbox`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub(super) fn start(outbox: SyncSender<Vec<u8>>) -> io::Result<Player> {
        let (scripts, incoming) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("demo-slow".into())
            .spawn(move || play_all(&incoming, &outbox))?;
        Ok(Player { scripts, thread })
    }

    /// Queues a script; it starts at once. `false` when the player is gone.
    pub(super) fn play(&self, script: Script) -> bool {
        self.scripts.send(script).is_ok()
    }

    /// Lets every queued script finish, then returns.
    pub(super) fn finish(self) {
        drop(self.scripts);
        let _ = self.thread.join();
    }
}

/// The player loop: take new scripts, run every script whose deadline passed up to its next
/// pause, sleep until the next deadline or a new script. Ends when the main thread is done and
/// no script is left, or when stdout's writer is gone.
#[allow(
    clippy::disallowed_methods,
    reason = "this thread exists only to pause slow calls; no shard runs in this process"
)]
fn play_all(incoming: &Receiver<Script>, outbox: &SyncSender<Vec<u8>>) {
    let mut playing: HashMap<u64, std::vec::IntoIter<SseStep>> = HashMap::new();
    let mut flags: HashMap<u64, Arc<AtomicBool>> = HashMap::new();
    let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut next_id = 0u64;
    let mut open = true;
    loop {
        let received = match due.peek() {
            Some(Reverse((when, _))) => {
                incoming.recv_timeout(when.saturating_duration_since(Instant::now()))
            }
            None if open => incoming.recv().map_err(|_| RecvTimeoutError::Disconnected),
            None => return,
        };
        match received {
            Ok(script) => {
                let id = next_id;
                next_id += 1;
                playing.insert(id, script.steps.into_iter());
                flags.insert(id, script.cancelled);
                due.push(Reverse((Instant::now(), id)));
            }
            Err(RecvTimeoutError::Disconnected) => open = false,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        while let Some(&Reverse((when, id))) = due.peek() {
            if when > now {
                break;
            }
            due.pop();
            let cancelled = flags
                .get(&id)
                .is_none_or(|flag| flag.load(Ordering::Relaxed));
            let pause = match playing.get_mut(&id) {
                Some(steps) if !cancelled => match advance(steps, outbox) {
                    Advance::Pause(pause) => Some(pause),
                    Advance::Done => None,
                    Advance::WriterGone => return,
                },
                _ => None,
            };
            match pause {
                Some(pause) => due.push(Reverse((now + pause, id))),
                None => {
                    playing.remove(&id);
                    flags.remove(&id);
                }
            }
        }
    }
}

enum Advance {
    Pause(std::time::Duration),
    Done,
    WriterGone,
}

/// Sends a script's messages up to its next pause.
fn advance(steps: &mut std::vec::IntoIter<SseStep>, outbox: &SyncSender<Vec<u8>>) -> Advance {
    for step in steps.by_ref() {
        match step {
            SseStep::Delay(pause) => return Advance::Pause(pause),
            SseStep::Message(message) => {
                if outbox.send(message).is_err() {
                    return Advance::WriterGone;
                }
            }
        }
    }
    Advance::Done
}
