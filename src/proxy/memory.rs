//! The shard's memory housekeeping: after a burst of large bodies has been freed (the buffer
//! pool keeps at most `runtime.buffer_pool_memory`), hand the freed heap back to the OS.
//!
//! Not here: the pool's cap (`shards::slab`), the trim itself and its trigger
//! (`shards::memtrim`). Runs as its own task, off every request path: a check is one read of
//! the pool's counters per second; the trim (a walk of glibc's arenas: 1.3 to 2.4 ms measured
//! after bursts of 256 concurrent 1 MiB bodies on one shard) only once the shard stopped freeing.

use std::rc::Rc;
use std::time::{Duration, Instant};

use shards::memtrim::{release_free_heap, TrimTrigger};

use super::metrics::Counter;
use super::state::ShardState;

/// How often the shard looks at what its pool freed.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Freed bytes worth a trim: glibc returns memory at the top of an arena by itself (above its
/// trim threshold), so a trim pays off only after a release well beyond a few buffers.
const TRIM_AFTER_FREED: u64 = 16 * 1024 * 1024;

/// Trims the heap after the shard's pool freed [`TRIM_AFTER_FREED`] bytes and then a check
/// interval passed without more frees; ends at shutdown.
pub async fn trimmer(state: Rc<ShardState>) {
    let mut trigger = TrimTrigger::new(TRIM_AFTER_FREED, state.bufs.stats().freed_bytes);
    while super::periodic::next_period(&state, CHECK_INTERVAL).await {
        if trigger.check(state.bufs.stats().freed_bytes) {
            let started = Instant::now();
            let released = release_free_heap();
            state.metrics.incr(Counter::MemoryTrims);
            tracing::debug!(
                shard = state.id().0,
                released,
                took_us = started.elapsed().as_micros() as u64,
                "heap trimmed after a burst of frees"
            );
        }
    }
}
