//! Shared helpers for the demo's request-level tests: a server, well-formed POSTs, and reply readers.

use serde_json::Value;

use super::{DemoMcp, DemoOptions, DemoReply, PostRequest, SseStep};

/// The key every test server uses.
pub(super) const SECRET: u64 = 0x0123_4567_89ab_cdef;
/// An `Accept` the transport takes.
pub(super) const ACCEPT: &[u8] = b"application/json, text/event-stream";
/// A `Content-Type` the transport takes.
pub(super) const JSON: &[u8] = b"application/json";

pub(super) fn demo(sse: bool) -> DemoMcp {
    DemoMcp::new(DemoOptions {
        sse,
        secret: SECRET,
    })
}

/// A POST with good `Accept` and `Content-Type`, the given session, and no version header.
pub(super) fn post<'a>(session_id: Option<&'a str>, body: &'a str) -> PostRequest<'a> {
    PostRequest {
        session_id: session_id.map(str::as_bytes),
        protocol_version: None,
        accept: Some(ACCEPT),
        content_type: Some(JSON),
        body: body.as_bytes(),
    }
}

/// Runs `initialize` and returns the minted session id.
pub(super) fn session(demo: &DemoMcp) -> String {
    let body = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    match demo.post(post(None, body)) {
        DemoReply::Json {
            session_id: Some(id),
            ..
        }
        | DemoReply::Sse {
            session_id: Some(id),
            ..
        } => id,
        other => panic!("initialize failed: {other:?}"),
    }
}

pub(super) fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(bytes)))
}

/// The JSON-RPC message of a 200 reply, whether it came as JSON or as a one-message SSE stream.
pub(super) fn single_message(reply: DemoReply) -> Value {
    match reply {
        DemoReply::Json {
            status: 200, body, ..
        } => json(&body),
        DemoReply::Sse { steps, .. } => match steps.as_slice() {
            [SseStep::Message(body)] => json(body),
            other => panic!("expected one message, got {other:?}"),
        },
        other => panic!("expected a 200 reply, got {other:?}"),
    }
}

/// Status and JSON body of a non-200 reply.
pub(super) fn status_reply(reply: DemoReply) -> (u16, Option<Value>) {
    match reply {
        DemoReply::Status { status, body, .. } => (status, body.as_deref().map(json)),
        other => panic!("expected a Status reply, got {other:?}"),
    }
}

/// Sends one request (id 1) on a fresh session of a JSON-mode server; returns the response message.
pub(super) fn call(method: &str, params: &str) -> Value {
    let demo = demo(false);
    let id = session(&demo);
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    single_message(demo.post(post(Some(&id), &body)))
}

/// The `field` of each entry of the array `list` (e.g. tool names).
pub(super) fn names<'v>(list: &'v Value, field: &str) -> Vec<&'v str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|entry| entry[field].as_str().unwrap())
        .collect()
}
