//! JSON-RPC batches (a POST body that is an array of messages), which MCP 2025-03-26 servers must
//! receive and 2025-06-18 removed: splitting the array, answering each request in order, and the
//! one reply that carries every answer (a JSON array, or an SSE stream when a call streams
//! progress or the server answers with SSE).
//!
//! Not here: the checks every POST passes first (`mod.rs`), one message's parsing (`message.rs`)
//! and method routing (`dispatch.rs`).

use std::fmt;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::dispatch;
use super::error::DemoError;
use super::message::{self, Message, Rejected, RequestId};
use super::reply::{self, Outcome};
use super::{DemoReply, SseStep};

/// One entry of a batch: a message, or why it is not one (answered with an error entry).
pub(super) type Entry<'a> = Result<Message<'a>, Rejected<'a>>;

/// Most messages in one batch: the proxy's own bound (`mcp::inspect`), so a batch the proxy
/// passes is one the demo answers.
const MAX_ENTRIES: usize = crate::mcp::MAX_BATCH_LEN;

/// Most SSE steps (messages and pauses) one batch's answer holds, so a batch of many `slow`
/// calls cannot build an unbounded reply: about two `slow` calls at their largest.
const MAX_STEPS: usize = 4096;

/// Reads `body` as a batch; `None` when it is not an array (one message: `message::parse`). A
/// body that is not JSON, or an empty array, is one error for the whole POST (JSON-RPC 2.0 §6).
pub(super) fn parse(body: &[u8]) -> Option<Result<Vec<Entry<'_>>, Rejected<'_>>> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first != Some(&b'[') {
        return None;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Some(Err(DemoError::Parse.into()));
    };
    let entries = match serde_json::from_str::<Bounded<'_>>(text) {
        Ok(Bounded(entries)) if entries.is_empty() => Err(DemoError::InvalidRequest),
        Ok(Bounded(entries)) => Ok(entries.into_iter().map(entry).collect()),
        Err(error) if error.is_data() => Err(DemoError::BatchTooLarge),
        Err(_) => Err(DemoError::Parse),
    };
    Some(entries.map_err(Rejected::from))
}

/// The array's elements, unparsed; more than [`MAX_ENTRIES`] is an error as soon as it is seen
/// (no allocation for the rest of a huge body).
struct Bounded<'a>(Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Bounded<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(BoundedVisitor(std::marker::PhantomData))
    }
}

struct BoundedVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for BoundedVisitor<'a> {
    type Value = Bounded<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "an array of at most {MAX_ENTRIES} messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if entries.len() == MAX_ENTRIES {
                return Err(serde::de::Error::invalid_length(MAX_ENTRIES + 1, &self));
            }
            entries.push(raw);
        }
        Ok(Bounded(entries))
    }
}

/// One element: an object is read as a message; anything else (a number, a nested array) is an
/// invalid request.
fn entry(raw: &RawValue) -> Entry<'_> {
    let text = raw.get();
    if text.starts_with('{') {
        message::parse(text.as_bytes())
    } else {
        Err(DemoError::InvalidRequest.into())
    }
}

/// Answers every request of the batch in order (notifications and responses get nothing; an
/// `initialize` is refused, as it must come alone; a `slow` call past [`MAX_STEPS`] gets an
/// error). Nothing to answer: 202. A call that streams (`slow`), or `sse`: one SSE stream with
/// every message in order. Else a JSON array.
pub(super) fn answer(entries: Vec<Entry<'_>>, sse: bool) -> DemoReply {
    let mut steps = Vec::with_capacity(entries.len());
    let mut streams = sse;
    for entry in entries {
        let (id, method, params) = match entry {
            Ok(Message::NoReply) => continue,
            Ok(Message::Request { id, method, params }) => (id, method, params),
            Err(Rejected { error, id }) => {
                steps.push(error_step(id.as_ref(), &error));
                continue;
            }
        };
        let outcome = if method == dispatch::INITIALIZE {
            Err(DemoError::InitializeInBatch)
        } else {
            dispatch::request(&id, &method, params)
        };
        match outcome {
            Ok(Outcome::Reply(body)) => steps.push(SseStep::Message(body)),
            Ok(Outcome::Stream(more)) if steps.len() + more.len() > MAX_STEPS => {
                let error = DemoError::InvalidParams {
                    field: "arguments.steps",
                    problem: "exceeds what is left of the batch's 4096 steps",
                };
                steps.push(error_step(Some(&id), &error));
            }
            Ok(Outcome::Stream(more)) => {
                streams = true;
                steps.extend(more);
            }
            Err(error) => steps.push(error_step(Some(&id), &error)),
        }
    }
    if steps.is_empty() {
        return DemoReply::Accepted;
    }
    if streams {
        return DemoReply::Sse {
            session_id: None,
            steps,
        };
    }
    let mut body = Vec::with_capacity(steps.len() * 64);
    body.push(b'[');
    for step in steps {
        if let SseStep::Message(message) = step {
            if body.len() > 1 {
                body.push(b',');
            }
            body.extend_from_slice(&message);
        }
    }
    body.push(b']');
    DemoReply::Json {
        status: 200,
        body,
        session_id: None,
    }
}

/// An error entry of the answer, naming the request's id when it was readable.
fn error_step(id: Option<&RequestId<'_>>, error: &DemoError) -> SseStep {
    SseStep::Message(reply::error_message(id, error))
}
