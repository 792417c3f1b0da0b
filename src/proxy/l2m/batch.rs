//! A 2025-03-26 batch on a translated session: the modern upstream has no batches, so the batch
//! is split and each element takes the path a single message takes (post.rs, call.rs): requests
//! go upstream concurrently (at most [`MAX_IN_FLIGHT`] at once), each with its own MRTR
//! rounds; `ping`, `logging/setLevel` and
//! subscriptions are answered here; notifications and the client's responses are acted on at
//! once. The client gets one answer: the reply array in request order, as JSON, or as the last
//! SSE event after the calls' progress and server→client requests.
//!
//! Not here: deciding a batch is allowed (the proxy's post.rs: 2025-03-26 sessions only), the
//! reply array and its SSE framing (proxy::stdio::batch::Replies), the exchange with
//! the upstream (call.rs).
//! Allocates per batch: the element list, one boxed future per upstream call (at most
//! [`MAX_IN_FLIGHT`] alive), the replies.

use crate::session::Principal;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use glommio::channels::local_channel::{self, LocalSender};
use serde_json::value::RawValue;
use shards::io::NetStream;
use shards::latch::Latch;

use crate::http::{HttpConn, RequestHead};
use crate::mcp::{jsonrpc, Inspected, JsonRpcId, Kind};

use super::super::error::ProxyError;
use super::super::respond::error_message;
use super::super::state::ShardState;
use super::super::stdio::answer::{write_empty, ClientShape};
use super::super::stdio::batch::{error_reply, Replies};
use super::call;
use super::local;
use super::sink::Sink;
use crate::pipeline::RouteStages;
use crate::pipeline::{facts, Facts};
use crate::session::l2m::L2mSession;

/// Elements of one batch in flight upstream at once; the others start, in order, as these end.
/// Each running element holds an upstream connection (and the shard's tool cache is filled by
/// one `tools/list`, listing.rs): a batch of up to `MAX_BATCH_LEN` (1024) elements must not open
/// a socket per element, nor let one client's POST take a large share of the upstream's
/// connections. At least 2, so that MRTR elements still run side by side (two `ask` calls both
/// get their input requests to the client before either is answered); an element waiting for
/// the client's answer keeps its place, so input requests beyond the first 16 unanswered ones
/// reach the client only as those are answered.
pub const MAX_IN_FLIGHT: usize = 16;

/// Messages of the batch's calls (progress, server→client requests) waiting for the client;
/// past this a call's next message waits, so a slow client slows its upstream reads.
const QUEUED_MESSAGES: usize = 64;

/// Where an element's reply comes from.
enum Slot {
    /// Answered already (locally, or refused): the reply.
    Ready(Vec<u8>),
    /// Sent upstream: the index of its call.
    Call(usize),
}

/// Serves the batch `body` (inspected into `batch`) on `session`; returns whether the client
/// connection stays open.
///
/// # Errors
/// The client's write errors.
pub(super) async fn post_batch(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &[u8],
    batch: &Facts,
    (session, principal): (&Rc<L2mSession>, &Principal),
    stages: &RouteStages,
) -> Result<bool, ProxyError> {
    // Only the batch's `tools/list` answers are judged.
    let answer_stages = stages.for_answer(batch.method, &batch.elements);
    let shape = ClientShape {
        stages: answer_stages.as_ref(),
        ..ClientShape::of(head)
    };
    let Sorted {
        slots,
        calls,
        notifications,
    } = sort(session, body, batch)?;
    // Every call's id is in flight from now on, also while it waits for a slot: a cancel finds
    // it (one in this very batch included), and another request under its id is refused.
    let _reserved = Reserved::new(session, calls.iter().map(|(_, id, _)| id.clone()));
    for facts in &notifications {
        local::notified(session, facts);
    }
    if slots.is_empty() {
        // Only notifications and responses.
        return write_empty(state, client, 202, shape).await;
    }

    let (messages, queued) = local_channel::new_bounded::<Vec<u8>>(QUEUED_MESSAGES);
    let run = async move {
        let pending = calls.iter().map(|(bytes, id, facts)| {
            let on = (session, principal);
            element(state, &messages, head, bytes, (id, facts), on)
        });
        let done = join_bounded(pending, MAX_IN_FLIGHT).await;
        // Every call is over: the writer below sees the end of the queue.
        drop(messages);
        Ok::<_, ProxyError>(done)
    };
    let mut replies = Replies::default();
    let write = async {
        while let Some(message) = queued.recv().await {
            replies.message(state, client, shape, &message).await?;
        }
        Ok(())
    };
    // A client that cannot be written to ends the batch: its calls are dropped (cancelled).
    let (mut done, ()) = futures_lite::future::try_zip(run, write).await?;
    for slot in slots {
        let reply = match slot {
            Slot::Ready(reply) => Some(reply),
            Slot::Call(n) => done.get_mut(n).and_then(Option::take),
        };
        // A call the client cancelled has no reply.
        if let Some(reply) = reply {
            replies.push(&reply);
        }
    }
    replies.finish(state, client, shape).await
}

/// Hands every client answer of `body` (inspected into `batch`: a blocked batch's client
/// answers) to the MRTR exchange waiting for it, answering nothing.
///
/// # Errors
/// A body that is not an array of the elements `batch` describes.
pub(in crate::proxy) fn deliver_answers(
    session: &L2mSession,
    body: &[u8],
    batch: &Facts,
) -> Result<(), ProxyError> {
    let sorted = sort(session, body, batch)?;
    for facts in &sorted.notifications {
        local::notified(session, facts);
    }
    Ok(())
}

/// A batch's elements sorted by where their replies come from.
struct Sorted<'b> {
    /// One per request, in body order.
    slots: Vec<Slot>,
    /// The requests going upstream: their bytes (the client's), ids and facts.
    calls: Vec<(&'b [u8], JsonRpcId, Facts)>,
    /// The notifications, applied once the calls' ids are reserved.
    notifications: Vec<Facts>,
}

/// Sorts the elements of `body`: requests answered here (refused, or local answers) or sent
/// upstream, the client's responses delivered at once, notifications kept for later.
///
/// # Errors
/// A body that is not an array of the elements `batch` describes.
fn sort<'b>(session: &L2mSession, body: &'b [u8], batch: &Facts) -> Result<Sorted<'b>, ProxyError> {
    // The elements' own bytes, as the client wrote them, beside their facts (the inspector
    // read every element: each is policed and routed as a single message is).
    let elements: Vec<&RawValue> =
        serde_json::from_slice(body).map_err(|_| ProxyError::BatchNotAllowed)?;
    if elements.len() != batch.elements.len() {
        return Err(ProxyError::Internal(
            "batch elements and their facts disagree",
        ));
    }
    let mut sorted = Sorted {
        slots: Vec::with_capacity(elements.len()),
        calls: Vec::new(),
        notifications: Vec::new(),
    };
    let mut ids = HashSet::new();
    for (element, info) in elements.into_iter().zip(&batch.elements) {
        let bytes = element.get().as_bytes();
        let facts = facts(Inspected::Single(info.clone()));
        match (facts.request_id().cloned(), facts.kind()) {
            (Some(id), _) => {
                match refused(session, &mut ids, &id, &facts)
                    .or_else(|| local::answer(session, bytes, &facts, &id))
                {
                    Some(reply) => sorted.slots.push(Slot::Ready(reply)),
                    None => {
                        sorted.slots.push(Slot::Call(sorted.calls.len()));
                        sorted.calls.push((bytes, id, facts));
                    }
                }
            }
            (None, Some(Kind::Response | Kind::ErrorResponse)) => {
                local::deliver(session, &facts, bytes)
            }
            _ => sorted.notifications.push(facts),
        }
    }
    Ok(sorted)
}

/// The error entry of a request a batch may not carry: a repeated id (replies are matched by
/// id, so a second request under one id is unanswerable) or `initialize` (the spec forbids
/// batching it).
fn refused(
    session: &L2mSession,
    ids: &mut HashSet<JsonRpcId>,
    id: &JsonRpcId,
    facts: &Facts,
) -> Option<Vec<u8>> {
    let message = if !ids.insert(id.clone()) || session.inflight.borrow().contains_key(id) {
        "Another request of the batch or in flight has the same id"
    } else if facts.is_initialize {
        "initialize must not be part of a JSON-RPC batch"
    } else {
        return None;
    };
    Some(error_reply(id, jsonrpc::INVALID_REQUEST, message))
}

/// The in-flight entries of a batch's calls that have not started yet: each a cancel latch of
/// its own, taken over by the call when it starts (call.rs registers its id itself), removed
/// when the batch ends before the call started.
struct Reserved<'s> {
    session: &'s L2mSession,
    latches: Vec<(JsonRpcId, Rc<Latch>)>,
}

impl<'s> Reserved<'s> {
    fn new(session: &'s L2mSession, ids: impl Iterator<Item = JsonRpcId>) -> Self {
        let latches: Vec<(JsonRpcId, Rc<Latch>)> =
            ids.map(|id| (id, Rc::new(Latch::default()))).collect();
        let mut inflight = session.inflight.borrow_mut();
        for (id, latch) in &latches {
            inflight.insert(id.clone(), latch.clone());
        }
        drop(inflight);
        Self { session, latches }
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let mut inflight = self.session.inflight.borrow_mut();
        for (id, latch) in &self.latches {
            if inflight.get(id).is_some_and(|held| Rc::ptr_eq(held, latch)) {
                inflight.remove(id);
            }
        }
    }
}

/// Takes a queued call's reserved entry back so the call can register itself; false when the
/// client cancelled it while it waited (then it is not sent at all).
fn start(session: &L2mSession, id: &JsonRpcId) -> bool {
    let reserved = session.inflight.borrow_mut().remove(id);
    !reserved.is_some_and(|latch| latch.is_fired())
}

/// One request of the batch served upstream; its reply (`None`: cancelled by the client).
async fn element(
    state: &Rc<ShardState>,
    messages: &LocalSender<Vec<u8>>,
    head: &RequestHead,
    body: &[u8],
    (id, facts): (&JsonRpcId, &Facts),
    (session, principal): (&Rc<L2mSession>, &Principal),
) -> Option<Vec<u8>> {
    if !start(session, id) {
        return None;
    }
    let sink = Element { messages };
    let on = (session, principal);
    match call::serve(state, sink, head, body, (id.clone(), facts), on).await {
        Ok(reply) => reply,
        Err(e) => {
            let mut reply = Vec::with_capacity(128);
            error_message(&mut reply, &e, Some(id));
            Some(reply)
        }
    }
}

/// A batch element's answer: its messages go to the batch's queue, its final message becomes
/// its reply, and failures are replies too (the batch's HTTP answer is shared).
struct Element<'a> {
    messages: &'a LocalSender<Vec<u8>>,
}

impl Sink for Element<'_> {
    type Done = Option<Vec<u8>>;

    async fn stream(&mut self, _state: &ShardState, message: &[u8]) -> Result<(), ProxyError> {
        self.messages
            .send(message.to_vec())
            .await
            .map_err(|_| ProxyError::Internal("the batch's answer ended"))
    }

    async fn last(self, _state: &ShardState, message: &[u8]) -> Result<Self::Done, ProxyError> {
        Ok(Some(message.to_vec()))
    }

    async fn abandon(self, _state: &ShardState) -> Result<Self::Done, ProxyError> {
        Ok(None)
    }
}

/// Runs `futures` concurrently on this task, at most `limit` at once (each next one starts as
/// one ends, so the iterator makes them lazily); their outputs in the iterator's order. A wake
/// polls the running ones only: O(limit) per wake, not O(all).
async fn join_bounded<F: Future>(futures: impl Iterator<Item = F>, limit: usize) -> Vec<F::Output> {
    let mut futures = futures.fuse();
    let mut outputs: Vec<Option<F::Output>> = Vec::new();
    let mut running: Vec<(usize, Pin<Box<F>>)> = Vec::with_capacity(limit);
    std::future::poll_fn(|cx| loop {
        while running.len() < limit.max(1) {
            let Some(future) = futures.next() else { break };
            running.push((outputs.len(), Box::pin(future)));
            outputs.push(None);
        }
        if running.is_empty() {
            // Nothing left to start or to wait for.
            return Poll::Ready(());
        }
        let before = running.len();
        running.retain_mut(|(n, future)| match future.as_mut().poll(cx) {
            Poll::Ready(value) => {
                if let Some(output) = outputs.get_mut(*n) {
                    *output = Some(value);
                }
                false
            }
            Poll::Pending => true,
        });
        if running.len() == before {
            return Poll::Pending;
        }
        // Some ended: start the next ones (and poll them) now.
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;

    use futures_lite::future::{block_on, yield_now, zip};
    use shards::latch::Latch;

    use super::{join_bounded, MAX_IN_FLIGHT};

    fn join_all<'a, T>(futures: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>) -> Vec<T> {
        block_on(join_bounded(futures.into_iter(), MAX_IN_FLIGHT))
    }

    #[test]
    fn join_runs_side_by_side_and_keeps_the_order() {
        let ready = Cell::new(false);
        let waits = async {
            // Finishes only once the later future ran: sequential polling would give up.
            for _ in 0..100 {
                if ready.get() {
                    return "waited";
                }
                yield_now().await;
            }
            "never ran the other"
        };
        let sets = async {
            ready.set(true);
            "set"
        };
        let futures: Vec<Pin<Box<dyn Future<Output = &str> + '_>>> =
            vec![Box::pin(waits), Box::pin(sets)];
        assert_eq!(join_all(futures), vec!["waited", "set"]);
    }

    #[test]
    fn join_of_nothing_is_empty() {
        let none: Vec<Pin<Box<dyn Future<Output = u8>>>> = Vec::new();
        assert!(join_all(none).is_empty());
    }

    #[test]
    fn join_runs_at_most_limit_at_once_and_keeps_the_order() {
        let running = Cell::new(0usize);
        let most = Cell::new(0usize);
        let started = Cell::new(0usize);
        let futures = (0..40usize).map(|n| {
            // Made lazily: only as a slot frees up.
            started.set(started.get() + 1);
            assert!(started.get() <= n + 1);
            let running = &running;
            let most = &most;
            async move {
                running.set(running.get() + 1);
                most.set(most.get().max(running.get()));
                // Ends out of order: later ones of a window first.
                for _ in 0..(40 - n) % 7 {
                    yield_now().await;
                }
                running.set(running.get() - 1);
                n
            }
        });
        let done = block_on(join_bounded(futures, 4));
        assert_eq!(done, (0..40).collect::<Vec<_>>());
        assert_eq!(most.get(), 4);
        assert_eq!(running.get(), 0);
    }

    #[test]
    fn only_running_futures_are_polled() {
        // 100 futures released one by one, one wake each: polling every unfinished future on
        // each wake would take ~5000 polls; a window of 2 takes a few per future.
        let latches: Vec<Latch> = (0..100).map(|_| Latch::default()).collect();
        let polls = Cell::new(0usize);
        let futures = latches.iter().map(|latch| {
            let polls = &polls;
            let mut inner = Box::pin(latch.wait());
            std::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                inner.as_mut().poll(cx)
            })
        });
        let release = async {
            for latch in &latches {
                yield_now().await;
                latch.fire();
            }
        };
        let (done, ()) = block_on(zip(join_bounded(futures, 2), release));
        assert_eq!(done.len(), 100);
        assert!(polls.get() <= 100 * 6, "{} polls", polls.get());
    }
}
