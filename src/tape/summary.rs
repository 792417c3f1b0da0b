//! One line about a tape for `tape list`: session, start, duration, messages, bytes, the client's
//! and server's names (from the `initialize` request and answer), status.
//!
//! Not here: finding tapes (`files.rs`), printing (`cli`).

use serde::Serialize;
use serde_json::Value;

use super::read::Tape;

/// What `tape list` shows about a session (all its parts together).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// The hashed session id.
    pub session: String,
    /// RFC 3339 start.
    pub started: String,
    /// Unix microseconds of the start.
    pub started_us: u64,
    /// From the first message to the last, microseconds.
    pub duration_us: u64,
    /// Message lines.
    pub messages: usize,
    /// File bytes.
    pub bytes: u64,
    /// `name version` from the client's `initialize`.
    pub client: Option<String>,
    /// `name version` from the server's `initialize` answer.
    pub server: Option<String>,
    /// The last part's status (`recording`, `complete`, `failed`), `+problems` when a part has any.
    pub status: String,
    /// How many files.
    pub parts: usize,
    /// The files, in part order.
    pub files: Vec<String>,
}

/// The summary of one session from its parts (in part order; at least one).
pub fn summarize(parts: &[Tape]) -> Option<Summary> {
    let first = parts.first()?;
    let last = parts.last()?;
    let entries = parts.iter().flat_map(|t| t.entries.iter());
    let initialize = entries
        .clone()
        .find(|e| e.method() == Some("initialize") && e.is_request());
    let client = initialize.and_then(|e| name(e.msg.pointer("/params/clientInfo")));
    let server = initialize.and_then(|request| {
        entries
            .clone()
            .find(|e| e.is_answer() && e.id() == request.id() && e.dir != request.dir)
            .and_then(|e| name(e.msg.pointer("/result/serverInfo")))
    });
    let mut status = serde_json::to_value(last.header.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if parts.iter().any(|t| !t.is_sound()) {
        status.push_str("+problems");
    }
    Some(Summary {
        session: first.header.session.clone(),
        started: first.header.started.clone(),
        started_us: first.started_us(),
        duration_us: last.ended_us().saturating_sub(first.started_us()),
        messages: parts.iter().map(|t| t.entries.len()).sum(),
        bytes: parts.iter().map(|t| t.bytes).sum(),
        client,
        server,
        status,
        parts: parts.len(),
        files: parts.iter().map(|t| t.path.display().to_string()).collect(),
    })
}

/// `name version` of an `Implementation` object.
fn name(info: Option<&Value>) -> Option<String> {
    let info = info?;
    let name = info.get("name").and_then(Value::as_str)?;
    Some(match info.get("version").and_then(Value::as_str) {
        Some(version) => format!("{name} {version}"),
        None => name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::tape::fixture;

    #[test]
    fn names_come_from_initialize() {
        let tape = Tape::parse(Path::new("t"), fixture::session(5).as_bytes()).unwrap();
        let summary = summarize(&[tape]).unwrap();
        assert_eq!(summary.client.as_deref(), Some("mcp 1.0"));
        assert_eq!(summary.server.as_deref(), Some("shadowcat-demo 0.1.0"));
        assert_eq!(summary.messages, 10);
        assert_eq!(summary.duration_us, 12000);
        assert_eq!(summary.status, "complete");
    }
}
