//! The rhythm of a shard's housekeeping tasks (the session reaper, the heap trimmer): one
//! period at a time, ending when the shard shuts down.
//!
//! Not here: what the tasks do (teardown.rs, memory.rs), the shutdown itself (shutdown.rs).

use std::time::Duration;

use super::state::ShardState;

/// One period of a shard's housekeeping task (reaper, heap trimmer): sleeps `interval`; false
/// when the shard's shutdown began first, and the task should end.
pub(super) async fn next_period(state: &ShardState, interval: Duration) -> bool {
    futures_lite::future::or(
        async {
            glommio::timer::sleep(interval).await;
            true
        },
        async {
            state.shutdown.wait().await;
            false
        },
    )
    .await
}
