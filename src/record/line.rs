//! One message line of a tape, written straight into a shard's pending buffer: the message's
//! own bytes embedded as the `msg` JSON value (line breaks between tokens become spaces), or
//! `raw` text when the bytes are not JSON, then `forwarded`, the HTTP facts and `redacted`
//! (docs/tapes.md).
//!
//! Not here: removing the `redact` pointers (redact.rs), the header (header.rs), which buffer.
//! Hot path: appends to the caller's buffer, allocates nothing else (a message's JSON check
//! is `serde_json` with `IgnoredAny`: no value is built).

use std::io::Write;

use crate::tape::format::Direction;

/// The HTTP facts of one message (docs/tapes.md `http`); `None` fields are not written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http<'a> {
    /// The request method (`c2s`).
    pub method: Option<&'static str>,
    /// The response status (`s2c`).
    pub status: Option<u16>,
    /// `application/json` or `text/event-stream` (`s2c`).
    pub content_type: Option<&'static str>,
    /// The SSE event id the message came with.
    pub event_id: Option<&'a [u8]>,
}

/// What the `forwarded` field says: absent, `null`, or a message.
pub type Forwarded<'a> = Option<Option<&'a [u8]>>;

/// One line's parts.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    /// Unix microseconds.
    pub t_us: u64,
    /// Which way.
    pub dir: Direction,
    /// The message's bytes.
    pub msg: &'a [u8],
    /// Whether `msg` is known to be valid JSON (the proxy inspected it); otherwise it is
    /// checked here.
    pub valid: bool,
    /// What went on, when a rule changed the message.
    pub forwarded: Forwarded<'a>,
    /// The HTTP facts (`None`: stdio).
    pub http: Option<Http<'a>>,
    /// The pointers removed from `msg` (and `forwarded`).
    pub redacted: &'a [&'a str],
}

/// Appends `parts` as one line (ending in `\n`) to `out`.
pub fn append(out: &mut Vec<u8>, parts: &Parts<'_>) {
    let dir = match parts.dir {
        Direction::ClientToServer => "c2s",
        Direction::ServerToClient => "s2c",
    };
    let _ = write!(out, "{{\"t_us\":{},\"dir\":\"{dir}\",", parts.t_us);
    value(out, "msg", parts.msg, parts.valid);
    match parts.forwarded {
        None => {}
        Some(None) => out.extend_from_slice(b",\"forwarded\":null"),
        Some(Some(bytes)) => {
            out.push(b',');
            value(out, "forwarded", bytes, false);
        }
    }
    if let Some(http) = &parts.http {
        http_facts(out, http);
    }
    if !parts.redacted.is_empty() {
        out.extend_from_slice(b",\"redacted\":");
        let _ = serde_json::to_writer(&mut *out, parts.redacted);
    }
    out.extend_from_slice(b"}\n");
}

/// Writes `"<name>":<bytes>` when `bytes` is JSON, else (for `msg`) `"raw":"<text>"`, or for
/// another field the text as a JSON string.
fn value(out: &mut Vec<u8>, name: &str, bytes: &[u8], valid: bool) {
    let bytes = bytes.trim_ascii();
    if is_json(bytes, valid) {
        field(out, name);
        // Valid JSON holds a raw line break only between tokens, where a space is the same.
        out.extend(
            bytes
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
    } else {
        field(out, if name == "msg" { "raw" } else { name });
        let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(bytes));
    }
}

/// Writes `"<name>":`.
fn field(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Whether `bytes` may be embedded as a JSON value that every reader accepts: UTF-8 (checked
/// always: the proxy's own JSON check skips strings' bytes), JSON (checked unless `valid`),
/// and without a lone UTF-16 surrogate escape (`"\ud800"`, checked by a full parse only when
/// the bytes hold something like one).
fn is_json(bytes: &[u8], valid: bool) -> bool {
    if bytes.is_empty() || std::str::from_utf8(bytes).is_err() {
        return false;
    }
    if !valid && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
        return false;
    }
    !maybe_surrogate(bytes) || serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

/// Whether `bytes` hold a `\uD800`–`\uDFFF` escape (or what looks like one).
fn maybe_surrogate(bytes: &[u8]) -> bool {
    memchr::memmem::find_iter(bytes, b"\\u").any(|at| {
        matches!(
            bytes.get(at + 2..at + 4),
            Some([b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'])
        )
    })
}

/// Writes `,"http":{...}`.
fn http_facts(out: &mut Vec<u8>, http: &Http<'_>) {
    out.extend_from_slice(b",\"http\":{");
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    if let Some(method) = http.method {
        sep(out);
        let _ = write!(out, "\"method\":\"{method}\"");
    }
    if let Some(status) = http.status {
        sep(out);
        let _ = write!(out, "\"status\":{status}");
    }
    if let Some(content_type) = http.content_type {
        sep(out);
        let _ = write!(out, "\"content_type\":\"{content_type}\"");
    }
    if let Some(id) = http.event_id {
        sep(out);
        out.extend_from_slice(b"\"event_id\":");
        let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(id));
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::format::Line;

    fn line(parts: &Parts<'_>) -> String {
        let mut out = Vec::new();
        append(&mut out, parts);
        String::from_utf8(out).unwrap()
    }

    fn parts(msg: &[u8]) -> Parts<'_> {
        Parts {
            t_us: 7,
            dir: Direction::ServerToClient,
            msg,
            valid: false,
            forwarded: None,
            http: None,
            redacted: &[],
        }
    }

    #[test]
    fn keeps_the_bytes_and_reads_back() {
        let msg = b"{\"jsonrpc\":\"2.0\",\n \"id\":1,\r\n\"result\":{\"text\":\"a\\nb\"}}\n";
        let http = Http {
            status: Some(200),
            content_type: Some("text/event-stream"),
            event_id: Some(b"ev\"1"),
            ..Http::default()
        };
        let text = line(&Parts {
            http: Some(http),
            ..parts(msg)
        });
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        let read: Line = serde_json::from_str(&text).unwrap();
        assert_eq!(
            read.msg.unwrap().get(),
            "{\"jsonrpc\":\"2.0\",  \"id\":1,  \"result\":{\"text\":\"a\\nb\"}}"
        );
        let http = read.http.unwrap();
        assert_eq!(http.event_id.as_deref(), Some("ev\"1"));
        assert_eq!(http.status, Some(200));
        assert!(http.method.is_none());
    }

    #[test]
    fn not_json_is_raw_text() {
        let text = line(&parts(b"{\"id\":1,\xff\n"));
        let read: Line = serde_json::from_str(&text).unwrap();
        assert!(read.msg.is_none());
        assert_eq!(read.raw.as_deref(), Some("{\"id\":1,\u{fffd}"));
    }

    /// Bytes the reader would refuse are written as `raw`, whatever the caller said: invalid
    /// UTF-8 inside a string, a lone surrogate escape. A surrogate pair stays a message.
    #[test]
    fn what_readers_refuse_is_raw() {
        for msg in [
            &b"{\"id\":1,\"params\":{\"x\":\"\xff\"}}"[..],
            br#"{"id":1,"params":{"x":"\ud800"}}"#,
            br#"{"id":1,"params":{"x":"\uDC00a"}}"#,
        ] {
            for valid in [true, false] {
                let text = line(&Parts {
                    valid,
                    ..parts(msg)
                });
                let read: Line = serde_json::from_str(&text).unwrap();
                assert!(read.msg.is_none(), "{text}");
                assert!(read.raw.is_some(), "{text}");
                assert!(reads_back(&text), "{text}");
            }
        }
        let pair = br#"{"id":1,"params":{"x":"\ud83d\ude00","y":"\\ud800"}}"#;
        let text = line(&Parts {
            valid: true,
            ..parts(pair)
        });
        let read: Line = serde_json::from_str(&text).unwrap();
        assert!(read.msg.is_some(), "{text}");
        assert!(reads_back(&text), "{text}");
    }

    /// Whether `tape verify`'s reader takes `text` as a sound message line.
    fn reads_back(text: &str) -> bool {
        let (header, _) = crate::record::header::line(
            &crate::record::TapeInfo {
                session: "connection:0-0".into(),
                route: "/mcp".into(),
                upstream: "main".into(),
                transport: "stdio",
                protocol_version: None,
            },
            1,
            0,
            1,
            crate::tape::format::Status::Complete,
        );
        let data = [&header[..], text.as_bytes()].concat();
        let tape = crate::tape::read::Tape::parse(std::path::Path::new("t"), &data).unwrap();
        tape.is_sound()
    }

    #[test]
    fn forwarded_and_redacted() {
        let blocked = line(&Parts {
            forwarded: Some(None),
            dir: Direction::ClientToServer,
            http: Some(Http {
                method: Some("POST"),
                ..Http::default()
            }),
            ..parts(b"{\"id\":1}")
        });
        let read: Line = serde_json::from_str(&blocked).unwrap();
        assert!(matches!(read.forwarded, Some(None)));
        assert_eq!(read.http.unwrap().method.as_deref(), Some("POST"));
        let changed = line(&Parts {
            forwarded: Some(Some(b"{\"id\":2}")),
            redacted: &["/params/x"],
            ..parts(b"{\"id\":1}")
        });
        let read: Line = serde_json::from_str(&changed).unwrap();
        assert_eq!(read.forwarded.unwrap().unwrap().get(), "{\"id\":2}");
        assert_eq!(read.redacted, vec!["/params/x".to_owned()]);
    }
}
