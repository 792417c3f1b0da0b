//! A started proxy as its launcher holds it: the bound addresses, the per-shard stop signal,
//! and the join. `shadowcat` (`app::run_proxy`) and the in-process request-path tests
//! (`tests/request_path`) both start the proxy through `app::start` and end it here.
//!
//! Not here: startup itself (`app::start`), signal handling (`app::spawn_signal_thread`), what a
//! shard does on stop (shard.rs).

use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;

use shards::executor::Runtime;

use super::shard::Binds;
use super::{reload_all, signal_all, AppError};
use crate::config::Config;

/// A running proxy whose shards are all ready. Dropping it stops the shards and waits for them
/// (in-flight requests drain within `timeouts.shutdown_grace`, stdio children are reaped), so a
/// test that fails half-way leaves nothing behind.
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

    /// Waits until every shard has ended (after a signal, [`Running::stop`], or a failure).
    ///
    /// # Errors
    /// The first shard that panicked or failed.
    pub fn join(mut self) -> Result<(), AppError> {
        let result = match self.runtime.take() {
            Some(runtime) => runtime.join_until_failure().map_err(AppError::from),
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
            let _ = runtime.join();
        }
    }
}
