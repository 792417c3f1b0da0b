//! The `RLIMIT_MEMLOCK` check run before any shard starts, and the io-memory budget behind it.
//!
//! Not here: raising the limit (that is the operator's job; [`crate::Error::MemLock`] says how)
//! or starting executors ([`crate::executor`]). Cold: one `getrlimit` call per start.
//!
//! Each glommio executor locks memory for its io_uring rings (glommio itself refuses to start
//! below 512 KiB) and registers `io_memory` bytes of buffers for its DMA file I/O. When the
//! limit is too low glommio only logs a warning and runs without registered buffers, so a
//! misconfigured host would go unnoticed; this module turns that into an error with the fix.
//!
//! The check is conservative: it counts [`EXECUTOR_BASE_MEMLOCK`] plus the io memory (as glommio
//! rounds it: 4 KiB aligned, at least 64 KiB) for every shard against the soft limit.

use crate::error::Error;

/// Locked memory one executor needs besides its io memory: glommio's own minimum (its rings).
pub const EXECUTOR_BASE_MEMLOCK: usize = 512 * 1024;

/// Default io memory per shard: 2 MiB.
///
/// glommio's default is 10 MiB per executor, which does not fit the 8 MiB `RLIMIT_MEMLOCK` that
/// many hosts, containers and systemd units default to, even for one shard. The registered
/// buffers only serve glommio's DMA file I/O (sockets don't use them), which a proxy does
/// little of, so 2 MiB is plenty: with [`EXECUTOR_BASE_MEMLOCK`] that is 2.5 MiB per shard, and
/// three shards fit under 8 MiB. Use [`largest_io_memory`] to size it to the actual limit.
pub const DEFAULT_IO_MEMORY: usize = 2 * 1024 * 1024;

/// glommio rounds io memory up to this alignment.
const IO_MEMORY_ALIGN: usize = 4096;
/// glommio never registers less than this much io memory.
const IO_MEMORY_MIN: usize = 64 * 1024;

/// The soft `RLIMIT_MEMLOCK` of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemlockLimit {
    /// `RLIM_INFINITY`: any amount may be locked.
    Unlimited,
    /// At most this many bytes may be locked.
    Bytes(u64),
}

/// Reads the soft `RLIMIT_MEMLOCK` of this process.
///
/// # Errors
/// [`Error::MemLockQuery`] if `getrlimit` fails.
#[allow(unsafe_code, reason = "FFI call to getrlimit(2)")]
pub fn memlock_limit() -> Result<MemlockLimit, Error> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call, and
    // RLIMIT_MEMLOCK is a valid resource; getrlimit writes only into that struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 {
        return Err(Error::MemLockQuery {
            source: std::io::Error::last_os_error(),
        });
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        Ok(MemlockLimit::Unlimited)
    } else {
        Ok(MemlockLimit::Bytes(limit.rlim_cur))
    }
}

/// The io memory glommio actually registers for a requested amount.
fn effective_io_memory(io_memory: usize) -> u64 {
    let aligned = io_memory
        .div_ceil(IO_MEMORY_ALIGN)
        .saturating_mul(IO_MEMORY_ALIGN);
    u64::try_from(aligned.max(IO_MEMORY_MIN)).unwrap_or(u64::MAX)
}

/// Bytes of locked memory `shard_count` shards with `io_memory_per_shard` each need.
pub fn memlock_need(shard_count: usize, io_memory_per_shard: usize) -> u64 {
    let per_shard =
        effective_io_memory(io_memory_per_shard).saturating_add(EXECUTOR_BASE_MEMLOCK as u64);
    per_shard.saturating_mul(shard_count as u64)
}

/// Checks that the soft `RLIMIT_MEMLOCK` covers `shard_count` shards with `io_memory_per_shard`
/// bytes of io memory each. `RLIM_INFINITY` always passes.
///
/// # Errors
/// [`Error::MemLock`] (its message gives the exact fix) or [`Error::MemLockQuery`].
pub fn check_memlock(shard_count: usize, io_memory_per_shard: usize) -> Result<(), Error> {
    check_memlock_against(memlock_limit()?, shard_count, io_memory_per_shard)
}

/// [`check_memlock`] against a given limit; pure.
///
/// # Errors
/// [`Error::MemLock`] when the need exceeds the limit.
pub fn check_memlock_against(
    limit: MemlockLimit,
    shard_count: usize,
    io_memory_per_shard: usize,
) -> Result<(), Error> {
    let need_bytes = memlock_need(shard_count, io_memory_per_shard);
    match limit {
        MemlockLimit::Unlimited => Ok(()),
        MemlockLimit::Bytes(have_bytes) if have_bytes >= need_bytes => Ok(()),
        MemlockLimit::Bytes(have_bytes) => Err(Error::MemLock {
            have_bytes,
            need_bytes,
        }),
    }
}

/// The largest io memory per shard (a multiple of 4 KiB) that lets `shard_count` shards pass
/// [`check_memlock_against`] under `limit`.
///
/// Returns `Some(usize::MAX)` for an unlimited limit (cap it yourself, e.g. with
/// `.min(DEFAULT_IO_MEMORY)`), and `None` when even glommio's 64 KiB minimum does not fit.
pub fn largest_io_memory(limit: MemlockLimit, shard_count: usize) -> Option<usize> {
    let MemlockLimit::Bytes(have) = limit else {
        return Some(usize::MAX);
    };
    let per_shard = have / (shard_count.max(1) as u64);
    let io = per_shard.checked_sub(EXECUTOR_BASE_MEMLOCK as u64)?;
    let io = usize::try_from(io).unwrap_or(usize::MAX);
    let io = io - io % IO_MEMORY_ALIGN;
    (io >= IO_MEMORY_MIN).then_some(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;

    #[test]
    fn need_counts_base_and_glommio_rounding() {
        assert_eq!(memlock_need(2, 2 * MIB), 2 * (2 * MIB + 512 * KIB) as u64);
        // Rounded up to 4 KiB, and never below 64 KiB.
        assert_eq!(memlock_need(1, 65537), (68 * KIB + 512 * KIB) as u64);
        assert_eq!(memlock_need(1, 4097), (64 * KIB + 512 * KIB) as u64);
        assert_eq!(memlock_need(1, 0), (64 * KIB + 512 * KIB) as u64);
        assert_eq!(memlock_need(usize::MAX, usize::MAX), u64::MAX);
    }

    #[test]
    fn default_fits_two_shards_in_8_mib() {
        let eight = MemlockLimit::Bytes(8 * MIB as u64);
        assert!(check_memlock_against(eight, 2, DEFAULT_IO_MEMORY).is_ok());
        assert!(check_memlock_against(eight, 3, DEFAULT_IO_MEMORY).is_ok());
        assert!(check_memlock_against(eight, 4, DEFAULT_IO_MEMORY).is_err());
    }

    #[test]
    fn unlimited_always_passes() {
        assert!(check_memlock_against(MemlockLimit::Unlimited, 1024, 1 << 40).is_ok());
        assert_eq!(
            largest_io_memory(MemlockLimit::Unlimited, 8),
            Some(usize::MAX)
        );
    }

    #[test]
    fn too_low_names_have_need_and_every_fix() {
        let err = check_memlock_against(MemlockLimit::Bytes(64 * KIB as u64), 2, MIB).unwrap_err();
        let need = 2 * (MIB + 512 * KIB) as u64;
        assert!(matches!(
            err,
            Error::MemLock { have_bytes, need_bytes } if have_bytes == 65536 && need_bytes == need
        ));
        let text = err.to_string();
        for fix in [
            "64 KiB",
            "3072 KiB",
            "ulimit -l unlimited",
            "ulimit -l 3072",
            "LimitMEMLOCK=infinity",
            "* - memlock unlimited",
            "/etc/security/limits.conf",
            "--ulimit memlock=-1",
        ] {
            assert!(text.contains(fix), "{fix:?} missing from {text}");
        }
    }

    #[test]
    fn largest_io_memory_fits_exactly() {
        let eight = MemlockLimit::Bytes(8 * MIB as u64);
        let io = largest_io_memory(eight, 2).unwrap();
        assert_eq!(io, 4 * MIB - 512 * KIB);
        assert!(check_memlock_against(eight, 2, io).is_ok());
        assert!(check_memlock_against(eight, 2, io + 4 * KIB).is_err());
        // Odd limits round down to 4 KiB.
        let odd = MemlockLimit::Bytes(3 * MIB as u64 + 123);
        let io = largest_io_memory(odd, 1).unwrap();
        assert_eq!(io % 4096, 0);
        assert!(check_memlock_against(odd, 1, io).is_ok());
        // Below base + 64 KiB per shard nothing fits.
        assert_eq!(
            largest_io_memory(MemlockLimit::Bytes(1024 * KIB as u64), 2),
            None
        );
    }

    #[test]
    fn reads_this_process_limit() {
        // Whatever the host says, reading it must work.
        memlock_limit().unwrap();
    }
}
