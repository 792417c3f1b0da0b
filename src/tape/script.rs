//! A tape as a replay script: the client's recorded requests, each with the answer and the
//! notifications the server sent for it, matched against a live client's requests by method and
//! canonical params (keys sorted, `params._meta` left out; `initialize` by method alone), then
//! by order among equals. The server's messages are played as the client got them (`forwarded`
//! when an interception rule changed one; one a rule stopped is left out). Pure: the server
//! that plays it adds transport, sessions and clocks.
//!
//! Not here: pairing (`pairs.rs`), HTTP (the demo module's tape backend).

use serde_json::{json, Map, Value};

use super::format::Direction;
use super::pairs::exchanges;
use super::read::{Entry, Tape};

/// JSON-RPC error code of a request no recorded one matches (implementation-defined range).
pub const NO_MATCH: i64 = -32000;

/// Longest canonical params text compared when looking for the closest request.
const COMPARE_CHARS: usize = 512;

/// One recorded client request.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    key: String,
    params: Value,
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
#[derive(Debug, Clone)]
pub struct Script {
    recorded: Vec<Recorded>,
    unsolicited: Vec<Step>,
}

/// Per-client progress through a script: which recorded requests were answered.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    used: Vec<bool>,
}

impl Script {
    /// The script of `tape` (its client requests; requests the server sent are left out).
    pub fn new(tape: &Tape) -> Script {
        let ex = exchanges(&tape.entries);
        let recorded = ex
            .pairs
            .iter()
            .filter(|p| p.request.dir == Direction::ClientToServer)
            .map(|pair| {
                let params = pair
                    .request
                    .msg
                    .get("params")
                    .cloned()
                    .unwrap_or(Value::Null);
                let method = pair.request.method().unwrap_or_default().to_owned();
                let (notes, last) = paced(pair.request.t_us, &pair.notes);
                Recorded {
                    key: key(&method, &params),
                    method,
                    params,
                    answer: pair.answer.and_then(|a| a.went_on().cloned()),
                    notes,
                    answer_after_us: pair.answer.map_or(0, |a| a.t_us.saturating_sub(last)),
                }
            })
            .collect();
        let (unsolicited, _) = paced(tape.started_us(), &ex.unsolicited);
        Script {
            recorded,
            unsolicited,
        }
    }

    /// A script with nothing recorded: every request gets the no-match error.
    pub fn empty() -> Script {
        Script {
            recorded: Vec::new(),
            unsolicited: Vec::new(),
        }
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
        cursor.used.resize(self.recorded.len(), false);
        let method = request
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let wanted = key(method, &params);
        let equal = |r: &&Recorded| r.key == wanted && r.answer.is_some();
        let fresh = self
            .recorded
            .iter()
            .enumerate()
            .find(|(i, r)| !cursor.used[*i] && equal(r));
        let found = fresh.or_else(|| self.recorded.iter().enumerate().rfind(|(_, r)| equal(r)));
        let Some((index, recorded)) = found else {
            return Reply::NoMatch(self.no_match(request, method, &params));
        };
        cursor.used[index] = true;
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let token = request.pointer("/params/_meta/progressToken");
        let notes = recorded
            .notes
            .iter()
            .filter_map(|(after, note)| Some((*after, retoken(note, token)?)))
            .collect();
        let mut answer = recorded.answer.clone().unwrap_or(Value::Null);
        answer["id"] = id;
        Reply::Recorded {
            notes,
            answer: (recorded.answer_after_us, answer),
        }
    }

    /// The error answering an unmatched request, naming the closest recorded one.
    fn no_match(&self, request: &Value, method: &str, params: &Value) -> Value {
        let wanted = canonical(&strip_meta(params)).to_string();
        let same_method = self.recorded.iter().filter(|r| r.method == method);
        let closest = same_method
            .min_by_key(|r| distance(&canonical(&strip_meta(&r.params)).to_string(), &wanted))
            .or_else(|| {
                self.recorded
                    .iter()
                    .min_by_key(|r| distance(&r.method, method))
            });
        let (message, data) = match closest {
            Some(r) => {
                let params = strip_meta(&r.params);
                (
                    format!(
                        "shadowcat replay: no recorded request matches {method} {wanted}; closest recorded: {} {}",
                        r.method,
                        canonical(&params)
                    ),
                    json!({"closest": {"method": r.method, "params": params}}),
                )
            }
            None => (
                format!("shadowcat replay: no recorded request matches {method} {wanted}; the tape holds no client request"),
                Value::Null,
            ),
        };
        json!({"jsonrpc": "2.0", "id": request.get("id").cloned().unwrap_or(Value::Null),
               "error": {"code": NO_MATCH, "message": message, "data": data}})
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

/// A progress notification carries the client's token; without one it is not sent. Other
/// notifications go as recorded.
fn retoken(note: &Value, token: Option<&Value>) -> Option<Value> {
    if note.get("method").and_then(Value::as_str) != Some("notifications/progress") {
        return Some(note.clone());
    }
    let mut note = note.clone();
    note["params"]["progressToken"] = token?.clone();
    Some(note)
}

/// The match key of a request: the method, and for anything but `initialize` the canonical
/// params.
fn key(method: &str, params: &Value) -> String {
    if method == "initialize" {
        return method.to_owned();
    }
    format!("{method} {}", canonical(&strip_meta(params)))
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

/// Edit distance between the first [`COMPARE_CHARS`] characters of `a` and `b`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(COMPARE_CHARS).collect();
    let b: Vec<char> = b.chars().take(COMPARE_CHARS).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
