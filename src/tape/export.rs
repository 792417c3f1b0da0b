//! `tape export`: a tape as JSON Lines (one `{time, t_us, dir, msg}` object per message), as a
//! HAR 1.2 log (one entry per request/answer pair, the bodies as the messages) or as Markdown.
//!
//! Not here: reading (`read.rs`), pairing (`pairs.rs`), writing the output (`cli`).

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

use super::format::{Direction, Header};
use super::pairs::{exchanges, subject, Pair};
use super::read::{Tape, MAX_T_US};
use super::timeline::{events, text_line};

/// RFC 3339 UTC with microseconds of a Unix-microseconds time (the year 9999's end at the
/// latest: RFC 3339 has four-digit years).
pub fn rfc3339(t_us: u64) -> String {
    let t_us = t_us.min(MAX_T_US);
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(t_us)).to_string()
}

/// One JSON object per message, `\n` after each.
pub fn jsonl(tape: &Tape) -> String {
    let mut out = String::new();
    for e in &tape.entries {
        let mut line = json!({"time": rfc3339(e.t_us), "t_us": e.t_us, "dir": e.dir, "msg": e.msg});
        if let Some(raw) = &e.raw {
            line["raw"] = Value::String(raw.clone());
        }
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// A HAR 1.2 log: one entry per request and its answer.
pub fn har(tape: &Tape) -> Value {
    // HAR wants a URL: an HTTP upstream's, else a URN naming the upstream.
    let upstream = &tape.header.upstream;
    let url = if upstream.starts_with("http://") || upstream.starts_with("https://") {
        upstream.clone()
    } else {
        format!("urn:shadowcat:upstream:{upstream}")
    };
    let entries: Vec<Value> = exchanges(&tape.entries)
        .pairs
        .iter()
        .map(|pair| har_entry(pair, &url))
        .collect();
    json!({"log": {
        "version": "1.2",
        "creator": {"name": "shadowcat", "version": env!("CARGO_PKG_VERSION")},
        "pages": [],
        "comment": format!("shadowcat tape of session {}", tape.header.session),
        "entries": entries,
    }})
}

fn har_entry(pair: &Pair<'_>, url: &str) -> Value {
    let request = pair.request;
    let body = request.msg.to_string();
    let c2s = request.dir == Direction::ClientToServer;
    let method = request
        .http
        .as_ref()
        .and_then(|h| h.method.clone())
        .unwrap_or_else(|| "POST".into());
    let (status, content_type, answer) = match pair.answer {
        Some(a) => {
            let http = a.http.clone().unwrap_or_default();
            let ct = http
                .content_type
                .unwrap_or_else(|| "application/json".into());
            (http.status.unwrap_or(200), ct, a.msg.to_string())
        }
        None => (0, "application/json".into(), String::new()),
    };
    let wait_ms = pair.latency_us().map_or(-1.0, |us| us as f64 / 1000.0);
    json!({
        "startedDateTime": rfc3339(request.t_us),
        "time": wait_ms.max(0.0),
        "comment": format!("{} {}", if c2s { "client→server" } else { "server→client" }, subject(&request.msg)),
        "request": {
            "method": method, "url": url, "httpVersion": "HTTP/1.1",
            "cookies": [], "headers": [{"name": "Content-Type", "value": "application/json"}],
            "queryString": [], "headersSize": -1, "bodySize": body.len(),
            "postData": {"mimeType": "application/json", "text": body},
        },
        "response": {
            "status": status, "statusText": "", "httpVersion": "HTTP/1.1",
            "cookies": [], "headers": [{"name": "Content-Type", "value": content_type}],
            "content": {"size": answer.len(), "mimeType": content_type, "text": answer},
            "redirectURL": "", "headersSize": -1, "bodySize": answer.len(),
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait_ms.max(0.0), "receive": 0},
    })
}

/// The header's facts for people, in order: route, upstream, transport, protocol, started,
/// part, status.
pub fn header_facts(h: &Header) -> [(&'static str, String); 7] {
    [
        ("route", h.route.clone()),
        ("upstream", h.upstream.clone()),
        ("transport", h.transport.clone()),
        (
            "protocol",
            h.protocol_version.clone().unwrap_or_else(|| "-".into()),
        ),
        ("started", h.started.clone()),
        ("part", h.part.to_string()),
        ("status", format!("{:?}", h.status).to_lowercase()),
    ]
}

/// A Markdown document: the header as a table, then the timeline with each message in full.
pub fn markdown(tape: &Tape) -> String {
    let mut out = format!("# Tape {}\n\n| | |\n|---|---|\n", tape.header.session);
    for (name, value) in header_facts(&tape.header) {
        out.push_str(&format!("| {name} | {value} |\n"));
    }
    out.push_str("\n## Messages\n");
    for (event, entry) in events(tape).iter().zip(&tape.entries) {
        let body = match &entry.raw {
            Some(raw) => raw.clone(),
            None => serde_json::to_string_pretty(&entry.msg).unwrap_or_default(),
        };
        out.push_str(&format!(
            "\n### `{}`\n\n```json\n{body}\n```\n",
            text_line(event).trim()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::tape::fixture;

    fn tape() -> Tape {
        Tape::parse(
            Path::new("t"),
            fixture::session(1_796_642_280_000_000).as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn har_has_one_entry_per_exchange() {
        let har = har(&tape());
        let entries = har["log"]["entries"].as_array().unwrap();
        assert_eq!(har["log"]["version"], "1.2");
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0]["startedDateTime"], "2026-12-07T11:18:00.000000Z");
        let answer: Value =
            serde_json::from_str(entries[2]["response"]["content"]["text"].as_str().unwrap())
                .unwrap();
        assert_eq!(answer["result"]["content"][0]["text"], "done");
        assert_eq!(entries[2]["time"], 4.0);
    }

    #[test]
    fn jsonl_and_markdown_hold_every_message() {
        let t = tape();
        assert_eq!(jsonl(&t).lines().count(), 10);
        let md = markdown(&t);
        assert_eq!(md.matches("```json").count(), 10);
        assert!(md.contains("Unknown tool: nope"));
    }
}
