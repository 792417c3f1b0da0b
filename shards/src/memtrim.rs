//! Handing freed heap memory back to the OS, and when to: after a shard freed a lot and went
//! quiet.
//!
//! Not here: what gets freed (the [`crate::slab::BufPool`] caps idle buffers and counts the bytes
//! it frees), running the check periodically (the proxy's shard housekeeping task).
//!
//! Why: glibc's malloc keeps freed memory in its arenas. Freed chunks in the middle of a shard
//! thread's arena, and everything below the dynamic trim threshold (which rises after the first
//! large free), stay resident: measured with `bench/memory.sh`, a burst of 256 concurrent 1 MiB
//! bodies left the proxy at 85 MB RSS with the pool holding only 7 MiB. `malloc_trim(0)` returns
//! the free pages of every arena (`MADV_DONTNEED`), costing a walk of the arenas' free lists,
//! so it runs only after a release worth the walk, once the shard has stopped freeing: never on
//! a request path. Elsewhere than glibc it is a no-op.

/// Decides when a shard should trim: once at least `threshold` bytes were freed since the last
/// trim and nothing more was freed between two checks (the burst is over). Fed the running
/// total of freed bytes (wrapping), one check per tick.
#[derive(Debug, Clone)]
pub struct TrimTrigger {
    threshold: u64,
    freed_at_last_trim: u64,
    freed_at_last_check: u64,
}

impl TrimTrigger {
    /// A trigger firing after `threshold` freed bytes; `freed_now` is the current total.
    pub fn new(threshold: u64, freed_now: u64) -> TrimTrigger {
        TrimTrigger {
            threshold,
            freed_at_last_trim: freed_now,
            freed_at_last_check: freed_now,
        }
    }

    /// One check with the current total of freed bytes: true when it is time to trim (the
    /// caller then trims; the count starts again from here).
    pub fn check(&mut self, freed_now: u64) -> bool {
        let quiet = freed_now == self.freed_at_last_check;
        self.freed_at_last_check = freed_now;
        let since_trim = freed_now.wrapping_sub(self.freed_at_last_trim);
        if quiet && since_trim >= self.threshold {
            self.freed_at_last_trim = freed_now;
            return true;
        }
        false
    }
}

/// Returns the allocator's free memory to the OS (glibc `malloc_trim(0)`, all arenas). True
/// when some memory was released; always false where the allocator is not glibc's.
pub fn release_free_heap() -> bool {
    trim()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "FFI call to glibc's malloc_trim(3)")]
fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena in turn).
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn fires_once_the_burst_is_over() {
        let mut trigger = TrimTrigger::new(16 * MIB, 0);
        assert!(!trigger.check(0), "nothing freed");
        assert!(
            !trigger.check(10 * MIB),
            "still freeing, below the threshold"
        );
        assert!(!trigger.check(40 * MIB), "still freeing");
        assert!(trigger.check(40 * MIB), "quiet after 40 MiB");
        assert!(!trigger.check(40 * MIB), "already trimmed");
        assert!(!trigger.check(41 * MIB));
        assert!(
            !trigger.check(41 * MIB),
            "quiet, but only 1 MiB since the trim"
        );
    }

    #[test]
    fn small_frees_add_up() {
        let mut trigger = TrimTrigger::new(4 * MIB, 0);
        let mut total = 0;
        let mut fired = 0;
        for _ in 0..10 {
            total += MIB;
            assert!(!trigger.check(total));
            fired += u32::from(trigger.check(total));
        }
        // 10 MiB freed in 1 MiB steps with a quiet check after each: fires at 4 and 8 MiB.
        assert_eq!(fired, 2);
    }

    #[test]
    fn counts_across_the_wrap() {
        let start = u64::MAX - MIB;
        let mut trigger = TrimTrigger::new(2 * MIB, start);
        let later = start.wrapping_add(3 * MIB);
        assert!(!trigger.check(later));
        assert!(trigger.check(later));
    }

    #[test]
    fn release_free_heap_runs() {
        // Whether anything is released depends on the heap; it must just be callable.
        drop(vec![0_u8; 4 * MIB as usize]);
        let _ = release_free_heap();
    }
}
