//! A started proxy as its launcher holds it: the bound addresses, the per-shard stop signal,
//! and the join. `shadowcat` (`app::run_proxy`) and the in-process request-path tests
//! (`tests/request_path`) both start the proxy through `app::start` and end it here.
//!
//! A shard that dies (panics, or its executor fails) ends the process: [`wait_for_shards`] logs
//! it, tells the other shards to stop, gives them [`AFTER_FAILURE`] to end, and returns the
//! failure whether or not they did (the caller exits non-zero; threads still running end with
//! the process). So a proxy is never left up with a dead shard, deaf on its share of the
//! connections.
//!
//! Not here: startup itself (`app::start`), signal handling (`app::spawn_signal_thread`), what a
//! shard does on stop (shard.rs).

use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::time::Duration;

use shards::executor::Runtime;

use super::shard::Binds;
use super::{reload_all, signal_all, AppError};
use crate::config::Config;

/// How long the other shards get to end after one died, before the process exits without them.
pub const AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Slack over `timeouts.shutdown_grace` for a stop to finish: ending upstream sessions takes at
/// least 500 ms beyond the drain, then the shards' own teardown.
pub const STOP_MARGIN: Duration = Duration::from_secs(2);

/// How long a graceful stop may take before shadowcat gives up on it.
pub(super) fn stop_bound(shutdown_grace: Duration) -> Duration {
    shutdown_grace.saturating_add(STOP_MARGIN)
}

/// Waits until every shard has ended. When one fails first, logs it, tells the others to stop,
/// waits at most [`AFTER_FAILURE`] for them, and returns the failure.
pub(super) fn wait_for_shards(
    mut runtime: Runtime,
    stop: &[StdUnixStream],
) -> Result<(), AppError> {
    let Err(failure) = runtime.until_failure() else {
        return Ok(());
    };
    tracing::error!(error = %failure, "a shard died: stopping the other shards, then exiting");
    signal_all(stop);
    if let Err(rest) = runtime.join_within(AFTER_FAILURE) {
        tracing::error!(error = %rest, "exiting without them");
    }
    Err(AppError::from(failure))
}

/// A running proxy whose shards are all ready. Dropping it stops the shards and waits for them
/// (in-flight requests drain within `timeouts.shutdown_grace`, stdio children are reaped), so a
/// test that fails half-way leaves nothing behind; a shard that does not end within the grace
/// plus [`STOP_MARGIN`] is left running rather than waited on forever.
#[derive(Debug)]
#[must_use = "dropping a Running stops the proxy at once"]
pub struct Running {
    /// `None` once joined.
    runtime: Option<Runtime>,
    /// One end of each shard's stop socketpair: a byte (or closing it) stops that shard.
    stop: Vec<StdUnixStream>,
    binds: Arc<Binds>,
    config: Arc<Config>,
}

impl Running {
    pub(super) fn new(
        runtime: Runtime,
        stop: Vec<StdUnixStream>,
        binds: Arc<Binds>,
        config: Arc<Config>,
    ) -> Self {
        Self {
            runtime: Some(runtime),
            stop,
            binds,
            config,
        }
    }

    /// Where the proxy listens: `listeners[i]` is `config().listeners[i]`, ports resolved
    /// (a configured port 0 is the port the kernel picked).
    pub fn binds(&self) -> &Binds {
        &self.binds
    }

    /// The configuration the shards run with (the demo upstream pointed at its real port).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many shards run.
    pub fn shard_count(&self) -> usize {
        self.runtime.as_ref().map_or(0, Runtime::shard_count)
    }

    /// Copies of the stop signal, for a signal handler that outlives this borrow.
    ///
    /// # Errors
    /// When a socket cannot be duplicated (out of file descriptors).
    pub fn stop_handles(&self) -> std::io::Result<Vec<StdUnixStream>> {
        self.stop.iter().map(StdUnixStream::try_clone).collect()
    }

    /// Tells every shard to stop (graceful: the same as the first SIGTERM). Does not wait.
    pub fn stop(&self) {
        signal_all(&self.stop);
    }

    /// Tells every shard to reload (the same as SIGHUP: API key files). Does not wait.
    pub fn reload(&self) {
        reload_all(&self.stop);
    }

    /// Waits until every shard has ended (after a signal or [`Running::stop`]), or one fails:
    /// then the others are told to stop and given [`AFTER_FAILURE`] to end.
    ///
    /// # Errors
    /// The first shard that panicked or failed.
    pub fn join(mut self) -> Result<(), AppError> {
        let result = match self.runtime.take() {
            Some(runtime) => wait_for_shards(runtime, &self.stop),
            None => Ok(()),
        };
        tracing::info!("stopped");
        result
    }

    /// Stops every shard and waits until all have ended: [`Running::stop`] then
    /// [`Running::join`].
    ///
    /// # Errors
    /// As [`Running::join`].
    pub fn shutdown(self) -> Result<(), AppError> {
        self.stop();
        self.join()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            signal_all(&self.stop);
            // Waits for every shard, so their children are reaped before the caller goes on.
            let bound = stop_bound(self.config.timeouts.shutdown_grace);
            if let Err(e) = runtime.join_within(bound) {
                tracing::error!(error = %e, "stopping the proxy");
            }
        }
    }
}
