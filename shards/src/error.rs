//! The crate's one error type, [`Error`] (a bad core list carries its [`CoreListError`], from
//! [`crate::core_list`]).
//!
//! Not here: payload-carrying send failures ([`crate::mesh::TrySendError`]), which give the
//! message back instead of describing it. Variants carry data (cores, byte counts, shard ids);
//! the `Display` text is built from that data only when an error is printed.

use crate::core_list::format_core_list;
/// Why a core list was rejected (defined with the syntax, in [`crate::core_list`]).
pub use crate::core_list::CoreListError;
use crate::ShardId;

/// Everything that can go wrong while placing, starting or joining shards.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A requested core is not online, or this process may not run on it (affinity mask).
    #[error("core {core} is not usable by this process (usable cores: {})", format_core_list(.online))]
    NoSuchCore {
        /// The core that was asked for.
        core: usize,
        /// The cores that are online and allowed for this process.
        online: Vec<usize>,
    },

    /// A core list such as `0-7,16-23` did not parse.
    #[error("bad core list {input:?}: {reason}")]
    BadCoreList {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: CoreListError,
    },

    /// More shards were asked for than there are usable cores.
    #[error(
        "{requested} shards requested but only {} cores are usable ({})",
        .online.len(),
        format_core_list(.online)
    )]
    NotEnoughCores {
        /// The shard count asked for.
        requested: usize,
        /// The cores that are online and allowed for this process.
        online: Vec<usize>,
    },

    /// The same core was listed twice; one shard per core.
    #[error("core {core} is listed more than once (one shard per core)")]
    DuplicateCore {
        /// The repeated core.
        core: usize,
    },

    /// Both a shard count and a core list were given and they disagree.
    #[error("{shards} shards requested but the core list names {cores} cores")]
    ShardCountMismatch {
        /// The shard count asked for.
        shards: usize,
        /// How many cores the list names.
        cores: usize,
    },

    /// A runtime or core selection with zero cores.
    #[error("no cores to run shards on")]
    NoCores,

    /// Neither `/sys/devices/system/cpu/online` nor the affinity mask could be read.
    #[error("cannot determine the online cores")]
    OnlineCoresUnknown {
        /// Why reading the online list failed.
        #[source]
        source: std::io::Error,
    },

    /// `RLIMIT_MEMLOCK` is below what the shards need.
    #[error(
        "locked-memory limit (RLIMIT_MEMLOCK) is {} KiB but the shards need {} KiB \
         (io memory + 512 KiB per shard); raise it: `ulimit -l unlimited` (or `ulimit -l {}`) \
         in the shell, `LimitMEMLOCK=infinity` in a systemd unit, `* - memlock unlimited` in \
         /etc/security/limits.conf, `--ulimit memlock=-1` for docker run; or use less io memory \
         per shard",
        .have_bytes / 1024,
        .need_bytes.div_ceil(1024),
        .need_bytes.div_ceil(1024)
    )]
    MemLock {
        /// The current soft limit in bytes.
        have_bytes: u64,
        /// What the requested shards need in bytes.
        need_bytes: u64,
    },

    /// `getrlimit(RLIMIT_MEMLOCK)` itself failed.
    #[error("cannot read RLIMIT_MEMLOCK")]
    MemLockQuery {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A shard's thread or executor could not be started.
    #[error("cannot start shard {shard} on core {core}")]
    Spawn {
        /// The shard that failed.
        shard: ShardId,
        /// The core it was to be pinned to.
        core: usize,
        /// What failed (thread creation, CPU binding, io_uring setup).
        #[source]
        source: std::io::Error,
    },

    /// A shard's executor failed after it started.
    #[error("shard {shard} on core {core} failed")]
    ShardFailed {
        /// The shard that failed.
        shard: ShardId,
        /// Its core.
        core: usize,
        /// The executor's error.
        #[source]
        source: std::io::Error,
    },

    /// A shard panicked; the runtime turned the panic into this error.
    #[error("shard {shard} on core {core} panicked: {message}")]
    ShardPanicked {
        /// The shard that panicked.
        shard: ShardId,
        /// Its core.
        core: usize,
        /// The panic payload if it was a string, else a placeholder.
        message: String,
    },

    /// Shards did not end within the bound given to [`crate::Runtime::join_within`]; they were
    /// detached and end with the process.
    #[error("shards {shards:?} did not end within {waited:?}")]
    ShardsStuck {
        /// The shards still running.
        shards: Vec<ShardId>,
        /// How long the join waited.
        waited: std::time::Duration,
    },

    /// [`crate::Runtime::start_each`] got a different number of per-shard inputs than cores.
    #[error("{inputs} per-shard inputs for {shards} shards")]
    InputCountMismatch {
        /// How many inputs were given.
        inputs: usize,
        /// How many shards the spec names.
        shards: usize,
    },

    /// A mesh channel between two shards is closed (the peer ended or dropped its endpoint).
    #[error("mesh channel from shard {from} to shard {to} is closed")]
    MeshClosed {
        /// The sending shard.
        from: ShardId,
        /// The receiving shard.
        to: ShardId,
    },
}
