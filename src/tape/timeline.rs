//! `tape show`: one event per message, relative time, direction, method/id/tool and a short
//! summary of a result or error, as text for people or as JSON values.
//!
//! Not here: reading (`read.rs`), printing (`cli`).

use serde::Serialize;
use serde_json::Value;

use super::format::Direction;
use super::pairs::subject;
use super::read::{Entry, Tape};

/// Longest summary text kept.
const SUMMARY_CHARS: usize = 80;

/// One message of the timeline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// Milliseconds since the tape's start.
    pub t_ms: f64,
    /// `c2s` or `s2c`.
    pub dir: Direction,
    /// `request`, `answer`, `error`, `notification`, `batch` or `raw`.
    pub kind: &'static str,
    /// The JSON-RPC id, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Method (and tool/prompt/resource) of requests and notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A short text about the content.
    pub summary: String,
}

/// The tape's events in file order.
pub fn events(tape: &Tape) -> Vec<Event> {
    tape.entries
        .iter()
        .map(|e| event(e, tape.started_us()))
        .collect()
}

fn event(entry: &Entry, start: u64) -> Event {
    let msg = &entry.msg;
    let (kind, summary) = if let Some(raw) = &entry.raw {
        ("raw", short(raw))
    } else if let Value::Array(items) = msg {
        ("batch", format!("{} messages", items.len()))
    } else if entry.is_request() || entry.method().is_some() {
        let kind = if entry.is_request() {
            "request"
        } else {
            "notification"
        };
        let args = ["/params/arguments", "/params"]
            .iter()
            .find_map(|p| msg.pointer(p))
            .map(|v| short(&v.to_string()))
            .unwrap_or_default();
        (kind, args)
    } else if let Some(error) = msg.get("error") {
        let code = error.get("code").map(Value::to_string).unwrap_or_default();
        let text = error.get("message").and_then(Value::as_str).unwrap_or("");
        ("error", short(&format!("{code} {text}")))
    } else {
        ("answer", result_summary(msg.get("result")))
    };
    let summary = match &entry.forwarded {
        None => summary,
        Some(Some(_)) => format!("[changed by a rule] {summary}"),
        Some(None) => format!("[stopped by a rule] {summary}"),
    };
    Event {
        t_ms: entry.t_us.saturating_sub(start) as f64 / 1000.0,
        dir: entry.dir,
        kind,
        id: entry.id().cloned(),
        subject: entry.method().map(|_| subject(msg)),
        summary,
    }
}

/// A result in a few words: tool text, list sizes, or the JSON itself cut short.
fn result_summary(result: Option<&Value>) -> String {
    let Some(result) = result else {
        return String::new();
    };
    if let Some(content) = result.get("content").and_then(Value::as_array) {
        let texts: Vec<&str> = content
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect();
        let flag = if result.get("isError") == Some(&Value::Bool(true)) {
            "isError "
        } else {
            ""
        };
        return short(&format!("{flag}{}", texts.join(" | ")));
    }
    for list in ["tools", "prompts", "resources", "resourceTemplates"] {
        if let Some(items) = result.get(list).and_then(Value::as_array) {
            return format!("{} {list}", items.len());
        }
    }
    if let Some(info) = result.get("serverInfo") {
        return short(&format!("serverInfo {info}"));
    }
    short(&result.to_string())
}

/// `text` cut to [`SUMMARY_CHARS`] characters, on one line.
fn short(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(SUMMARY_CHARS) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}

/// One event as a text line: `+12.345ms → #1 tools/call echo  {"text":"hi"}`.
pub fn text_line(event: &Event) -> String {
    let arrow = match event.dir {
        Direction::ClientToServer => "→",
        Direction::ServerToClient => "←",
    };
    let id = event
        .id
        .as_ref()
        .map(|id| format!("#{id} "))
        .unwrap_or_default();
    let what = match (&event.subject, event.kind) {
        (Some(s), _) => s.clone(),
        (None, kind) => kind.to_owned(),
    };
    format!(
        "{:>12.3}ms {arrow} {id}{what}  {}",
        event.t_ms, event.summary
    )
    .trim_end()
    .to_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::tape::fixture;

    #[test]
    fn events_read_like_a_conversation() {
        let tape = Tape::parse(Path::new("t"), fixture::session(0).as_bytes()).unwrap();
        let lines: Vec<String> = events(&tape).iter().map(text_line).collect();
        assert!(lines[0].contains("→ #0 initialize"), "{}", lines[0]);
        assert!(lines[1].contains("← #0 answer  serverInfo"), "{}", lines[1]);
        assert!(lines[7].contains("← #2 answer  done"), "{}", lines[7]);
        assert!(
            lines[9].contains("← #3 error  -32602 Unknown tool: nope"),
            "{}",
            lines[9]
        );
        assert!(lines[6].contains("notifications/progress"), "{}", lines[6]);
    }
}
