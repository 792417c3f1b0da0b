//! JSON-RPC batches (a POST body that is an array of messages), which MCP 2025-03-26 servers must
//! receive and 2025-06-18 removed: splitting the array, answering each request in order, and the
//! one reply that carries every answer (a JSON array, or an SSE stream when a call streams
//! progress or the server answers with SSE).
//!
//! Not here: the checks every POST passes first (`mod.rs`), one message's parsing (`message.rs`)
//! and method routing (`dispatch.rs`).

use serde_json::value::RawValue;

use super::dispatch;
use super::error::DemoError;
use super::message::{self, Message, Rejected};
use super::reply::{self, Outcome};
use super::{DemoReply, SseStep};

/// One entry of a batch: a message, or why it is not one (answered with an error entry).
pub(super) type Entry<'a> = Result<Message<'a>, Rejected<'a>>;

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
    let entries: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(entries) => entries,
        Err(_) => return Some(Err(DemoError::Parse.into())),
    };
    if entries.is_empty() {
        return Some(Err(DemoError::InvalidRequest.into()));
    }
    Some(Ok(entries.into_iter().map(entry).collect()))
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
/// `initialize` is refused, as it must come alone). Nothing to answer: 202. A call that streams
/// (`slow`), or `sse`: one SSE stream with every message in order. Else a JSON array.
pub(super) fn answer(entries: Vec<Entry<'_>>, sse: bool) -> DemoReply {
    let mut steps = Vec::with_capacity(entries.len());
    let mut streams = sse;
    for entry in entries {
        let (id, method, params) = match entry {
            Ok(Message::NoReply) => continue,
            Ok(Message::Request { id, method, params }) => (id, method, params),
            Err(Rejected { error, id }) => {
                steps.push(SseStep::Message(reply::error_message(id.as_ref(), &error)));
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
            Ok(Outcome::Stream(more)) => {
                streams = true;
                steps.extend(more);
            }
            Err(error) => steps.push(SseStep::Message(reply::error_message(Some(&id), &error))),
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
