//! A 2025-03-26 batch on a translated session: the modern upstream has no batches, so the batch
//! is split and each element takes the path a single message takes (post.rs, call.rs): requests
//! go upstream concurrently, each with its own MRTR rounds; `ping`, `logging/setLevel` and
//! subscriptions are answered here; notifications and the client's responses are acted on at
//! once. The client gets one answer: the reply array in request order, as JSON, or as the last
//! SSE event after the calls' progress and server→client requests.
//!
//! Not here: deciding a batch is allowed (crate::proxy::post: 2025-03-26 sessions only), the
//! reply array and its SSE framing (crate::proxy::stdio::batch::Replies), the exchange with
//! the upstream (call.rs).
//! Allocates per batch: the element list, one boxed future per upstream call, the replies.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::TcpStream;
use serde_json::value::RawValue;

use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::{jsonrpc, Inspected, JsonRpcId, Kind};

use super::super::error::ProxyError;
use super::super::post::{facts, Facts};
use super::super::respond::error_message;
use super::super::state::ShardState;
use super::super::stdio::answer::{write_empty, ClientShape};
use super::super::stdio::batch::{error_reply, Replies};
use super::call;
use super::post::{deliver, local, notified};
use super::session::L2mSession;
use super::sink::{failure_error, refusal_error, Sink};
use super::upstream::AuthRefusal;

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
    client: &mut HttpConn<TcpStream>,
    head: &RequestHead,
    body: &[u8],
    batch: &Facts,
    session: &Rc<L2mSession>,
) -> Result<bool, ProxyError> {
    let shape = ClientShape {
        keep_alive: head.keep_alive(),
        http11: head.minor_version() == 1,
        session: None,
    };
    // The elements' own bytes, as the client wrote them, beside their facts (the inspector
    // read every element: each is policed and routed as a single message is).
    let elements: Vec<&RawValue> =
        serde_json::from_slice(body).map_err(|_| ProxyError::BatchNotAllowed)?;
    if elements.len() != batch.elements.len() {
        return Err(ProxyError::Internal(
            "batch elements and their facts disagree",
        ));
    }
    let mut slots = Vec::with_capacity(elements.len());
    let mut calls: Vec<(&[u8], Facts)> = Vec::new();
    let mut ids = HashSet::new();
    for (element, info) in elements.into_iter().zip(&batch.elements) {
        let bytes = element.get().as_bytes();
        let facts = facts(Inspected::Single(info.clone()));
        match (facts.kind, facts.id.clone()) {
            (Some(Kind::Request), Some(id)) => {
                match refused(session, &mut ids, &id, &facts)
                    .or_else(|| local(session, bytes, &facts))
                {
                    Some(reply) => slots.push(Slot::Ready(reply)),
                    None => {
                        slots.push(Slot::Call(calls.len()));
                        calls.push((bytes, facts));
                    }
                }
            }
            (Some(Kind::Response | Kind::ErrorResponse), _) => deliver(session, &facts, bytes),
            _ => notified(session, &facts),
        }
    }
    if slots.is_empty() {
        // Only notifications and responses.
        return write_empty(state, client, 202, shape).await;
    }

    let (messages, queued) = local_channel::new_bounded::<Vec<u8>>(QUEUED_MESSAGES);
    let run = async move {
        let pending = calls
            .iter()
            .map(|(bytes, facts)| Box::pin(element(state, &messages, head, bytes, facts, session)))
            .collect();
        let done = join_all(pending).await;
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

/// One request of the batch served upstream; its reply (`None`: cancelled by the client).
async fn element(
    state: &Rc<ShardState>,
    messages: &LocalSender<Vec<u8>>,
    head: &RequestHead,
    body: &[u8],
    facts: &Facts,
    session: &Rc<L2mSession>,
) -> Option<Vec<u8>> {
    let sink = Element { messages };
    match call::serve(state, sink, head, body, facts, session).await {
        Ok(reply) => reply,
        Err(e) => {
            let mut reply = Vec::with_capacity(128);
            error_message(&mut reply, &e, facts.id.as_ref());
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

    async fn refused(
        self,
        _state: &ShardState,
        id: &JsonRpcId,
        refusal: AuthRefusal,
    ) -> Result<Self::Done, ProxyError> {
        let (code, text) = refusal_error(&refusal);
        Ok(Some(error_reply(id, code, &text)))
    }

    async fn failed(
        self,
        _state: &ShardState,
        id: &JsonRpcId,
        error: ProxyError,
    ) -> Result<Self::Done, ProxyError> {
        let (code, text) = failure_error(&error);
        Ok(Some(error_reply(id, code, &text)))
    }
}

/// Runs `futures` concurrently on this task; their outputs in the same order. Each wake polls
/// the unfinished ones (a batch holds a handful of calls).
async fn join_all<F: Future + ?Sized>(mut futures: Vec<Pin<Box<F>>>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;

    use futures_lite::future::{block_on, yield_now};

    use super::join_all;

    #[test]
    fn join_all_runs_side_by_side_and_keeps_the_order() {
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
        assert_eq!(block_on(join_all(futures)), vec!["waited", "set"]);
    }

    #[test]
    fn join_all_of_nothing_is_empty() {
        let none: Vec<Pin<Box<dyn Future<Output = u8>>>> = Vec::new();
        assert!(block_on(join_all(none)).is_empty());
    }
}
