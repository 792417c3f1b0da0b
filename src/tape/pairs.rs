//! What a tape's lines mean together: each request with its answer (paired by id, either
//! direction) and the server's notifications it caused, plus the notifications nobody asked for.
//!
//! Attribution (the format has no stream id): a `notifications/progress` goes to the open
//! request whose `params._meta.progressToken` it carries; another server notification goes to
//! the one client request open at that moment; anything else is unsolicited. Batches (a `msg`
//! array) are left out.
//!
//! Not here: reading the file (`read.rs`), numbers (`stats.rs`), replaying (`script.rs`).

use std::collections::HashMap;

use serde_json::Value;

use super::format::Direction;
use super::read::Entry;

/// A request, its answer when recorded, and the notifications sent for it.
#[derive(Debug, Clone)]
pub struct Pair<'t> {
    /// The request.
    pub request: &'t Entry,
    /// Its answer (`None`: none recorded).
    pub answer: Option<&'t Entry>,
    /// Server notifications sent for it before the answer, in order.
    pub notes: Vec<&'t Entry>,
}

impl Pair<'_> {
    /// Microseconds from the request to its answer.
    pub fn latency_us(&self) -> Option<u64> {
        self.answer
            .map(|a| a.t_us.saturating_sub(self.request.t_us))
    }

    /// Whether the answer is a JSON-RPC error.
    pub fn is_error(&self) -> bool {
        self.answer.is_some_and(|a| a.msg.get("error").is_some())
    }
}

/// The tape's exchanges.
#[derive(Debug, Clone, Default)]
pub struct Exchanges<'t> {
    /// Requests (either direction) in the order they were sent.
    pub pairs: Vec<Pair<'t>>,
    /// Server notifications attributed to no request.
    pub unsolicited: Vec<&'t Entry>,
    /// Client notifications (`notifications/initialized`, cancellations, …).
    pub client_notes: Vec<&'t Entry>,
}

/// Pairs the entries of one tape.
pub fn exchanges(entries: &[Entry]) -> Exchanges<'_> {
    let mut out = Exchanges::default();
    // (direction of the request, id as text) -> index in out.pairs, while unanswered.
    let mut open: HashMap<(bool, String), usize> = HashMap::new();
    for entry in entries {
        let c2s = entry.dir == Direction::ClientToServer;
        if entry.is_request() {
            let key = (c2s, id_key(entry.id()));
            open.insert(key, out.pairs.len());
            out.pairs.push(Pair {
                request: entry,
                answer: None,
                notes: Vec::new(),
            });
        } else if entry.is_answer() {
            if let Some(index) = open.remove(&(!c2s, id_key(entry.id()))) {
                out.pairs[index].answer = Some(entry);
            }
        } else if entry.method().is_some() && c2s {
            out.client_notes.push(entry);
        } else if entry.method().is_some() {
            match owner(&out.pairs, &open, entry) {
                Some(index) => out.pairs[index].notes.push(entry),
                None => out.unsolicited.push(entry),
            }
        }
    }
    out
}

/// The request a server notification belongs to, if any.
fn owner(pairs: &[Pair<'_>], open: &HashMap<(bool, String), usize>, note: &Entry) -> Option<usize> {
    let client_open = || open.iter().filter(|((c2s, _), _)| *c2s).map(|(_, &i)| i);
    if let Some(token) = note.msg.pointer("/params/progressToken") {
        return client_open().find(|&i| progress_token(pairs[i].request) == Some(token));
    }
    let mut candidates = client_open();
    match (candidates.next(), candidates.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// A request's `params._meta.progressToken`.
pub fn progress_token(request: &Entry) -> Option<&Value> {
    request.msg.pointer("/params/_meta/progressToken")
}

/// An id as a map key (`1` and `"1"` differ).
pub fn id_key(id: Option<&Value>) -> String {
    id.map(Value::to_string).unwrap_or_default()
}

/// What a request is about, for people: the method, and the tool, prompt or resource
/// (control characters from the tape shown as spaces: no terminal escapes).
pub fn subject(msg: &Value) -> String {
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("?");
    let detail = ["/params/name", "/params/uri"]
        .iter()
        .find_map(|p| msg.pointer(p).and_then(Value::as_str));
    printable(&match detail {
        Some(d) => format!("{method} {d}"),
        None => method.to_owned(),
    })
}

/// `text` with its control characters (escape sequences, new lines) as spaces: safe to print
/// on a terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::tape::{fixture, Tape};

    #[test]
    fn requests_pair_with_answers_and_progress() {
        let tape = Tape::parse(Path::new("t"), fixture::session(0).as_bytes()).unwrap();
        let ex = exchanges(&tape.entries);
        assert_eq!(ex.pairs.len(), 4);
        assert!(ex.pairs.iter().all(|p| p.answer.is_some()));
        assert_eq!(ex.pairs[2].notes.len(), 1);
        assert_eq!(ex.pairs[2].latency_us(), Some(4000));
        assert!(ex.pairs[3].is_error());
        assert_eq!(ex.client_notes.len(), 1);
        assert!(ex.unsolicited.is_empty());
        assert_eq!(subject(&ex.pairs[2].request.msg), "tools/call slow");
        let hostile =
            serde_json::json!({"method":"x\u{1b}]0;owned\u{7}","params":{"name":"\u{1b}[2J"}});
        assert_eq!(subject(&hostile), "x ]0;owned   [2J");
    }
}
