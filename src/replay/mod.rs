//! `shadowcat replay TAPE --target`: regression testing of an MCP server against a tape. The
//! client side of the tape (initialize, initialized, then every request and notification in
//! order, with the recorded ids, each as it reached the server: changed by an interception rule
//! when one did, left out when one stopped it) goes to the live server; each answer is compared
//! with the recorded one (`diff.rs`: ids, `_meta`, timestamp-looking values and `--ignore` pointers
//! excluded; the HTTP status too when the tape holds one) and every difference printed. A
//! request the tape holds no answer for (a cancelled one) is sent and not awaited; batches are
//! not replayed (a line says so).
//!
//! Layer: above `tape`, beside `cli` (which calls it). Not here: serving a tape (`--bind`: the
//! demo module's tape backend).

pub mod diff;
pub mod http;
pub mod stdio;

use serde_json::Value;

use crate::tape::pairs::{exchanges, subject};
use crate::tape::{Direction, Entry, Tape};
use diff::differences;
use http::{HttpLink, Received};
use stdio::StdioLink;

/// Where the live server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Streamable HTTP server (http:// URL).
    Http(String),
    /// A stdio server: program and arguments.
    Stdio(Vec<String>),
}

enum Link {
    Http(HttpLink),
    Stdio(StdioLink),
}

impl Link {
    /// Sends `message`, awaiting its answer when it is a request and `await_answer`.
    fn send(&mut self, message: &Value, await_answer: bool) -> Result<Received, String> {
        match self {
            Link::Http(link) => link.send(message, await_answer),
            Link::Stdio(link) => link.send(message, await_answer).map(|messages| Received {
                status: None,
                messages,
            }),
        }
    }

    fn close(&mut self) {
        match self {
            Link::Http(link) => link.close(),
            Link::Stdio(link) => link.close(),
        }
    }
}

/// Replays `tape` against `target`, printing differences on stdout. `Ok(true)` when every
/// answer equals the recorded one.
///
/// # Errors
/// A bad `--ignore` pointer, a server that cannot be reached or stops answering.
pub fn run_target(tape: &Tape, target: &Target, ignore: &[String]) -> Result<bool, String> {
    if let Some(bad) = ignore.iter().find(|p| !p.starts_with('/')) {
        return Err(format!(
            "--ignore {bad}: a JSON pointer starts with /, e.g. /result/content/0/text"
        ));
    }
    let mut link = match target {
        Target::Http(url) => Link::Http(HttpLink::new(url)?),
        Target::Stdio(command) => Link::Stdio(StdioLink::start(command)?),
    };
    let result = replay(tape, &mut link, ignore);
    link.close();
    let (requests, differing) = result?;
    let verdict = if differing == 0 {
        "all answers equal the tape".to_owned()
    } else {
        format!("{differing} answer(s) differ")
    };
    let ignoring = if ignore.is_empty() {
        String::new()
    } else {
        format!(" (ignoring {})", ignore.join(", "))
    };
    println!("{requests} request(s) replayed: {verdict}{ignoring}");
    Ok(differing == 0)
}

/// Sends the client side in order; returns (requests sent, answers differing).
fn replay(tape: &Tape, link: &mut Link, ignore: &[String]) -> Result<(usize, usize), String> {
    let ex = exchanges(&tape.entries);
    let mut answers = ex
        .pairs
        .iter()
        .filter(|p| p.request.dir == Direction::ClientToServer)
        .map(|p| (p.request, p.answer));
    let (mut requests, mut differing) = (0, 0);
    for entry in tape
        .entries
        .iter()
        .filter(|e| e.dir == Direction::ClientToServer && e.raw.is_none())
    {
        if entry.msg.is_array() {
            println!("batch (line {}) not replayed", entry.line_no);
            continue;
        }
        // What reached the server (a rule may have changed or stopped it).
        let (Some(sent), Some(_)) = (entry.went_on(), entry.method()) else {
            continue;
        };
        let recorded = if entry.is_request() {
            answers
                .find(|(request, _)| std::ptr::eq(*request, entry))
                .and_then(|(_, a)| a)
        } else {
            None
        };
        let received = link
            .send(sent, recorded.is_some())
            .map_err(|e| format!("{} (line {}): {e}", subject(&entry.msg), entry.line_no))?;
        if !entry.is_request() {
            continue;
        }
        requests += 1;
        let Some(recorded) = recorded else {
            println!(
                "? {}: no answer on the tape (cancelled?): sent, not awaited",
                heading(entry)
            );
            continue;
        };
        if compare(entry, recorded, &received, ignore) {
            differing += 1;
        }
    }
    Ok((requests, differing))
}

/// Prints how the live answer differs from the recorded one; `true` when it does.
fn compare(entry: &Entry, recorded: &Entry, received: &Received, ignore: &[String]) -> bool {
    let live = received
        .messages
        .iter()
        .rfind(|m| m.get("id") == entry.id() && m.get("method").is_none());
    let recorded_status = recorded.http.as_ref().and_then(|h| h.status);
    let status_differs = match (recorded_status, received.status) {
        (Some(a), Some(b)) => a != b,
        (None, Some(b)) => !(200..300).contains(&b),
        _ => false,
    };
    let found = live.map(|live| differences(&recorded.msg, live, ignore));
    if !status_differs && found.as_ref().is_some_and(Vec::is_empty) {
        return false;
    }
    println!("≠ {}", heading(entry));
    if status_differs {
        let was = recorded_status.map_or("-".to_owned(), |s| s.to_string());
        let now = received.status.map_or("-".to_owned(), |s| s.to_string());
        println!("    HTTP status: recorded {was} · live {now}");
    }
    match found {
        None => println!("    no answer from the server"),
        Some(found) => {
            for d in found {
                println!(
                    "    {}: recorded {} · live {}",
                    d.pointer,
                    shown(d.recorded.as_ref()),
                    shown(d.live.as_ref())
                );
            }
        }
    }
    true
}

/// `#2 tools/call echo (line 5)`: which recorded request.
fn heading(entry: &Entry) -> String {
    let id = entry.id().map(Value::to_string).unwrap_or_default();
    format!("#{id} {} (line {})", subject(&entry.msg), entry.line_no)
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), Value::to_string)
}
