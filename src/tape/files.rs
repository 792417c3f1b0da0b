//! Tapes on disk: finding them under a folder (recursively: the recorder writes date folders),
//! grouping a session's parts, cutting a crash's last line (`tape repair`), deleting
//! (`tape delete`).
//!
//! Not here: reading one tape (`read.rs`), the command line (`cli`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::read::{Problem, Tape, TapeError};

/// How a tape file's name ends.
pub const SUFFIX: &str = ".tape.jsonl";

/// Every `*.tape.jsonl` under `dir` (or `dir` itself when it is a file), sorted by path.
///
/// # Errors
/// When `dir` or a folder under it cannot be read.
pub fn find(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if std::fs::metadata(dir)?.is_file() {
        return Ok(vec![dir.to_owned()]);
    }
    let mut found = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file() && path.to_string_lossy().ends_with(SUFFIX) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The tapes under `dir`, a session's parts together (in part order), sessions by start; the
/// files that could not be read as tapes apart.
///
/// # Errors
/// When `dir` cannot be walked.
pub fn sessions(dir: &Path) -> std::io::Result<(Vec<Vec<Tape>>, Vec<TapeError>)> {
    let mut groups: BTreeMap<String, Vec<Tape>> = BTreeMap::new();
    let mut errors = Vec::new();
    for path in find(dir)? {
        match Tape::open(&path) {
            Ok(tape) => groups
                .entry(tape.header.session.clone())
                .or_default()
                .push(tape),
            Err(e) => errors.push(e),
        }
    }
    let mut sessions: Vec<Vec<Tape>> = groups.into_values().collect();
    for parts in &mut sessions {
        parts.sort_by_key(|t| (t.header.part, t.started_us()));
    }
    sessions.sort_by_key(|parts| parts.first().map(Tape::started_us));
    Ok((sessions, errors))
}

/// What `repair` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Nothing was cut: the last line was whole.
    Sound,
    /// The cut last line was dropped: the file now ends at `kept` bytes.
    Cut {
        /// The file's new length.
        kept: u64,
        /// The bytes dropped.
        dropped: u64,
    },
}

/// Drops the cut last line of the tape at `path` by truncating the file after its last whole
/// line (one `ftruncate`: atomic for readers, and safe against a crash). Bad complete lines stay:
/// they are reported by `tape verify`, not guessed at.
///
/// # Errors
/// [`TapeError`] when the file is unreadable, not a tape, or cannot be truncated.
pub fn repair(path: &Path) -> Result<Repair, TapeError> {
    let tape = Tape::open(path)?;
    let Some(&Problem::CutLine { offset, len }) = tape
        .problems
        .iter()
        .find(|p| matches!(p, Problem::CutLine { .. }))
    else {
        return Ok(Repair::Sound);
    };
    let io = |source| TapeError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    file.set_len(offset).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(Repair::Cut {
        kept: offset,
        dropped: len,
    })
}

/// Deletes every session under `dir` whose last message is older than `cutoff_us` (Unix
/// microseconds), all its parts, then the folders left empty. Returns the deleted files.
///
/// # Errors
/// When `dir` cannot be walked or a file cannot be deleted (those deleted before stay deleted).
pub fn delete_older(dir: &Path, cutoff_us: u64) -> std::io::Result<Vec<PathBuf>> {
    let (sessions, _) = sessions(dir)?;
    let mut deleted = Vec::new();
    for parts in sessions {
        let last = parts.iter().map(Tape::ended_us).max().unwrap_or(0);
        if last >= cutoff_us {
            continue;
        }
        for tape in parts {
            std::fs::remove_file(&tape.path)?;
            if let Some(folder) = tape.path.parent().filter(|f| *f != dir) {
                // Only an empty folder goes; a non-empty one answers an error, which is fine.
                let _ = std::fs::remove_dir(folder);
            }
            deleted.push(tape.path);
        }
    }
    Ok(deleted)
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
