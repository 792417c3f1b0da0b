//! A tape file read line by line into a small [`FileSummary`] (header, counts, times, names,
//! soundness) without holding its messages: what `tape list` and `tape delete --older-than`
//! need, whatever the tapes' sizes (only one line is in memory at a time).
//!
//! Not here: reading a tape whole (`read.rs`: `show`, `export`, `stats`, `replay`), grouping
//! parts (`files.rs`), the summary row (`summary.rs`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::format::{Direction, Header};
use super::pairs::printable;
use super::read::{parse_header, parse_line, TapeError};

/// What one tape file holds, in a few numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    /// Message lines read.
    pub messages: usize,
    /// The file's size in bytes.
    pub bytes: u64,
    /// The last message's time (the header's start when later).
    pub ended_us: u64,
    /// No bad line and no cut last line.
    pub sound: bool,
    /// `name version` from the client's `initialize`.
    pub client: Option<String>,
    /// `name version` from the server's `initialize` answer.
    pub server: Option<String>,
}

impl FileSummary {
    /// The session's start, Unix microseconds.
    pub fn started_us(&self) -> u64 {
        self.header.started_us
    }
}

/// Reads the tape at `path` line by line into its summary.
///
/// # Errors
/// [`TapeError`] when the file cannot be read or its first line is no tape header.
pub fn scan(path: &Path) -> Result<FileSummary, TapeError> {
    let io = |source| TapeError::Io {
        path: path.to_owned(),
        source,
    };
    let not_a_tape = |reason: String| TapeError::NotATape {
        path: path.to_owned(),
        reason,
    };
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
        return Err(not_a_tape("the file is empty".into()));
    }
    let Some(first) = line.strip_suffix(b"\n") else {
        return Err(not_a_tape("the header line is cut (no newline)".into()));
    };
    let header = parse_header(first).map_err(not_a_tape)?;
    let mut summary = FileSummary {
        path: path.to_owned(),
        bytes: line.len() as u64,
        ended_us: header.started_us,
        header,
        messages: 0,
        sound: true,
        client: None,
        server: None,
    };
    // The client's initialize request: its direction and id, until its answer is seen.
    let mut initialize: Option<(Direction, Value)> = None;
    let mut line_no = 1;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        summary.bytes += n as u64;
        line_no += 1;
        let Some(whole) = line.strip_suffix(b"\n") else {
            summary.sound = false;
            break;
        };
        match parse_line(whole, line_no) {
            Ok(Some(entry)) => {
                summary.messages += 1;
                summary.ended_us = summary.ended_us.max(entry.t_us);
                if summary.client.is_none()
                    && entry.is_request()
                    && entry.method() == Some("initialize")
                {
                    summary.client = name(entry.msg.pointer("/params/clientInfo"));
                    initialize = entry.id().map(|id| (entry.dir, id.clone()));
                } else if let Some((dir, id)) = &initialize {
                    if entry.is_answer() && entry.dir != *dir && entry.id() == Some(id) {
                        summary.server = name(entry.msg.pointer("/result/serverInfo"));
                        initialize = None;
                    }
                }
            }
            Ok(None) => {}
            Err(_) => summary.sound = false,
        }
    }
    Ok(summary)
}

/// `name version` of an `Implementation` object (printable: no terminal escapes).
pub fn name(info: Option<&Value>) -> Option<String> {
    let info = info?;
    let name = info.get("name").and_then(Value::as_str)?;
    Some(printable(
        &match info.get("version").and_then(Value::as_str) {
            Some(version) => format!("{name} {version}"),
            None => name.to_owned(),
        },
    ))
}
