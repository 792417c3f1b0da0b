//! [`AuditLog`]: one shard's audit lines on their way to the file. A request's line is
//! appended to the shard's pending buffer when the request ends (no I/O on the request path);
//! the shard's flusher hands the whole buffer to a blocking thread every `flush_interval`
//! (one flusher per shard, so one write at a time). A write that fails drops its batch
//! (counted) and marks the log failing until a write succeeds; with `audit.required`, requests
//! are refused meanwhile, and when the pending buffer is full.
//!
//! Not here: the file (file.rs), the flusher task and the metrics (the proxy).

use std::cell::{Cell, RefCell};
use std::io;

use crate::config::AuditConfig;

use super::file::LogFile;
use super::line;
use super::Record;

/// Most bytes of lines a shard holds between writes; past it lines are dropped (counted), or
/// with `required` requests refused, until the next write empties it.
const MAX_PENDING: usize = 16 << 20;

/// One shard's audit log.
#[derive(Debug)]
pub struct AuditLog {
    config: AuditConfig,
    pending: RefCell<Vec<u8>>,
    lines: Cell<usize>,
    /// `None` while a write is on a blocking thread, or until the file could be opened.
    file: RefCell<Option<LogFile>>,
    failing: Cell<bool>,
    /// The final flush is done: a line pushed now would never be written.
    closed: Cell<bool>,
}

/// What one [`AuditLog::flush`] did.
#[derive(Debug, Default)]
pub struct Flushed {
    /// Lines written.
    pub written: usize,
    /// Lines lost because the write failed.
    pub dropped: usize,
    /// The write rotated the file first.
    pub rotated: bool,
    /// Why the write failed.
    pub error: Option<io::Error>,
    /// The log was failing before this write and is not any more.
    pub recovered: bool,
    /// This write failed and the one before did not: a failure episode starts.
    pub started_failing: bool,
}

impl AuditLog {
    /// A shard's log (the file is opened on the first write, on a blocking thread).
    pub fn new(config: &AuditConfig) -> AuditLog {
        AuditLog {
            config: config.clone(),
            pending: RefCell::new(Vec::new()),
            lines: Cell::new(0),
            file: RefCell::new(None),
            failing: Cell::new(false),
            closed: Cell::new(false),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AuditConfig {
        &self.config
    }

    /// Whether requests must be refused now: `required`, and lines cannot be written (the
    /// last write failed, or the pending buffer is full).
    pub fn refusing(&self) -> bool {
        self.config.required && (self.failing.get() || self.pending.borrow().len() >= MAX_PENDING)
    }

    /// Adds `record`'s line; `false` when it was dropped: the pending buffer is full, or the
    /// log was closed (a request that outlived the shutdown drain).
    pub fn push(&self, record: &Record, shard: usize, route: Option<&str>) -> bool {
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= MAX_PENDING || self.closed.get() {
            return false;
        }
        line::append(&mut pending, record, shard, route);
        self.lines.set(self.lines.get() + 1);
        true
    }

    /// Marks the log closed (after its final flush): later lines are dropped and counted.
    pub fn close(&self) {
        self.closed.set(true);
    }

    /// Writes what is pending on a blocking thread (opening the file first if needed).
    pub async fn flush(&self) -> Flushed {
        if self.pending.borrow().is_empty() {
            return Flushed::default();
        }
        // One flusher per shard: no other write is under way, `file` is ours (`None`: not
        // open yet, or the last open failed).
        let file = self.file.borrow_mut().take();
        let batch = std::mem::take(&mut *self.pending.borrow_mut());
        let lines = self.lines.replace(0);
        let (path, max_size, keep) = (
            self.config.file.clone(),
            self.config.max_size,
            self.config.keep,
        );
        let (file, mut batch, result) = glommio::executor()
            .spawn_blocking(move || write(file, batch, (&path, max_size, keep)))
            .await;
        *self.file.borrow_mut() = file;
        // Reuse the batch's allocation for the next one when nothing new is bigger.
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() && batch.capacity() > pending.capacity() {
            batch.clear();
            *pending = batch;
        }
        match result {
            Ok(rotated) => Flushed {
                written: lines,
                rotated,
                recovered: self.failing.replace(false),
                ..Flushed::default()
            },
            Err(e) => {
                let was_failing = self.failing.replace(true);
                Flushed {
                    dropped: lines,
                    error: Some(e),
                    started_failing: !was_failing,
                    ..Flushed::default()
                }
            }
        }
    }
}

/// On a blocking thread: opens the file when needed, appends `batch`.
fn write(
    file: Option<LogFile>,
    batch: Vec<u8>,
    (path, max_size, keep): (&std::path::Path, u64, u32),
) -> (Option<LogFile>, Vec<u8>, io::Result<bool>) {
    let mut file = match file {
        Some(file) => file,
        None => match LogFile::open(path, max_size, keep) {
            Ok(file) => file,
            Err(e) => return (None, batch, Err(e)),
        },
    };
    let result = file.append(&batch).map(|appended| appended.rotated);
    (Some(file), batch, result)
}
