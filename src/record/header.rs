//! A tape's first line and its place on disk: [`TapeInfo`] (what the header says about the
//! session), the header line with its `status` padded so it can be overwritten in place
//! ([`status_patch`]), and the file name `DIR/YYYY-MM-DD/<start>-<session>[.<part>].tape.jsonl`.
//!
//! Not here: message lines (line.rs), writing (writer.rs).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::tape::format::{Header, Status, TAPE_VERSION};

/// Spaces after the status value: room for the longest status (`"recording"`) to be
/// overwritten by a shorter one.
const PAD: usize = 10;

/// The longest status value, quoted.
const LONGEST: &str = "\"recording\"";

/// What a tape's header says about its session (one per tape, built when it opens).
#[derive(Debug, Clone)]
pub struct TapeInfo {
    /// `sha256:…` of the session id, or `connection:<start_us>-<shard>-<n>`.
    pub session: String,
    /// The route's name.
    pub route: String,
    /// The upstream's name or URL.
    pub upstream: String,
    /// `streamable_http`, `legacy_sse`, `stdio` or `modern`.
    pub transport: &'static str,
    /// The negotiated (or asked for) protocol version, when known.
    pub protocol_version: Option<String>,
}

/// The header line of part `part` of a tape started at `started_us`, written by `shard`, with
/// `status`, ending in `\n`; and where its status value starts.
pub fn line(
    info: &TapeInfo,
    started_us: u64,
    shard: usize,
    part: u32,
    status: Status,
) -> (Vec<u8>, usize) {
    let header = Header {
        shadowcat_tape: TAPE_VERSION,
        session: info.session.clone(),
        route: info.route.clone(),
        upstream: info.upstream.clone(),
        transport: info.transport.to_owned(),
        protocol_version: info.protocol_version.clone(),
        started: rfc3339(started_us),
        started_us,
        shard,
        part,
        status,
    };
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    // `status` is the last field: the object ends with `"status":"<value>"}`.
    out.pop();
    let at = out.len().saturating_sub(status_text(status).len());
    out.resize(at + LONGEST.len() + PAD, b' ');
    out.extend_from_slice(b"}\n");
    (out, at)
}

/// The bytes that overwrite a header's status value (at the offset [`line`] returned) with
/// `status`, up to and including the closing brace.
pub fn status_patch(status: Status) -> Vec<u8> {
    let mut out = status_text(status).as_bytes().to_vec();
    out.resize(LONGEST.len() + PAD, b' ');
    out.push(b'}');
    out
}

/// A status as its quoted JSON value.
fn status_text(status: Status) -> &'static str {
    match status {
        Status::Recording => "\"recording\"",
        Status::Complete => "\"complete\"",
        Status::Failed => "\"failed\"",
    }
}

/// The file of part `part` of a tape started at `started_us` for `session`, under `dir`.
pub fn path(dir: &Path, started_us: u64, session: &str, part: u32) -> PathBuf {
    let time = rfc3339(started_us);
    let day = time.get(..10).unwrap_or("1970-01-01");
    let compact: String = time.chars().filter(|c| *c != '-' && *c != ':').collect();
    let name = file_session(session);
    let file = if part <= 1 {
        format!("{compact}-{name}.tape.jsonl")
    } else {
        format!("{compact}-{name}.{part}.tape.jsonl")
    };
    dir.join(day).join(file)
}

/// The session's part of a file name: 16 hex digits of the hash, or
/// `connection-<start_us>-<shard>-<n>`.
fn file_session(session: &str) -> String {
    match session.strip_prefix("sha256:") {
        Some(hex) => hex.chars().take(16).collect(),
        None => session.replace(':', "-"),
    }
}

/// Unix microseconds as RFC 3339 UTC with microseconds.
pub fn rfc3339(us: u64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_micros(us);
    humantime::format_rfc3339_micros(at).to_string()
}

/// Now, in Unix microseconds.
pub fn now_us() -> u64 {
    unix_us(SystemTime::now())
}

/// `at` in Unix microseconds.
pub fn unix_us(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TapeInfo {
        TapeInfo {
            session: "sha256:0123456789abcdef0123456789abcdef".into(),
            route: "/mcp".into(),
            upstream: "main".into(),
            transport: "streamable_http",
            protocol_version: Some("2025-06-18".into()),
        }
    }

    #[test]
    fn the_status_is_rewritten_in_place() {
        let (mut line, at) = line(&info(), 1_796_642_280_123_456, 2, 1, Status::Recording);
        assert!(line.ends_with(b"}\n"));
        let len = line.len();
        for status in [Status::Complete, Status::Failed, Status::Recording] {
            let patch = status_patch(status);
            line.splice(at..at + patch.len(), patch);
            assert_eq!(line.len(), len);
            let header: Header = serde_json::from_slice(&line).unwrap();
            assert_eq!(header.status, status);
            assert_eq!(header.started, "2026-12-07T11:18:00.123456Z");
            assert_eq!((header.shard, header.part), (2, 1));
        }
    }

    #[test]
    fn file_names() {
        let dir = Path::new("/t");
        let us = 1_796_642_280_123_456;
        assert_eq!(
            path(dir, us, &info().session, 1),
            Path::new("/t/2026-12-07/20261207T111800.123456Z-0123456789abcdef.tape.jsonl")
        );
        assert_eq!(
            path(dir, us, "connection:1-7", 3),
            Path::new("/t/2026-12-07/20261207T111800.123456Z-connection-1-7.3.tape.jsonl")
        );
    }
}
