//! Retention: deletes tape files beyond the newest `keep` and older than `max_age` (by their
//! modification time), and day directories left empty. Blocking file-system calls: the proxy
//! runs [`sweep`] on a blocking thread of one shard, off the request path, now and then.
//!
//! Not here: when it runs (the proxy's writer task on shard 0), rotation (writer.rs).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Tape files deleted.
    pub deleted: u64,
}

/// Deletes under `dir` the tape files past the newest `keep` (`0`: no limit) and those last
/// written more than `max_age` before `now`.
///
/// # Errors
/// `dir` cannot be read (a missing `dir` is nothing to sweep).
pub fn sweep(
    dir: &Path,
    keep: u32,
    max_age: Option<Duration>,
    now: SystemTime,
) -> io::Result<Swept> {
    let mut tapes = match tapes(dir) {
        Ok(tapes) => tapes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Swept::default()),
        Err(e) => return Err(e),
    };
    // Newest first.
    tapes.sort_by_key(|t| std::cmp::Reverse(t.0));
    let mut swept = Swept::default();
    for (at, (modified, path)) in tapes.iter().enumerate() {
        let surplus = keep > 0 && at >= keep as usize;
        let old =
            max_age.is_some_and(|age| now.duration_since(*modified).unwrap_or_default() > age);
        if (surplus || old) && std::fs::remove_file(path).is_ok() {
            swept.deleted += 1;
        }
    }
    // Empty day directories go too (a non-empty one refuses).
    if let Ok(days) = std::fs::read_dir(dir) {
        for day in days.flatten() {
            if day.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir(day.path());
            }
        }
    }
    Ok(swept)
}

/// Every `*.tape.jsonl` one level below `dir`, with its modification time.
fn tapes(dir: &Path) -> io::Result<Vec<(SystemTime, PathBuf)>> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir)?.flatten() {
        if !day.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(day.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let is_tape = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".tape.jsonl"));
            if let (true, Ok(meta)) = (is_tape, file.metadata()) {
                out.push((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), path));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::TempDir;

    fn touch(path: &Path, modified: SystemTime) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(path).unwrap();
        file.set_modified(modified).unwrap();
    }

    #[test]
    fn keeps_the_newest_and_the_young() {
        let dir = TempDir::new("retention");
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let day1 = dir.path().join("2026-12-01");
        let day2 = dir.path().join("2026-12-07");
        touch(&day1.join("a.tape.jsonl"), now - 30 * hour);
        touch(&day2.join("b.tape.jsonl"), now - 3 * hour);
        touch(&day2.join("c.tape.jsonl"), now - 2 * hour);
        touch(&day2.join("d.tape.jsonl"), now - hour);
        touch(&day2.join("notes.txt"), now - 40 * hour);
        // Age: a goes, its day directory with it.
        let swept = sweep(dir.path(), 0, Some(24 * hour), now).unwrap();
        assert_eq!(swept.deleted, 1);
        assert!(!day1.exists());
        // Count: the newest two stay.
        let swept = sweep(dir.path(), 2, None, now).unwrap();
        assert_eq!(swept.deleted, 1);
        assert!(!day2.join("b.tape.jsonl").exists());
        assert!(day2.join("c.tape.jsonl").exists() && day2.join("d.tape.jsonl").exists());
        assert!(day2.join("notes.txt").exists());
        // No limits: nothing.
        assert_eq!(sweep(dir.path(), 0, None, now).unwrap().deleted, 0);
        assert_eq!(
            sweep(&dir.path().join("missing"), 1, None, now)
                .unwrap()
                .deleted,
            0
        );
    }
}
