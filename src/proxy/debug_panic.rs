//! Debug builds only (the module is compiled under `cfg(debug_assertions)`): a way for the
//! process tests to make a connection task panic, the failure a bug in request handling would
//! cause, and check that the process exits instead of living on with a dead shard.
//!
//! Armed by `SHADOWCAT_DEBUG_PANIC=connection` in the environment; release builds have no such
//! path.

use std::future::Future;

/// The variable that arms it.
const VAR: &str = "SHADOWCAT_DEBUG_PANIC";

/// `connection`, or, when armed, a task that panics as soon as it runs.
pub(super) fn connection(
    connection: impl Future<Output = ()> + 'static,
) -> impl Future<Output = ()> {
    let armed = std::env::var_os(VAR).is_some_and(|v| v == "connection");
    async move {
        if armed {
            #[allow(
                clippy::panic,
                reason = "the point: a test-only stand-in for a handler bug"
            )]
            {
                panic!("{VAR}=connection: this connection task panics (debug builds only)");
            }
        }
        connection.await
    }
}
