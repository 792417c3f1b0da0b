//! `shadowcat replay TAPE --bind`: a tape served as an MCP server behind the demo server's HTTP
//! loop (the proxy in front gives it every client transport). Each `initialize` mints a
//! session with its own [`Cursor`] through the script; answers come as JSON, or as an SSE
//! stream paced by the recorded pauses (scaled by `--speed`) when the request had recorded
//! notifications; a GET stream carries the unsolicited notifications once per session. `ping`
//! is answered `{}` whatever the tape holds. A tape split into parts plays whole. Past
//! [`MAX_SESSIONS`] the least recently used session goes.
//!
//! Not here: matching requests to recorded ones (`crate::tape::script`), sockets (`server.rs`).
//! State is per shard (`RefCell`): `replay` runs one shard.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::{DemoReply, SseStep, ALLOWED_METHODS};
use crate::config::ReplaySource;
use crate::mcp::jsonrpc::SESSION_NOT_FOUND;
use crate::tape::files::open_session;
use crate::tape::script::{Cursor, Reply, Script, Step};

/// Live sessions kept; past this the least recently used one is dropped.
const MAX_SESSIONS: usize = 10_000;

/// One client session of the replay.
#[derive(Debug, Default)]
struct Session {
    cursor: Cursor,
    /// Whether its GET stream already carried the unsolicited notifications.
    streamed: bool,
    /// When it was last used (the backend's tick).
    used: u64,
}

/// A tape played as an MCP server.
#[derive(Debug)]
pub(super) struct TapeBackend {
    script: Box<Script>,
    speed_millionths: u64,
    sessions: RefCell<HashMap<String, Session>>,
    /// Live sessions kept at most ([`MAX_SESSIONS`]).
    max_sessions: usize,
    /// Counts session uses: the least recently used session is the one with the smallest.
    tick: Cell<u64>,
}

impl TapeBackend {
    /// The backend playing `source`; a tape that cannot be read anymore (it was checked at
    /// start) plays as an empty one, every request answered with the no-match error.
    pub(super) fn new(source: &ReplaySource) -> TapeBackend {
        let script = match open_session(&source.tape) {
            Ok(tape) => Script::new(&tape),
            Err(error) => {
                tracing::error!(%error, "replay: cannot read the tape; answering every request with an error");
                Script::empty()
            }
        };
        TapeBackend {
            script: Box::new(script),
            speed_millionths: source.speed_millionths,
            sessions: RefCell::new(HashMap::new()),
            max_sessions: MAX_SESSIONS,
            tick: Cell::new(0),
        }
    }

    /// Answers one POST body for `session` (the `Mcp-Session-Id` header).
    pub(super) fn post(&self, session: Option<&[u8]>, body: &[u8]) -> DemoReply {
        let message: Value = match serde_json::from_slice(body) {
            Ok(m @ Value::Object(_)) => m,
            Ok(_) => {
                return error_status(
                    400,
                    -32600,
                    "shadowcat replay: send one JSON-RPC message per POST (no batches)",
                )
            }
            Err(_) => return error_status(400, -32700, "Parse error"),
        };
        let is_request =
            message.get("method").is_some() && message.get("id").is_some_and(|id| !id.is_null());
        if message.get("method").and_then(Value::as_str) == Some("initialize") && is_request {
            return self.initialize(&message);
        }
        let Some(key) = session.and_then(|s| std::str::from_utf8(s).ok()) else {
            return error_status(
                400,
                -32600,
                "Bad Request: Mcp-Session-Id header is required",
            );
        };
        let mut sessions = self.sessions.borrow_mut();
        let Some(state) = sessions.get_mut(key) else {
            return error_status(404, SESSION_NOT_FOUND, "Session not found");
        };
        state.used = self.next_tick();
        if !is_request {
            return DemoReply::Accepted;
        }
        if message.get("method").and_then(Value::as_str) == Some("ping") {
            // Answered whether the tape holds one or not (the spec wants `{}`).
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            let pong = serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {}});
            return DemoReply::Json {
                status: 200,
                body: pong.to_string().into_bytes(),
                session_id: None,
            };
        }
        let reply = self.script.reply(&mut state.cursor, &message);
        drop(sessions);
        self.play(reply, None)
    }

    fn initialize(&self, message: &Value) -> DemoReply {
        let id = match super::session_id::mint(0) {
            Ok(id) => id,
            Err(_) => return error_status(500, -32603, "no random source for a session id"),
        };
        let mut session = Session {
            used: self.next_tick(),
            ..Session::default()
        };
        let reply = self.script.reply(&mut session.cursor, message);
        if matches!(reply, Reply::NoMatch(_)) {
            // No session for an initialize the tape cannot answer.
            return self.play(reply, None);
        }
        let mut sessions = self.sessions.borrow_mut();
        if sessions.len() >= self.max_sessions {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), session);
        drop(sessions);
        self.play(reply, Some(id))
    }

    fn next_tick(&self) -> u64 {
        let tick = self.tick.get() + 1;
        self.tick.set(tick);
        tick
    }

    /// The GET stream: the unsolicited notifications once, then 405.
    pub(super) fn get(&self, session: Option<&[u8]>) -> DemoReply {
        let key = session.and_then(|s| std::str::from_utf8(s).ok());
        let mut sessions = self.sessions.borrow_mut();
        let Some(state) = key.and_then(|k| sessions.get_mut(k)) else {
            return error_status(404, SESSION_NOT_FOUND, "Session not found");
        };
        if state.streamed || self.script.unsolicited().is_empty() {
            return DemoReply::Status {
                status: 405,
                body: None,
                allow: Some(ALLOWED_METHODS),
            };
        }
        state.streamed = true;
        state.used = self.next_tick();
        let mut steps = Vec::new();
        for step in self.script.unsolicited() {
            self.push(&mut steps, step);
        }
        DemoReply::Sse {
            session_id: None,
            steps,
        }
    }

    /// Ends a session: 200, or 404 for an unknown one.
    pub(super) fn delete(&self, session: Option<&[u8]>) -> DemoReply {
        let key = session.and_then(|s| std::str::from_utf8(s).ok());
        match key.and_then(|k| self.sessions.borrow_mut().remove(k)) {
            Some(_) => DemoReply::Status {
                status: 200,
                body: None,
                allow: None,
            },
            None => error_status(404, SESSION_NOT_FOUND, "Session not found"),
        }
    }

    /// A script reply as HTTP: JSON when nothing comes before the answer, else SSE with pauses.
    fn play(&self, reply: Reply, session_id: Option<String>) -> DemoReply {
        let (notes, answer) = match reply {
            Reply::Recorded { notes, answer } => (notes, answer),
            Reply::NoMatch(error) => {
                return DemoReply::Json {
                    status: 200,
                    body: error.to_string().into_bytes(),
                    session_id,
                }
            }
        };
        if notes.is_empty() {
            return DemoReply::Json {
                status: 200,
                body: answer.1.to_string().into_bytes(),
                session_id,
            };
        }
        let mut steps = Vec::new();
        for step in notes.iter().chain(std::iter::once(&answer)) {
            self.push(&mut steps, step);
        }
        DemoReply::Sse { session_id, steps }
    }

    /// A recorded step: its pause scaled by `--speed`, then its message.
    fn push(&self, steps: &mut Vec<SseStep>, (after_us, message): &Step) {
        if self.speed_millionths > 0 && *after_us > 0 {
            let us = u128::from(*after_us) * 1_000_000 / u128::from(self.speed_millionths);
            steps.push(SseStep::Delay(Duration::from_micros(
                u64::try_from(us).unwrap_or(u64::MAX),
            )));
        }
        steps.push(SseStep::Message(message.to_string().into_bytes()));
    }
}

/// An HTTP error with a JSON-RPC error body (id null).
fn error_status(status: u16, code: i32, message: &str) -> DemoReply {
    let mut body = Vec::with_capacity(96 + message.len());
    crate::mcp::write_error(&mut body, None, code, message, None);
    DemoReply::Status {
        status,
        body: Some(body),
        allow: None,
    }
}

#[cfg(test)]
#[path = "tape_backend_tests.rs"]
mod tests;
