//! A tape as a replay script: the client's recorded requests, each with the answer and the
//! notifications the server sent for it, matched against a live client's requests by method and
//! canonical params (keys sorted, `params._meta` left out; `initialize` by method alone), then
//! by order among equals. The server's messages are played as the client got them (`forwarded`
//! when an interception rule changed one; one a rule stopped is left out). Pure: the server
//! that plays it adds transport, sessions and clocks.
//!
//! Not here: pairing (`pairs.rs`), HTTP (the demo module's tape backend).

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::format::Direction;
use super::pairs::exchanges;
use super::read::{Entry, Tape};

/// JSON-RPC error code of a request no recorded one matches (implementation-defined range).
pub const NO_MATCH: i64 = -32000;

/// Longest canonical params text compared (and quoted) when looking for the closest request.
const COMPARE_CHARS: usize = 512;

/// Most recorded requests (or methods) compared when looking for the closest request: an
/// unmatched request costs a bounded time whatever the tape's size.
const MAX_CANDIDATES: usize = 64;

/// One recorded client request.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    /// The canonical params (`_meta` left out), as text.
    canon: String,
    params: Value,
    /// The answer as the client got it: always a JSON object (anything else is left out).
    answer: Option<Value>,
    /// Notifications with the microseconds since the previous step (request or notification).
    notes: Vec<(u64, Value)>,
    /// Microseconds from the last step to the answer.
    answer_after_us: u64,
}

/// A message after a pause (microseconds, as recorded).
pub type Step = (u64, Value);

/// What the script answers a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The recorded notifications (progress tokens set to the client's), then the answer with
    /// the client's id after its pause.
    Recorded {
        /// Notifications before the answer.
        notes: Vec<Step>,
        /// The answer and the pause before it.
        answer: Step,
    },
    /// A JSON-RPC error naming the closest recorded request.
    NoMatch(Value),
}

/// The replay script of one tape.
#[derive(Debug, Clone, Default)]
pub struct Script {
    recorded: Vec<Recorded>,
    /// Match key -> the recorded requests with an answer holding it, in order.
    by_key: HashMap<String, Vec<usize>>,
    /// Method -> the first few recorded requests with it (closest-request candidates).
    by_method: HashMap<String, Vec<usize>>,
    unsolicited: Vec<Step>,
}

/// Per-client progress through a script: which recorded requests were answered (only those
/// are held: a client that asks little costs little).
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    used: HashSet<usize>,
}

impl Script {
    /// The script of `tape` (its client requests; requests the server sent are left out).
    pub fn new(tape: &Tape) -> Script {
        Script::of_tapes(std::slice::from_ref(tape))
    }

    /// The script of a session recorded in several parts (`tapes` in part order).
    pub fn of_tapes(tapes: &[Tape]) -> Script {
        let entries: Vec<Entry> = tapes
            .iter()
            .flat_map(|t| t.entries.iter().cloned())
            .collect();
        let ex = exchanges(&entries);
        let mut script = Script::default();
        for pair in ex
            .pairs
            .iter()
            .filter(|p| p.request.dir == Direction::ClientToServer)
        {
            let params = pair
                .request
                .msg
                .get("params")
                .cloned()
                .unwrap_or(Value::Null);
            let method = pair.request.method().unwrap_or_default().to_owned();
            let (notes, last) = paced(pair.request.t_us, &pair.notes);
            let answer = pair
                .answer
                .and_then(|a| a.went_on().cloned())
                .filter(Value::is_object);
            let canon = canonical(&strip_meta(&params)).to_string();
            let index = script.recorded.len();
            if answer.is_some() {
                script
                    .by_key
                    .entry(key(&method, &canon))
                    .or_default()
                    .push(index);
            }
            let same = script.by_method.entry(method.clone()).or_default();
            if same.len() < MAX_CANDIDATES {
                same.push(index);
            }
            script.recorded.push(Recorded {
                method,
                canon,
                params,
                answer,
                notes,
                answer_after_us: pair.answer.map_or(0, |a| a.t_us.saturating_sub(last)),
            });
        }
        let started = tapes.first().map_or(0, Tape::started_us);
        script.unsolicited = paced(started, &ex.unsolicited).0;
        script
    }

    /// A script with nothing recorded: every request gets the no-match error.
    pub fn empty() -> Script {
        Script::default()
    }

    /// The server's notifications sent outside any request, with their pauses.
    pub fn unsolicited(&self) -> &[Step] {
        &self.unsolicited
    }

    /// The recorded `initialize` answer's result, when there is one.
    pub fn initialize_result(&self) -> Option<&Value> {
        self.recorded
            .iter()
            .find(|r| r.method == "initialize")
            .and_then(|r| r.answer.as_ref()?.get("result"))
    }

    /// Answers the client request `request` (a JSON-RPC request object), moving `cursor` on.
    /// The first recorded request with the same method and canonical params not answered yet
    /// wins; once all were, the last of them answers again.
    pub fn reply(&self, cursor: &mut Cursor, request: &Value) -> Reply {
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let wanted = canonical(&strip_meta(&params)).to_string();
        let equal = self
            .by_key
            .get(&key(method, &wanted))
            .map_or(&[][..], Vec::as_slice);
        let found = equal
            .iter()
            .find(|i| !cursor.used.contains(*i))
            .or_else(|| equal.last());
        let Some((index, recorded)) = found.and_then(|&i| Some((i, self.recorded.get(i)?))) else {
            return Reply::NoMatch(self.no_match(request, method, &wanted));
        };
        cursor.used.insert(index);
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let token = request.pointer("/params/_meta/progressToken");
        let notes = recorded
            .notes
            .iter()
            .filter_map(|(after, note)| Some((*after, retoken(note, token)?)))
            .collect();
        let mut answer = recorded.answer.clone().unwrap_or_else(|| json!({}));
        if let Some(object) = answer.as_object_mut() {
            object.insert("id".into(), id);
        }
        Reply::Recorded {
            notes,
            answer: (recorded.answer_after_us, answer),
        }
    }

    /// The error answering an unmatched request, naming the closest recorded one: among at
    /// most [`MAX_CANDIDATES`] with the same method, else among as many methods.
    fn no_match(&self, request: &Value, method: &str, wanted: &str) -> Value {
        let closest = match self.by_method.get(method) {
            Some(same) => same
                .iter()
                .filter_map(|&i| self.recorded.get(i))
                .min_by_key(|r| distance(&r.canon, wanted)),
            None => self
                .by_method
                .iter()
                .take(MAX_CANDIDATES)
                .min_by_key(|(m, _)| (distance(m, method), m.as_str()))
                .and_then(|(_, same)| self.recorded.get(*same.first()?)),
        };
        let wanted = clip(wanted);
        let (message, data) = match closest {
            Some(r) => (
                format!(
                    "shadowcat replay: no recorded request matches {method} {wanted}; closest recorded: {} {}",
                    r.method,
                    clip(&r.canon)
                ),
                json!({"closest": {"method": r.method, "params": strip_meta(&r.params)}}),
            ),
            None => (
                format!("shadowcat replay: no recorded request matches {method} {wanted}; the tape holds no client request"),
                Value::Null,
            ),
        };
        json!({"jsonrpc": "2.0", "id": request.get("id").cloned().unwrap_or(Value::Null),
               "error": {"code": NO_MATCH, "message": message, "data": data}})
    }
}

/// At most [`COMPARE_CHARS`] characters of `text`, `…` when cut.
fn clip(text: &str) -> String {
    match text.char_indices().nth(COMPARE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `entries` as steps, each with the microseconds since the one before (the first: since
/// `start`), and the last one's time.
fn paced(start: u64, entries: &[&Entry]) -> (Vec<Step>, u64) {
    let mut last = start;
    let steps = entries
        .iter()
        .filter_map(|e| {
            let step = (e.t_us.saturating_sub(last), e.went_on()?.clone());
            last = e.t_us;
            Some(step)
        })
        .collect();
    (steps, last)
}

/// A progress notification carries the client's token; without one (or without params to put
/// it in) it is not sent. Other notifications go as recorded.
fn retoken(note: &Value, token: Option<&Value>) -> Option<Value> {
    if note.get("method").and_then(Value::as_str) != Some("notifications/progress") {
        return Some(note.clone());
    }
    let mut note = note.clone();
    note.get_mut("params")?
        .as_object_mut()?
        .insert("progressToken".into(), token?.clone());
    Some(note)
}

/// The match key of a request: the method, and for anything but `initialize` the canonical
/// params (as text).
fn key(method: &str, canon: &str) -> String {
    if method == "initialize" {
        return method.to_owned();
    }
    format!("{method} {canon}")
}

/// `params` without its `_meta` (progress tokens and the like differ between clients); no
/// params and `{}` are the same (`null`).
pub fn strip_meta(params: &Value) -> Value {
    let mut params = params.clone();
    if let Some(object) = params.as_object_mut() {
        object.remove("_meta");
        if object.is_empty() {
            return Value::Null;
        }
    }
    params
}

/// `value` with every object's keys sorted (whatever map the JSON library uses).
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let sorted: Map<String, Value> = keys
                .into_iter()
                .map(|k| (k.clone(), canonical(&object[k])))
                .collect();
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A cheap distance between `a` and `b` (linear, on at most [`COMPARE_CHARS`] characters of
/// each): the characters outside their common prefix and suffix.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(COMPARE_CHARS).collect();
    let b: Vec<char> = b.chars().take(COMPARE_CHARS).collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    let suffix = ra
        .iter()
        .rev()
        .zip(rb.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    ra.len() + rb.len() - 2 * suffix
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
