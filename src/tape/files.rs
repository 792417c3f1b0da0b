//! Tapes on disk: finding them under a folder (recursively: the recorder writes date folders),
//! grouping a session's parts (by file name), deleting old sessions (`tape delete`).
//!
//! Not here: reading one tape (`read.rs`, `scan.rs`), mending one (`repair.rs`), the command
//! line (`cli`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::read::{Tape, TapeError};
use super::scan::{scan, FileSummary};

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

/// The name shared by a session's parts: the file name without the `.tape.jsonl` suffix and
/// without the `.N` part number (`<start>-<session>[.<part>].tape.jsonl`, as the recorder names
/// them). Stateless tapes (`connection:<shard>-<n>`) reuse session names across restarts; their
/// file names (which start with the start time) do not.
pub fn session_stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.strip_suffix(SUFFIX)?;
    Some(match name.rsplit_once('.') {
        Some((stem, part)) if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => {
            stem.to_owned()
        }
        _ => name.to_owned(),
    })
}

/// The part number in a file name (1 without one).
fn part_number(path: &Path) -> u64 {
    path.file_name()
        .and_then(|n| n.to_str()?.strip_suffix(SUFFIX)?.rsplit_once('.'))
        .and_then(|(_, part)| part.parse().ok())
        .unwrap_or(1)
}

/// The files of the session `path` is a part of (beside it, same [`session_stem`]), in part
/// order; `path` alone when it has no recorder's name.
///
/// # Errors
/// When its folder cannot be read.
pub fn parts_of(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let Some(stem) = session_stem(path) else {
        return Ok(vec![path.to_owned()]);
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(&folder)? {
        let entry = entry?;
        let sibling = entry.path();
        if entry.file_type()?.is_file() && session_stem(&sibling).as_deref() == Some(&stem) {
            parts.push(sibling);
        }
    }
    if parts.is_empty() {
        parts.push(path.to_owned());
    }
    parts.sort_by_key(|p| part_number(p));
    Ok(parts)
}

/// The session `path` is a part of, read whole: its parts (see [`parts_of`]) as one tape (the
/// first part's header, every part's lines in order).
///
/// # Errors
/// [`TapeError`] when a part cannot be read or is no tape.
pub fn open_session(path: &Path) -> Result<Tape, TapeError> {
    let parts = parts_of(path).map_err(|source| TapeError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut parts = parts.iter().map(|p| Tape::open(p));
    let mut tape = match parts.next() {
        Some(first) => first?,
        None => Tape::open(path)?,
    };
    for part in parts {
        let part = part?;
        tape.entries.extend(part.entries);
        tape.problems.extend(part.problems);
        tape.bytes += part.bytes;
    }
    Ok(tape)
}

/// The tapes under `dir` read line by line into summaries, a session's parts together (in part
/// order), sessions by start; the files that could not be read as tapes apart.
///
/// # Errors
/// When `dir` cannot be walked.
pub fn sessions(dir: &Path) -> std::io::Result<(Vec<Vec<FileSummary>>, Vec<TapeError>)> {
    let mut groups: BTreeMap<(PathBuf, String), Vec<FileSummary>> = BTreeMap::new();
    let mut errors = Vec::new();
    for path in find(dir)? {
        match scan(&path) {
            Ok(file) => {
                let folder = path.parent().map(Path::to_owned).unwrap_or_default();
                let stem = session_stem(&path).unwrap_or_else(|| path.display().to_string());
                groups.entry((folder, stem)).or_default().push(file);
            }
            Err(e) => errors.push(e),
        }
    }
    let mut sessions: Vec<Vec<FileSummary>> = groups.into_values().collect();
    for parts in &mut sessions {
        parts.sort_by_key(|t| (t.header.part, t.started_us()));
    }
    sessions.sort_by_key(|parts| parts.first().map(FileSummary::started_us));
    Ok((sessions, errors))
}

/// Deletes every session under `dir` whose last message is older than `cutoff_us` (Unix
/// microseconds), all its parts, then the folders left empty strictly under `dir` (none when
/// `dir` is a file). `deleted` hears of each file as it goes, so what was deleted before an
/// error is known.
///
/// # Errors
/// When `dir` cannot be walked or a file cannot be deleted (those deleted before stay deleted).
pub fn delete_older(
    dir: &Path,
    cutoff_us: u64,
    deleted: &mut dyn FnMut(&Path),
) -> std::io::Result<()> {
    let (sessions, _) = sessions(dir)?;
    let is_folder = std::fs::metadata(dir)?.is_dir();
    for parts in sessions {
        let last = parts.iter().map(|t| t.ended_us).max().unwrap_or(0);
        if last >= cutoff_us {
            continue;
        }
        for tape in parts {
            std::fs::remove_file(&tape.path)?;
            deleted(&tape.path);
            if is_folder {
                remove_empty_folders(dir, &tape.path);
            }
        }
    }
    Ok(())
}

/// Removes the folders around `file` left empty, strictly under `dir`, innermost first.
fn remove_empty_folders(dir: &Path, file: &Path) {
    let mut folder = file.parent();
    while let Some(f) = folder.filter(|f| *f != dir && f.starts_with(dir)) {
        // Only an empty folder goes; a non-empty one answers an error: stop there.
        if std::fs::remove_dir(f).is_err() {
            break;
        }
        folder = f.parent();
    }
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
