//! Retention: deletes the tapes beyond the newest `keep` and those older than `max_age` (by
//! their last modification), a tape's parts together, and day directories left empty (never
//! today's). A tape whose header still says `recording` is open on a shard (its file may be
//! parked between writes) and is left alone unless untouched for [`STALE_RECORDING`] and
//! `max_age`: a crashed proxy's leftover. Blocking file-system calls: the proxy runs [`sweep`]
//! on a blocking thread of one shard, off the request path, now and then.
//!
//! Not here: when it runs (the proxy's writer task on shard 0), rotation (writer.rs).

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A tape still `recording` but not written for this long is taken for a crashed proxy's
/// leftover (a live session writes or expires much sooner).
pub const STALE_RECORDING: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Tape files deleted.
    pub deleted: u64,
}

/// One tape: all its parts.
#[derive(Debug, Default)]
struct Tape {
    /// The newest part's modification time.
    modified: Option<SystemTime>,
    /// Some part's header still says `recording`.
    recording: bool,
    parts: Vec<PathBuf>,
}

/// Deletes under `dir` the tapes past the newest `keep` (`0`: no limit) and those last written
/// more than `max_age` before `now`, every part of each; open tapes stay (see the module doc).
///
/// # Errors
/// `dir` cannot be read (a missing `dir` is nothing to sweep).
pub fn sweep(
    dir: &Path,
    keep: u32,
    max_age: Option<Duration>,
    now: SystemTime,
) -> io::Result<Swept> {
    let tapes = match tapes(dir) {
        Ok(tapes) => tapes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Swept::default()),
        Err(e) => return Err(e),
    };
    let mut tapes: Vec<Tape> = tapes.into_values().collect();
    // Newest first.
    tapes.sort_by_key(|t| std::cmp::Reverse(t.modified));
    let stale = max_age.unwrap_or_default().max(STALE_RECORDING);
    let mut swept = Swept::default();
    for (at, tape) in tapes.iter().enumerate() {
        let age = |limit: Duration| {
            tape.modified
                .is_some_and(|m| now.duration_since(m).unwrap_or_default() > limit)
        };
        let surplus = keep > 0 && at >= keep as usize;
        let old = max_age.is_some_and(age);
        if !(surplus || old) || (tape.recording && !age(stale)) {
            continue;
        }
        for part in &tape.parts {
            if std::fs::remove_file(part).is_ok() {
                swept.deleted += 1;
            }
        }
    }
    remove_empty_days(dir, now);
    Ok(swept)
}

/// Removes the empty day directories before `now`'s day (a non-empty one refuses; today's
/// stays: a shard's writer made it and opens its next tape there).
fn remove_empty_days(dir: &Path, now: SystemTime) {
    let today = super::header::rfc3339(super::header::unix_us(now));
    let today = today.get(..10).unwrap_or_default();
    let Ok(days) = std::fs::read_dir(dir) else {
        return;
    };
    for day in days.flatten() {
        let name = day.file_name();
        let earlier = name.to_str().is_some_and(|n| n < today);
        if earlier && day.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir(day.path());
        }
    }
}

/// Every tape one level below `dir` (`*.tape.jsonl`), its parts together, by name stem.
fn tapes(dir: &Path) -> io::Result<HashMap<(PathBuf, String), Tape>> {
    let mut out: HashMap<(PathBuf, String), Tape> = HashMap::new();
    for day in std::fs::read_dir(dir)?.flatten() {
        if !day.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(day.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let name = file.file_name();
            let Some(stem) = name.to_str().and_then(tape_stem) else {
                continue;
            };
            let Ok(meta) = file.metadata() else {
                continue;
            };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let recording = is_recording(&path);
            let tape = out.entry((day.path(), stem.to_owned())).or_default();
            tape.modified = tape.modified.max(Some(modified));
            tape.recording |= recording;
            tape.parts.push(path);
        }
    }
    Ok(out)
}

/// A tape file name's stem, the same for all its parts: `<start>-<session>` of
/// `<start>-<session>[.<part>].tape.jsonl`.
fn tape_stem(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".tape.jsonl")?;
    Some(match stem.rsplit_once('.') {
        Some((base, part)) if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => stem,
    })
}

/// Whether the header of the tape at `path` says `recording` (its first line; unreadable or
/// empty: no).
fn is_recording(path: &Path) -> bool {
    let mut head = vec![0u8; 8192];
    let Ok(n) = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    let head = head.get(..n).unwrap_or_default();
    match memchr::memchr(b'\n', head) {
        Some(end) => {
            let line = head.get(..end).unwrap_or_default();
            memchr::memmem::find(line, b"\"status\":\"recording\"").is_some()
        }
        // A header longer than that (or being written): taken for open.
        None => n == head.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::TempDir;

    const HOUR: Duration = Duration::from_secs(3600);

    fn touch(path: &Path, modified: SystemTime) {
        tape(path, modified, "complete");
    }

    fn tape(path: &Path, modified: SystemTime, status: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let header = format!("{{\"shadowcat_tape\":1,\"status\":\"{status}\"}}\n");
        std::fs::write(path, header).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(modified).unwrap();
    }

    #[test]
    fn keeps_the_newest_and_the_young() {
        let dir = TempDir::new("retention");
        let now = SystemTime::now();
        let hour = HOUR;
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

    /// An open tape (header `recording`) idle past `max_age` or beyond `keep` stays: a shard
    /// still writes it. Only a long-stale one (a crash's leftover) goes.
    #[test]
    fn open_tapes_stay() {
        let dir = TempDir::new("retention-open");
        let now = SystemTime::now();
        let day = dir.path().join("2026-12-01");
        tape(&day.join("idle.tape.jsonl"), now - 30 * HOUR, "recording");
        tape(&day.join("live.tape.jsonl"), now - HOUR, "recording");
        tape(
            &day.join("stale.tape.jsonl"),
            now - STALE_RECORDING - HOUR,
            "recording",
        );
        touch(&day.join("done.tape.jsonl"), now - 30 * HOUR);
        let swept = sweep(dir.path(), 1, Some(24 * HOUR), now).unwrap();
        assert_eq!(swept.deleted, 2);
        assert!(day.join("idle.tape.jsonl").exists() && day.join("live.tape.jsonl").exists());
        assert!(!day.join("stale.tape.jsonl").exists() && !day.join("done.tape.jsonl").exists());
    }

    /// `keep` counts tapes, not parts; a tape's parts go together, and one still recording
    /// (its last part open) keeps all its parts.
    #[test]
    fn parts_go_together() {
        let dir = TempDir::new("retention-parts");
        let now = SystemTime::now();
        let day = dir.path().join("2026-12-01");
        touch(&day.join("T1-aaaa.tape.jsonl"), now - 5 * HOUR);
        touch(&day.join("T1-aaaa.2.tape.jsonl"), now - 4 * HOUR);
        touch(&day.join("T2-bbbb.tape.jsonl"), now - 3 * HOUR);
        touch(&day.join("T2-bbbb.2.tape.jsonl"), now - 2 * HOUR);
        touch(&day.join("T2-bbbb.3.tape.jsonl"), now - HOUR);
        touch(&day.join("T0-cccc.tape.jsonl"), now - 9 * HOUR);
        tape(
            &day.join("T0-cccc.2.tape.jsonl"),
            now - 8 * HOUR,
            "recording",
        );
        let swept = sweep(dir.path(), 1, None, now).unwrap();
        assert_eq!(swept.deleted, 2);
        assert!(!day.join("T1-aaaa.tape.jsonl").exists());
        assert!(!day.join("T1-aaaa.2.tape.jsonl").exists());
        for kept in ["T2-bbbb", "T2-bbbb.2", "T2-bbbb.3", "T0-cccc", "T0-cccc.2"] {
            assert!(day.join(format!("{kept}.tape.jsonl")).exists(), "{kept}");
        }
    }

    /// Today's day directory stays even when empty: writers made it and open tapes there.
    #[test]
    fn todays_directory_stays() {
        let dir = TempDir::new("retention-today");
        let now = SystemTime::now();
        let today = crate::record::header::rfc3339(crate::record::header::unix_us(now));
        let today = dir.path().join(&today[..10]);
        let old = dir.path().join("2000-01-01");
        std::fs::create_dir_all(&today).unwrap();
        std::fs::create_dir_all(&old).unwrap();
        sweep(dir.path(), 1, Some(HOUR), now).unwrap();
        assert!(today.exists());
        assert!(!old.exists());
    }
}
