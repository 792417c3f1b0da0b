//! [`Writer`]: the shard's tape files, written through glommio's io_uring file API
//! (`BufferedFile`, positional writes on the shard's ring). One pass ([`Writer::flush`]) takes
//! each bound tape's gathered lines and writes them in one call at the file's end: opening the
//! file with its header first, rotating into a new part past `max_size`, syncing as `fsync`
//! says, and for an ended tape overwriting the header's status with `complete`. A write error
//! stops that tape only (status `failed` when that small write still succeeds, one `warn`).
//!
//! Not here: gathering lines (recorder.rs), when passes run and the metrics (the proxy).
//! Crash safety: a batch holds whole lines and is written by one call; a later call starts
//! where it ended, so a crash can cut only the last line.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use glommio::io::{BufferedFile, OpenOptions};
use shards::latch::Latch;

use crate::config::Fsync;
use crate::tape::format::Status;

use super::header::{self, status_patch};
use super::recorder::{Recorder, TapeId};

/// A tape file not written for this long is closed (its descriptor freed: a shard may hold
/// many idle sessions) and opened again for its next write.
const PARK_AFTER: Duration = Duration::from_secs(10);

/// Most tape files a shard keeps open; past it the least recently written are parked.
pub const MAX_OPEN: usize = 256;

/// One tape file (open, or parked while its session is idle).
#[derive(Debug)]
struct File {
    /// `None` while parked.
    file: Option<BufferedFile>,
    /// The last write.
    written_at: Instant,
    path: PathBuf,
    /// Where the next line goes.
    offset: u64,
    /// The header's length (a part holding only its header is never rotated).
    header_len: u64,
    /// Where the header's status value starts.
    status_at: u64,
    part: u32,
    /// Written since the last sync.
    dirty: bool,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Lines written.
    pub lines: u64,
    /// Bytes written (lines and headers).
    pub bytes: u64,
    /// Lines lost: their write failed, or their tape had failed before.
    pub dropped: u64,
    /// Writes that failed (each stops its tape).
    pub write_errors: u64,
    /// Tape files opened (parts included).
    pub opened: u64,
    /// Tape files closed.
    pub closed: u64,
    /// Rotations into a new part.
    pub rotations: u64,
}

/// The shard's open tape files (owned by its one writer task).
#[derive(Debug)]
pub struct Writer {
    files: HashMap<TapeId, File>,
    /// The last day directory made (made once, not per file).
    made_dir: Option<PathBuf>,
    /// Idle time after which a file is parked.
    park_after: Duration,
    /// The last `fsync = "interval"` sync.
    synced_at: Instant,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::parking_after(PARK_AFTER)
    }
}

impl Writer {
    /// A writer parking files idle for `park_after` ([`PARK_AFTER`] by default).
    pub fn parking_after(park_after: Duration) -> Writer {
        Writer {
            files: HashMap::new(),
            made_dir: None,
            park_after,
            synced_at: Instant::now(),
        }
    }

    /// Writes what every bound tape gathered; finishes the tapes that ended.
    pub async fn flush(&mut self, rec: &Recorder) -> Flushed {
        let mut done = Flushed::default();
        for id in rec.ids() {
            let Some((bound, ending, failed)) = rec.with(id, |t| (t.bound, t.ending, t.failed))
            else {
                continue;
            };
            if !bound {
                continue;
            }
            let (batch, lines) = rec.take_pending(id).unwrap_or_default();
            if failed {
                done.dropped += lines;
            } else if !batch.is_empty() {
                let len = batch.len() as u64;
                match self.write(rec, id, batch, &mut done).await {
                    Ok(()) => {
                        done.lines += lines;
                        done.bytes += len;
                    }
                    Err(e) => {
                        done.dropped += lines;
                        self.fail(rec, id, &e, &mut done).await;
                    }
                }
            }
            if ending {
                self.finish(rec, id, &mut done).await;
            }
        }
        // `interval`: on the timer only, not on every early wake of a busy shard.
        let interval = rec.config().flush_interval;
        if rec.config().fsync == Fsync::Interval && self.synced_at.elapsed() >= interval {
            self.synced_at = Instant::now();
            let failed = self.sync_dirty().await;
            self.fail_all(rec, failed, &mut done).await;
        }
        let failed = self.park_idle(rec.config().fsync).await;
        self.fail_all(rec, failed, &mut done).await;
        done
    }

    /// How many tape files are open (not parked).
    #[cfg(test)]
    pub(super) fn open_files(&self) -> usize {
        self.files.values().filter(|f| f.file.is_some()).count()
    }

    /// Stops the tapes whose sync failed (a sync error is a write error: lines may be lost).
    async fn fail_all(
        &mut self,
        rec: &Recorder,
        failed: Vec<(TapeId, io::Error)>,
        done: &mut Flushed,
    ) {
        for (id, error) in failed {
            self.fail(rec, id, &error, done).await;
        }
    }

    /// Appends `batch` to `id`'s file, opening or rotating it first.
    async fn write(
        &mut self,
        rec: &Recorder,
        id: TapeId,
        batch: Vec<u8>,
        done: &mut Flushed,
    ) -> io::Result<()> {
        let max_size = rec.config().max_size;
        let rotate = self.files.get(&id).is_some_and(|f| {
            max_size > 0 && f.offset > f.header_len && f.offset + batch.len() as u64 > max_size
        });
        if rotate {
            if let Some(old) = self.files.remove(&id) {
                let part = old.part + 1;
                let closed = close(old, Status::Complete, rec.config().fsync).await;
                done.closed += 1;
                closed?;
                done.rotations += 1;
                self.open(rec, id, part, done).await?;
            }
        } else if !self.files.contains_key(&id) {
            self.open(rec, id, 1, done).await?;
        }
        let Some(file) = self.files.get_mut(&id) else {
            return Err(not_open());
        };
        let len = batch.len();
        unpark(file).await?;
        let handle = file.file.as_ref().ok_or_else(not_open)?;
        let written = handle
            .write_at(batch, file.offset)
            .await
            .map_err(io::Error::from)?;
        file.offset += written as u64;
        file.dirty = true;
        file.written_at = Instant::now();
        if written < len {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("short write: {written} of {len} bytes (disk full or file size limit)"),
            ));
        }
        if rec.config().fsync == Fsync::Always {
            handle.fdatasync().await.map_err(io::Error::from)?;
            file.dirty = false;
        }
        Ok(())
    }

    /// Opens part `part` of `id`'s tape and writes its header.
    async fn open(
        &mut self,
        rec: &Recorder,
        id: TapeId,
        part: u32,
        done: &mut Flushed,
    ) -> io::Result<()> {
        let Some((info, started_us)) = rec.with(id, |t| (t.info.clone(), t.started_us)) else {
            return Err(io::Error::other("tape closed"));
        };
        let path = header::path(&rec.config().dir, started_us, &info.session, part);
        self.make_dir(&path)?;
        let file = match create(&path).await.map_err(|e| at(&path, e)) {
            // The day directory went (retention, `tape delete`): made again, once.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.made_dir = None;
                self.make_dir(&path)?;
                create(&path).await.map_err(|e| at(&path, e))?
            }
            other => other?,
        };
        let (line, status_at) =
            header::line(&info, started_us, rec.shard(), part, Status::Recording);
        let len = line.len();
        let written = match file.write_at(line, 0).await.map_err(io::Error::from) {
            Ok(written) if written == len => written,
            // No file without its header (a full disk): removed, not left empty or cut.
            result => {
                let _ = file.close().await;
                let _ = std::fs::remove_file(&path);
                let error = result.err().unwrap_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::StorageFull,
                        "short write of the header (disk full or file size limit)",
                    )
                });
                return Err(at(&path, error));
            }
        };
        done.opened += 1;
        done.bytes += written as u64;
        let file = File {
            file: Some(file),
            written_at: Instant::now(),
            path,
            offset: written as u64,
            header_len: len as u64,
            status_at: status_at as u64,
            part,
            dirty: true,
        };
        self.files.insert(id, file);
        Ok(())
    }

    /// Makes the day directory of `path` (once per directory).
    fn make_dir(&mut self, path: &Path) -> io::Result<()> {
        let Some(dir) = path.parent() else {
            return Ok(());
        };
        if self.made_dir.as_deref() != Some(dir) {
            std::fs::create_dir_all(dir)?;
            self.made_dir = Some(dir.to_path_buf());
        }
        Ok(())
    }

    /// Stops `id`'s tape after a write error: later lines are dropped; its header says
    /// `failed` when that write still goes through.
    async fn fail(&mut self, rec: &Recorder, id: TapeId, error: &io::Error, done: &mut Flushed) {
        done.write_errors += 1;
        rec.with(id, |t| t.failed = true);
        let path = self.files.get(&id).map(|f| f.path.display().to_string());
        tracing::warn!(shard = rec.shard(), tape = path.as_deref().unwrap_or("(no file open; see the error)"),
            %error, "cannot write a tape; it stops here (proxying goes on)");
        if let Some(file) = self.files.remove(&id) {
            let _ = close(file, Status::Failed, rec.config().fsync).await;
            done.closed += 1;
        }
    }

    /// Marks an ended tape complete, closes its file and frees its slot.
    async fn finish(&mut self, rec: &Recorder, id: TapeId, done: &mut Flushed) {
        let failed = rec.with(id, |t| t.failed || t.lossy).unwrap_or(false);
        if let Some(file) = self.files.remove(&id) {
            let status = if failed {
                Status::Failed
            } else {
                Status::Complete
            };
            let path = file.path.display().to_string();
            if let Err(error) = close(file, status, rec.config().fsync).await {
                done.write_errors += 1;
                tracing::warn!(shard = rec.shard(), tape = %path, %error,
                    "cannot finish a tape (its last lines may be lost)");
            }
            done.closed += 1;
        }
        rec.free(id);
    }

    /// `fdatasync` on every file written since its last sync; the tapes whose sync failed.
    async fn sync_dirty(&mut self) -> Vec<(TapeId, io::Error)> {
        let mut failed = Vec::new();
        for (id, file) in self.files.iter_mut().filter(|(_, f)| f.dirty) {
            if let Some(handle) = &file.file {
                match handle.fdatasync().await {
                    Ok(()) => file.dirty = false,
                    Err(e) => failed.push((*id, at(&file.path, e.into()))),
                }
            }
        }
        failed
    }

    /// Closes the files not written for `park_after`, and the least recently written past
    /// [`MAX_OPEN`] (synced first unless `never`); the tapes whose sync failed.
    async fn park_idle(&mut self, fsync: Fsync) -> Vec<(TapeId, io::Error)> {
        let mut open: Vec<(Instant, TapeId)> = self
            .files
            .iter()
            .filter(|(_, f)| f.file.is_some())
            .map(|(id, f)| (f.written_at, *id))
            .collect();
        let surplus = open.len().saturating_sub(MAX_OPEN);
        open.sort_unstable_by_key(|(written_at, _)| *written_at);
        let mut failed = Vec::new();
        for (n, (written_at, id)) in open.into_iter().enumerate() {
            if n >= surplus && written_at.elapsed() < self.park_after {
                continue;
            }
            let Some(file) = self.files.get_mut(&id) else {
                continue;
            };
            if let Some(handle) = file.file.take() {
                if file.dirty && fsync != Fsync::Never {
                    if let Err(e) = handle.fdatasync().await {
                        failed.push((id, at(&file.path, e.into())));
                    }
                }
                file.dirty = false;
                let _ = handle.close().await;
            }
        }
        failed
    }
}

/// A recorder's writer task: a pass every `flush_interval` (sooner when lines pile up) until
/// `stop` fires, then every tape ended and a last pass, after which lines are dropped.
/// `before` runs before each pass (ending the tapes of sessions gone), `after` gets each
/// pass's counts (the metrics).
pub async fn run(
    rec: std::rc::Rc<Recorder>,
    stop: std::rc::Rc<Latch>,
    mut before: impl FnMut(&Recorder),
    mut after: impl FnMut(&Recorder, Flushed),
) {
    let Some(woken) = rec.take_wake() else {
        return;
    };
    let interval = rec.config().flush_interval;
    let mut writer = Writer::default();
    while !stop.is_fired() {
        futures_lite::future::or(
            futures_lite::future::or(glommio::timer::sleep(interval), async {
                let _ = woken.recv().await;
            }),
            async { stop.wait().await },
        )
        .await;
        before(&rec);
        let done = writer.flush(&rec).await;
        after(&rec, done);
    }
    rec.end_all();
    let done = writer.flush(&rec).await;
    rec.close();
    after(&rec, done);
}

/// Overwrites `file`'s header status with `status`, syncs (unless `fsync = "never"`) and
/// closes it. The sync's error is returned (written lines may be lost); the others are
/// ignored: the tape's lines are written already, or it failed.
async fn close(mut file: File, status: Status, fsync: Fsync) -> io::Result<()> {
    if unpark(&mut file).await.is_err() {
        return Ok(());
    }
    let Some(handle) = &file.file else {
        return Ok(());
    };
    // A header cut short (a full disk) is left as it is: patching it would leave a hole.
    if file.offset >= file.header_len {
        let _ = handle.write_at(status_patch(status), file.status_at).await;
    }
    let synced = match fsync {
        Fsync::Never => Ok(()),
        _ => handle.fdatasync().await.map_err(io::Error::from),
    };
    if let Some(handle) = file.file.take() {
        let _ = handle.close().await;
    }
    synced
}

/// Creates the tape file `path` (mode 0600; an existing file is an error).
async fn create(path: &Path) -> io::Result<BufferedFile> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .buffered_open(path)
        .await
        .map_err(io::Error::from)
}

/// Opens `file` again when it was parked.
async fn unpark(file: &mut File) -> io::Result<()> {
    if file.file.is_none() {
        let handle = OpenOptions::new()
            .write(true)
            .buffered_open(&file.path)
            .await
            .map_err(io::Error::from)?;
        file.file = Some(handle);
    }
    Ok(())
}

/// `error` naming the file it happened to.
fn at(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

fn not_open() -> io::Error {
    io::Error::other("tape file not open")
}

/// Catches `SIGXFSZ` with a handler that does nothing (process-wide, before tapes are
/// written): a file size limit then fails a tape's write with `EFBIG` (counted, the tape stops)
/// instead of killing the process. A handler, not `SIG_IGN`: `exec` resets a caught signal to
/// its default, so the stdio servers the proxy starts do not inherit the change.
#[allow(unsafe_code, reason = "signal(2) has no std wrapper")]
pub fn ignore_file_size_signal() {
    // SAFETY: the handler does nothing (async-signal-safe); it is process-wide and installed
    // before any tape is written.
    unsafe {
        libc::signal(
            libc::SIGXFSZ,
            on_file_size_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// `SIGXFSZ`: nothing to do, the write that exceeded the limit fails with `EFBIG`.
extern "C" fn on_file_size_signal(_: libc::c_int) {}
