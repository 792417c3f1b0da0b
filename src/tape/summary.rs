//! One line about a tape for `tape list`: session, start, duration, messages, bytes, the client's
//! and server's names (from the `initialize` request and answer), status; from the parts'
//! streamed summaries (`scan.rs`).
//!
//! Not here: finding tapes (`files.rs`), printing (`cli`).

use serde::Serialize;

use super::scan::FileSummary;

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
pub fn summarize(parts: &[FileSummary]) -> Option<Summary> {
    let first = parts.first()?;
    let last = parts.last()?;
    let mut status = serde_json::to_value(last.header.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if parts.iter().any(|t| !t.sound) {
        status.push_str("+problems");
    }
    let ended = parts.iter().map(|t| t.ended_us).max().unwrap_or(0);
    Some(Summary {
        session: first.header.session.clone(),
        started: first.header.started.clone(),
        started_us: first.started_us(),
        duration_us: ended.saturating_sub(first.started_us()),
        messages: parts.iter().map(|t| t.messages).sum(),
        bytes: parts.iter().map(|t| t.bytes).sum(),
        client: parts.iter().find_map(|t| t.client.clone()),
        server: parts.iter().find_map(|t| t.server.clone()),
        status,
        parts: parts.len(),
        files: parts.iter().map(|t| t.path.display().to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::fixture;
    use crate::tape::scan::scan;

    #[test]
    fn names_come_from_initialize() {
        let path = std::env::temp_dir().join(format!(
            "shadowcat-summary-{}.tape.jsonl",
            std::process::id()
        ));
        std::fs::write(&path, fixture::session(5)).unwrap();
        let file = scan(&path);
        let _ = std::fs::remove_file(&path);
        let summary = summarize(&[file.unwrap()]).unwrap();
        assert_eq!(summary.client.as_deref(), Some("mcp 1.0"));
        assert_eq!(summary.server.as_deref(), Some("shadowcat-demo 0.1.0"));
        assert_eq!(summary.messages, 10);
        assert_eq!(summary.duration_us, 12000);
        assert_eq!(summary.status, "complete");
    }
}
