//! The proxy's part of a shard's shutdown, in order: requests in flight (bounded wait),
//! translated sessions, upstream sessions (teardown.rs), modern-client pools, stdio children.
//!
//! Not here: stopping the accept loops and the mesh (the app module, which calls [`shut_down`]
//! once they have ended); ending one session (teardown.rs).

use std::rc::Rc;
use std::time::Instant;

use shards::timeout::within;

use super::state::ShardState;
use super::teardown::end_upstream_sessions;

/// The proxy's part of a shard's shutdown, once its accept loops have ended: waits (bounded by
/// `shutdown_grace`) for requests in flight, then ends translated sessions, upstream sessions
/// and modern-client pools, and stops the stdio children.
pub async fn shut_down(state: &Rc<ShardState>) {
    let grace = state.config.timeouts.shutdown_grace;
    let deadline = Instant::now() + grace;
    let _ = within(grace, state.inflight.closed()).await;
    // Translated sessions have nothing upstream to end; their waits stop here.
    state.l2m.end_all();
    end_upstream_sessions(state, deadline).await;
    let _ = within(
        deadline.saturating_duration_since(Instant::now()),
        super::modern_client::shutdown(state),
    )
    .await;
    stop_children(state).await;
}

/// Stops every stdio child of this shard and waits (bounded) until they are reaped, so none
/// outlives the proxy even when it exits on its own.
async fn stop_children(state: &ShardState) {
    for children in state.all_children() {
        children.stop_all(STOP_CHILDREN_BOUND).await;
    }
}

/// Longest wait for children to be reaped at shutdown (SIGKILL follows each one's grace).
const STOP_CHILDREN_BOUND: std::time::Duration = std::time::Duration::from_secs(15);
