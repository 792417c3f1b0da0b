//! `tape repair`: what a crash leaves at a tape's end, mended. A last line without its `\n`
//! is dropped (the file truncated after its last whole line), or, when it is a complete valid
//! message line missing only the `\n`, finished with one. A tape still being written (header
//! status `recording`, changed within [`LIVE_WITHIN`]) is refused unless forced, and the file
//! is checked again right before it is changed: a writer's lines are never lost.
//!
//! Not here: finding tapes (`files.rs`), reading whole tapes (`read.rs`).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::format::Status;
use super::read::{parse_header, parse_line, TapeError};

/// A `recording` tape changed this recently is taken as still being written.
pub const LIVE_WITHIN: Duration = Duration::from_secs(60);

/// Longest cut last line checked for being a whole message (longer ones are dropped).
const MAX_CHECKED: u64 = 16 * 1024 * 1024;

/// Bytes read at a time when looking backwards for the last `\n`.
const CHUNK: u64 = 64 * 1024;

/// What `repair` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Nothing to do: the last line was whole.
    Sound,
    /// The cut last line was dropped: the file now ends at `kept` bytes.
    Cut {
        /// The file's new length.
        kept: u64,
        /// The bytes dropped.
        dropped: u64,
    },
    /// The last line was a whole message missing its `\n`: one was appended.
    Finished {
        /// The file's new length.
        len: u64,
    },
}

/// Mends the end of the tape at `path` (see the module doc); `force` repairs a live tape too.
///
/// # Errors
/// [`TapeError`] when the file is unreadable, not a tape, live (without `force`), changed
/// while being looked at, or cannot be written.
pub fn repair(path: &Path, force: bool) -> Result<Repair, TapeError> {
    let io = |source| TapeError::Io {
        path: path.to_owned(),
        source,
    };
    let busy = |reason: &str| TapeError::Busy {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut file = File::open(path).map_err(io)?;
    let before = file.metadata().map_err(io)?;
    let status = header_status(path, &file)?;
    if !force && status == Status::Recording && changed_within(&before, LIVE_WITHIN) {
        return Err(busy("its header says `recording` and it changed within the last minute: it is probably still being written (stop the proxy, or give --force)"));
    }
    let len = before.len();
    let last_newline = last_newline(&mut file, len).map_err(io)?;
    let start = last_newline.map_or(0, |at| at + 1);
    if start == len {
        return Ok(Repair::Sound);
    }
    let tail = len - start;
    let whole = tail <= MAX_CHECKED && {
        let mut text = Vec::new();
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        (&mut file).take(tail).read_to_end(&mut text).map_err(io)?;
        last_newline.is_some() && matches!(parse_line(&text, 0), Ok(Some(_)))
    };
    let mut writer = OpenOptions::new().write(true).open(path).map_err(io)?;
    let now = writer.metadata().map_err(io)?;
    if now.len() != len || now.modified().ok() != before.modified().ok() {
        return Err(busy(
            "it changed while being repaired: it is still being written",
        ));
    }
    if whole {
        writer.seek(SeekFrom::Start(len)).map_err(io)?;
        writer.write_all(b"\n").map_err(io)?;
        writer.sync_all().map_err(io)?;
        return Ok(Repair::Finished { len: len + 1 });
    }
    writer.set_len(start).map_err(io)?;
    writer.sync_all().map_err(io)?;
    Ok(Repair::Cut {
        kept: start,
        dropped: tail,
    })
}

/// The header's status (the first line must be a whole header).
fn header_status(path: &Path, file: &File) -> Result<Status, TapeError> {
    let mut first = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut first)
        .map_err(|source| TapeError::Io {
            path: path.to_owned(),
            source,
        })?;
    let not_a_tape = |reason: String| TapeError::NotATape {
        path: path.to_owned(),
        reason,
    };
    let line = first
        .strip_suffix(b"\n")
        .ok_or_else(|| not_a_tape("the header line is cut (no newline)".into()))?;
    Ok(parse_header(line).map_err(not_a_tape)?.status)
}

fn changed_within(meta: &Metadata, within: Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .is_none_or(|age| age < within)
}

/// The offset of the file's last `\n` before `len`, read backwards a chunk at a time.
fn last_newline(file: &mut File, len: u64) -> std::io::Result<Option<u64>> {
    let mut end = len;
    let mut buf = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        buf.clear();
        file.seek(SeekFrom::Start(start))?;
        (&mut *file).take(end - start).read_to_end(&mut buf)?;
        if let Some(at) = memchr::memrchr(b'\n', &buf) {
            return Ok(Some(start + at as u64));
        }
        end = start;
    }
    Ok(None)
}

#[cfg(test)]
#[path = "repair_tests.rs"]
mod tests;
