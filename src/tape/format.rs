//! The tape format's types, one to one with docs/tapes.md: the [`Header`] (first line of a
//! tape) and a message [`Line`]. Serialized with serde; a reader ignores fields it does not know.
//!
//! Not here: where tapes live, writing or rotating them, reading whole files.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The format version a header's `shadowcat_tape` holds.
pub const TAPE_VERSION: u32 = 1;

/// The first line of a tape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// The format version: [`TAPE_VERSION`].
    pub shadowcat_tape: u32,
    /// The hashed session id (`sha256:` + 32 hex digits), or `connection:<start_us>-<shard>-<n>` for
    /// stateless traffic.
    pub session: String,
    /// The route's path.
    pub route: String,
    /// The upstream's name.
    pub upstream: String,
    /// The client side's transport: `streamable_http`, `legacy_sse`, `stdio` or `modern`.
    pub transport: String,
    /// The negotiated protocol version when known at the start.
    pub protocol_version: Option<String>,
    /// The first message's time, RFC 3339 UTC with microseconds.
    pub started: String,
    /// The first message's time, Unix microseconds.
    pub started_us: u64,
    /// The shard that wrote the tape.
    pub shard: usize,
    /// 1 for a session's first file, 2… after a size rotation.
    pub part: u32,
    /// Whether the tape is still being written, complete, or stopped by an error.
    pub status: Status,
}

/// A tape's state, kept in its header.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Still being written (or the writer died: a crash leaves this).
    Recording,
    /// The session ended and every line was written.
    Complete,
    /// A write error stopped the tape; later messages are missing.
    Failed,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// Server to client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

/// One message line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Line {
    /// Unix microseconds when the message crossed the proxy.
    pub t_us: u64,
    /// Which way it went.
    pub dir: Direction,
    /// The message as it crossed the proxy (absent when it was not valid JSON: see `raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<Box<RawValue>>,
    /// The bytes of a message that was not valid JSON, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// What went on when an interception rule changed the message: `Some(None)` (`null`) when a
    /// rule blocked or answered it, absent when it went on as it arrived.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "forwarded_field"
    )]
    pub forwarded: Option<Option<Box<RawValue>>>,
    /// The HTTP facts (absent for stdio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpFacts>,
    /// The JSON pointers removed from `msg` by `redact`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
}

/// The HTTP facts of a message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HttpFacts {
    /// The request method (`c2s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The response status (`s2c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `application/json` or `text/event-stream` (`s2c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The SSE event id the message came with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// `forwarded`: absent, `null`, or a message — serde folds `null` into an absent `Option`
/// unless told apart.
mod forwarded_field {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::value::RawValue;

    type Field = Option<Option<Box<RawValue>>>;

    pub(super) fn serialize<S: Serializer>(
        value: &Field,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Field, D::Error> {
        Option::<Box<RawValue>>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_line_reads_back() {
        let text = r#"{"t_us":5,"dir":"s2c","msg":{"jsonrpc":"2.0","id":1,"result":{}},"http":{"status":200,"content_type":"text/event-stream","event_id":"0"}}"#;
        let line: Line = serde_json::from_str(text).unwrap();
        assert_eq!(line.dir, Direction::ServerToClient);
        assert_eq!(
            line.msg.as_deref().map(RawValue::get),
            Some(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
        );
        assert!(line.forwarded.is_none());
        let again = serde_json::to_string(&line).unwrap();
        assert_eq!(again, text);
    }

    #[test]
    fn a_blocked_message_keeps_its_null_forwarded() {
        let text = r#"{"t_us":5,"dir":"c2s","msg":{"jsonrpc":"2.0","id":1,"method":"x"},"forwarded":null}"#;
        let line: Line = serde_json::from_str(text).unwrap();
        assert!(matches!(line.forwarded, Some(None)));
        let again = serde_json::to_string(&line).unwrap();
        assert_eq!(again, text);
    }

    #[test]
    fn a_padded_header_reads_back() {
        let text = r#"{"shadowcat_tape":1,"session":"sha256:00","route":"default","upstream":"u","transport":"streamable_http","protocol_version":null,"started":"2026-12-07T11:18:00.000000Z","started_us":1,"shard":0,"part":1,"status":"recording"      }"#;
        let header: Header = serde_json::from_str(text).unwrap();
        assert_eq!(header.status, Status::Recording);
        assert_eq!(header.shadowcat_tape, TAPE_VERSION);
    }
}
