//! The resolved recording settings ([`RecordingConfig`], [`Fsync`]): what `[recording]`
//! (and `--record`) become, held in the config snapshot.
//!
//! Not here: reading and checking them (recording.rs).

use std::path::PathBuf;
use std::time::Duration;

/// When a shard's written lines are forced to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// `fdatasync` every `flush_interval` (a crash loses at most that much).
    Interval,
    /// `fdatasync` after every write.
    Always,
    /// Never: the kernel decides.
    Never,
}

impl Fsync {
    /// The written form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Fsync::Interval => "interval",
            Fsync::Always => "always",
            Fsync::Never => "never",
        }
    }
}

/// Recording, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingConfig {
    /// Where tapes go.
    pub dir: PathBuf,
    /// JSON pointers removed from messages before writing.
    pub redact: Vec<String>,
    /// Durability.
    pub fsync: Fsync,
    /// Time between a shard's writes.
    pub flush_interval: Duration,
    /// Rotation size per tape file (`0`: never).
    pub max_size: u64,
    /// Newest tape files kept (`0`: all).
    pub keep: u32,
    /// Oldest tape file age kept (`None`: any).
    pub max_age: Option<Duration>,
}
