//! Reading one tape file whole: the header, every complete message line as a JSON value, and
//! what is wrong with the file (a bad line, a cut last line), for every reader (`tape …`,
//! `replay`).
//!
//! Not here: what the lines mean (pairs, stats, summaries), finding tapes in folders, writing.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::format::{Direction, Header, HttpFacts, Line, TAPE_VERSION};

/// The latest time a tape may hold: 9999-12-31T23:59:59.999999Z in Unix microseconds (RFC 3339
/// has four-digit years; a later `t_us` is a bad line).
pub const MAX_T_US: u64 = 253_402_300_799_999_999;

/// One message line, read.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based line number in the file (the header is line 1).
    pub line_no: usize,
    /// Unix microseconds when the message crossed the proxy.
    pub t_us: u64,
    /// Which way it went.
    pub dir: Direction,
    /// The message (`Value::Null` when the line held `raw` bytes instead).
    pub msg: Value,
    /// The bytes of a message that was not valid JSON.
    pub raw: Option<String>,
    /// What went on when an interception rule changed the message: `Some(None)` when a rule
    /// stopped it (blocked, or answered itself), absent when it went on as it arrived.
    pub forwarded: Option<Option<Value>>,
    /// The line's length in bytes (without its `\n`).
    pub bytes: usize,
    /// The HTTP facts.
    pub http: Option<HttpFacts>,
}

impl Entry {
    /// The message's `method`, when it has one.
    pub fn method(&self) -> Option<&str> {
        self.msg.get("method").and_then(Value::as_str)
    }

    /// The message's `id`, when it has one (requests and answers).
    pub fn id(&self) -> Option<&Value> {
        self.msg.get("id").filter(|id| !id.is_null())
    }

    /// What went on past the proxy: the message as a rule changed it, `None` when a rule
    /// stopped it, else the message as it arrived.
    pub fn went_on(&self) -> Option<&Value> {
        match &self.forwarded {
            Some(changed) => changed.as_ref(),
            None => Some(&self.msg),
        }
    }

    /// A request: a method and an id.
    pub fn is_request(&self) -> bool {
        self.method().is_some() && self.id().is_some()
    }

    /// An answer: an id, `result` or `error`, no method.
    pub fn is_answer(&self) -> bool {
        self.method().is_none()
            && self.id().is_some()
            && (self.msg.get("result").is_some() || self.msg.get("error").is_some())
    }
}

/// Something wrong inside a tape that still has a readable header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A complete line that is not a valid message line.
    BadLine {
        /// 1-based line number.
        line_no: usize,
        /// Byte offset of the line's start.
        offset: u64,
        /// Why.
        reason: String,
    },
    /// The last line has no `\n`: what a crash leaves.
    CutLine {
        /// Byte offset of the cut line's start (the length `tape repair` keeps).
        offset: u64,
        /// Its length in bytes.
        len: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BadLine {
                line_no,
                offset,
                reason,
            } => write!(f, "line {line_no} (byte {offset}): {reason}"),
            Problem::CutLine { offset, len } => write!(
                f,
                "cut last line at byte {offset} ({len} bytes without a newline; `shadowcat tape repair` drops it)"
            ),
        }
    }
}

/// Why a file cannot be read as a tape at all.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The tape is being written (or changed while being looked at): left alone.
    #[error("{path}: {reason}")]
    Busy {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The first line is not a tape header.
    #[error("{path}: not a shadowcat tape: {reason}")]
    NotATape {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A tape read whole.
#[derive(Debug, Clone)]
pub struct Tape {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Every readable message line, in file order.
    pub entries: Vec<Entry>,
    /// What is wrong with the rest of the file.
    pub problems: Vec<Problem>,
    /// The file's size in bytes.
    pub bytes: u64,
}

impl Tape {
    /// Reads the tape at `path`.
    ///
    /// # Errors
    /// [`TapeError`] when the file cannot be read or its first line is no tape header.
    pub fn open(path: &Path) -> Result<Tape, TapeError> {
        let data = std::fs::read(path).map_err(|source| TapeError::Io {
            path: path.to_owned(),
            source,
        })?;
        Tape::parse(path, &data)
    }

    /// Reads a tape from its bytes (`path` only names it).
    ///
    /// # Errors
    /// [`TapeError::NotATape`] when the first line is no tape header.
    pub fn parse(path: &Path, data: &[u8]) -> Result<Tape, TapeError> {
        let not_a_tape = |reason: String| TapeError::NotATape {
            path: path.to_owned(),
            reason,
        };
        let (first, rest_at) = match memchr::memchr(b'\n', data) {
            Some(end) => (&data[..end], end + 1),
            None if data.is_empty() => return Err(not_a_tape("the file is empty".into())),
            None => return Err(not_a_tape("the header line is cut (no newline)".into())),
        };
        let header = parse_header(first).map_err(not_a_tape)?;
        let mut tape = Tape {
            path: path.to_owned(),
            header,
            entries: Vec::new(),
            problems: Vec::new(),
            bytes: data.len() as u64,
        };
        let mut offset = rest_at;
        let mut line_no = 1;
        while offset < data.len() {
            line_no += 1;
            let Some(len) = memchr::memchr(b'\n', &data[offset..]) else {
                tape.problems.push(Problem::CutLine {
                    offset: offset as u64,
                    len: (data.len() - offset) as u64,
                });
                break;
            };
            let line = &data[offset..offset + len];
            match parse_line(line, line_no) {
                Ok(Some(entry)) => tape.entries.push(entry),
                Ok(None) => {}
                Err(reason) => tape.problems.push(Problem::BadLine {
                    line_no,
                    offset: offset as u64,
                    reason,
                }),
            }
            offset += len + 1;
        }
        Ok(tape)
    }

    /// The session's start, Unix microseconds.
    pub fn started_us(&self) -> u64 {
        self.header.started_us
    }

    /// The last message's time (the start when there is none).
    pub fn ended_us(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.t_us)
            .max()
            .unwrap_or(self.header.started_us)
            .max(self.header.started_us)
    }

    /// Whether a problem was found.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

pub(super) fn parse_header(line: &[u8]) -> Result<Header, String> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| format!("the first line is not JSON ({e})"))?;
    match value.get("shadowcat_tape").and_then(Value::as_u64) {
        None => return Err("the first line has no \"shadowcat_tape\" version".into()),
        Some(v) if v != u64::from(TAPE_VERSION) => {
            return Err(format!(
                "format version {v}; this shadowcat reads version {TAPE_VERSION}"
            ))
        }
        Some(_) => {}
    }
    let header: Header = serde_json::from_value(value).map_err(|e| format!("bad header: {e}"))?;
    if header.started_us > MAX_T_US {
        return Err(format!(
            "bad header: started_us {} is after the year 9999",
            header.started_us
        ));
    }
    Ok(header)
}

/// One message line; `Ok(None)` for an empty line (tolerated).
pub(super) fn parse_line(line: &[u8], line_no: usize) -> Result<Option<Entry>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_owned())?;
    let parsed: Line =
        serde_json::from_str(text).map_err(|e| format!("not a message line: {e}"))?;
    if parsed.t_us > MAX_T_US {
        return Err(format!("t_us {} is after the year 9999", parsed.t_us));
    }
    let msg = match &parsed.msg {
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| format!("bad msg: {e}"))?,
        None if parsed.raw.is_some() => Value::Null,
        None => return Err("neither \"msg\" nor \"raw\"".into()),
    };
    let forwarded = match &parsed.forwarded {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(
            serde_json::from_str(raw.get()).map_err(|e| format!("bad forwarded: {e}"))?,
        )),
    };
    Ok(Some(Entry {
        forwarded,
        line_no,
        t_us: parsed.t_us,
        dir: parsed.dir,
        msg,
        raw: parsed.raw,
        bytes: line.len(),
        http: parsed.http,
    }))
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
