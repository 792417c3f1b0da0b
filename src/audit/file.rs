//! The audit log file: opened for appending (mode 0600 when created), one batch per write
//! under an exclusive lock on its directory, so shards sharing the file never interleave
//! lines and only one of them rotates it. Rotation by size: `FILE` becomes `FILE.1`, older
//! ones shift up to `FILE.<keep>`, the oldest is dropped; a shard whose file was rotated by
//! another follows the path to the new file. A failed write (a full disk) truncates back what
//! it wrote, so the file never ends in half a line. Blocking: runs on the executor's blocking
//! threads, never on a shard.
//!
//! Not here: what the lines say, batching (log.rs).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// One shard's handle on the audit log.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    /// The directory holding it: locked around every write and rotation.
    dir: File,
    file: File,
    max_size: u64,
    keep: u32,
}

/// What one write did besides writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// This write rotated the file first.
    pub rotated: bool,
}

impl LogFile {
    /// Opens (creating it when absent) the log at `path`, rotated past `max_size` bytes (0:
    /// never) keeping `keep` old files.
    ///
    /// # Errors
    /// The directory or the file cannot be opened for appending.
    pub fn open(path: &Path, max_size: u64, keep: u32) -> io::Result<LogFile> {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        Ok(LogFile {
            path: path.to_owned(),
            dir: File::open(dir)?,
            file: open_append(path)?,
            max_size,
            keep: keep.max(1),
        })
    }

    /// Appends `batch` (whole lines) with one write, rotating first when it would take the
    /// file past the size limit.
    ///
    /// # Errors
    /// The write failed (nothing of `batch` stays in the file), or the lock, a rotation or a
    /// reopen failed.
    pub fn append(&mut self, batch: &[u8]) -> io::Result<Appended> {
        self.dir.lock()?;
        let written = self.append_locked(batch);
        let unlocked = self.dir.unlock();
        let appended = written?;
        unlocked.map(|()| appended)
    }

    fn append_locked(&mut self, batch: &[u8]) -> io::Result<Appended> {
        self.follow()?;
        let meta = self.file.metadata()?;
        // Devices and pipes (`/dev/stdout`) are written, never rotated or truncated.
        let regular = meta.is_file();
        let len = batch.len() as u64;
        let rotated = regular
            && self.max_size > 0
            && meta.len() > 0
            && meta.len().saturating_add(len) > self.max_size;
        if rotated {
            self.rotate()?;
        }
        let before = if rotated { 0 } else { meta.len() };
        if let Err(e) = self.file.write_all(batch) {
            if regular {
                // O_APPEND under our lock: everything past `before` is this batch's.
                let _ = self.file.set_len(before);
            }
            return Err(e);
        }
        Ok(Appended { rotated })
    }

    /// Reopens the path when it no longer names our file (another shard rotated it, or it
    /// was removed).
    fn follow(&mut self) -> io::Result<()> {
        let ours = self.file.metadata()?;
        let same = match std::fs::metadata(&self.path) {
            Ok(now) => now.dev() == ours.dev() && now.ino() == ours.ino(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if !same {
            self.file = open_append(&self.path)?;
        }
        Ok(())
    }

    /// `FILE.<keep-1>` .. `FILE.1` move up one, `FILE` becomes `FILE.1`, a new `FILE` opens.
    fn rotate(&mut self) -> io::Result<()> {
        for n in (1..self.keep).rev() {
            match std::fs::rename(numbered(&self.path, n), numbered(&self.path, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

/// `path` with `.n` appended.
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory under the temp directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("shadowcat-audit-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    #[test]
    fn two_handles_rotate_once_and_lose_nothing() {
        let dir = TempDir::new("rotate");
        let path = dir.0.join("audit.jsonl");
        let (mut a, mut b) = (
            LogFile::open(&path, 100, 3).unwrap(),
            LogFile::open(&path, 100, 3).unwrap(),
        );
        let mut rotations = 0;
        for n in 0..40 {
            let line = format!("{{\"n\":{n:04}}}\n"); // 11 bytes
            let file = if n % 2 == 0 { &mut a } else { &mut b };
            rotations += usize::from(file.append(line.as_bytes()).unwrap().rotated);
        }
        // 440 bytes, at most 9 lines (99 bytes) per file: 4 rotations.
        assert_eq!(rotations, 4);
        assert_eq!(lines(&numbered(&path, 4)), Vec::<String>::new()); // keep = 3
        let mut seen = Vec::new();
        for file in [
            numbered(&path, 3),
            numbered(&path, 2),
            numbered(&path, 1),
            path.clone(),
        ] {
            let found = lines(&file);
            assert!(std::fs::metadata(&file).unwrap().len() <= 100);
            seen.extend(found);
        }
        // The oldest file was dropped: what is left is the newest lines, in order, whole.
        let numbers: Vec<u32> = seen.iter().map(|l| l[5..9].parse().unwrap()).collect();
        assert_eq!(numbers, (40 - numbers.len() as u32..40).collect::<Vec<_>>());
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_removed_file_is_created_again() {
        let dir = TempDir::new("removed");
        let path = dir.0.join("audit.jsonl");
        let mut log = LogFile::open(&path, 0, 1).unwrap();
        log.append(b"one\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        log.append(b"two\n").unwrap();
        assert_eq!(lines(&path), ["two"]);
    }

    #[test]
    fn a_full_device_is_an_error() {
        let mut log = LogFile::open(Path::new("/dev/full"), 10, 1).unwrap();
        let err = log.append(b"line\n").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn a_missing_directory_is_an_error_at_open() {
        assert!(LogFile::open(Path::new("/nonexistent-dir/audit.jsonl"), 0, 1).is_err());
    }
}
