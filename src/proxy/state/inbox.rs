//! [`ReplyInbox`]: a shard's mailbox for the answers to the questions it asks the other shards
//! over the mesh (a metrics scrape, an interception admin question): one question at a time,
//! each answer carrying its question's number, so a late answer to an abandoned question is
//! dropped instead of counting for the next one.
//!
//! Not here: the questions and the mesh messages (the admin module's scrape.rs, the proxy's
//! intercept module).

use std::cell::Cell;
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::sync::{Permit, Semaphore};
use shards::timeout::within;

/// Answers awaited by this shard's current question.
#[derive(Debug)]
pub struct ReplyInbox<T> {
    /// Number of the latest question asked from here.
    seq: Cell<u64>,
    /// Where answers are delivered.
    tx: LocalSender<(u64, T)>,
    /// Where the asking task reads them.
    rx: LocalReceiver<(u64, T)>,
    /// One question at a time per shard.
    busy: Semaphore,
}

impl<T> Default for ReplyInbox<T> {
    fn default() -> Self {
        let (tx, rx) = local_channel::new_bounded(64);
        ReplyInbox {
            seq: Cell::new(0),
            tx,
            rx,
            busy: Semaphore::new(1),
        }
    }
}

impl<T> ReplyInbox<T> {
    /// Starts a question: waits for the one before to end; its number, and the turn (held
    /// until the answers are collected).
    pub async fn start(&self) -> (u64, Option<Permit<'_>>) {
        let turn = self.busy.acquire_permit(1).await.ok();
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        (seq, turn)
    }

    /// Delivers an answer to question `seq` (dropped when the inbox is full).
    pub fn deliver(&self, seq: u64, answer: T) {
        let _ = self.tx.try_send((seq, answer));
    }

    /// Adds the answers to question `seq` to `into` until it holds `wanted` or `timeout`
    /// passed; answers to older questions are dropped.
    pub async fn collect(&self, seq: u64, into: &mut Vec<T>, wanted: usize, timeout: Duration) {
        let _ = within(timeout, async {
            while into.len() < wanted {
                match self.rx.recv().await {
                    Some((s, answer)) if s == seq => into.push(answer),
                    Some(_) => {}
                    None => break,
                }
            }
        })
        .await;
    }
}
