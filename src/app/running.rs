//! A started proxy as its launcher holds it: the bound addresses, the per-shard stop signal,
//! and the join. `shadowcat` (`app::run_proxy`) and the in-process request-path tests
//! (`tests/request_path`) both start the proxy through `app::start` and end it here.
//!
//! A shard that dies (panics, or its executor fails) ends the process: [`wait_for_shards`] logs
//! it, tells the other shards to stop (a graceful stop, as the first SIGTERM: drain, end
//! upstream sessions, stop stdio children, finish tapes), gives them the stop bound to end, and
//! returns the failure whether or not they did (the caller exits non-zero; threads still running
//! end with the process). So a proxy is never left up with a dead shard, deaf on its share of
//! the connections.
//!
//! Not here: startup itself (`app::start`), signal handling (`app::spawn_signal_thread`), what a
//! shard does on stop (shard.rs).

use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::time::Duration;

use shards::executor::Runtime;

use super::shard::Binds;
use super::{reload_all, signal_all, AppError};
use crate::config::{Config, UpstreamTransport};

/// How long shards that are starting get to end after one failed to start.
pub const AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Slack over the drain and the children's kill grace for a stop to finish: ending upstream
/// sessions (at least 500 ms), stopping children (SIGKILL to their groups, reaping), finishing
/// tapes and the audit log.
pub const STOP_MARGIN: Duration = Duration::from_secs(5);

/// How long a graceful stop may take before shadowcat gives up on it: the drain
/// (`timeouts.shutdown_grace`; twice with an embedded demo server, which drains after the
/// proxy), the longest stdio `kill_grace`, and [`STOP_MARGIN`].
pub(super) fn stop_bound(config: &Config) -> Duration {
    let grace = config.timeouts.shutdown_grace;
    let drains = if config.demo.is_some() { 2 } else { 1 };
    let children = config
        .upstreams
        .iter()
        .filter_map(|u| match &u.transport {
            UpstreamTransport::Stdio(stdio) => Some(stdio.kill_grace),
            _ => None,
        })
        .max()
        .unwrap_or_default();
    grace
        .saturating_mul(drains)
        .saturating_add(children)
        .saturating_add(STOP_MARGIN)
}

/// Waits until every shard has ended. When one fails first, logs it, tells the others to stop,
/// waits at most `bound` (the stop bound) for them, and returns the failure.
pub(super) fn wait_for_shards(
    mut runtime: Runtime,
    stop: &[StdUnixStream],
    bound: Duration,
) -> Result<(), AppError> {
    let Err(failure) = runtime.until_failure() else {
        return Ok(());
    };
    tracing::error!(error = %failure, "a shard died: stopping the other shards, then exiting");
    signal_all(stop);
    if let Err(rest) = runtime.join_within(bound) {
        tracing::error!(error = %rest, "exiting without them");
    }
    Err(AppError::from(failure))
}

/// A running proxy whose shards are all ready. Dropping it stops the shards and waits for them
/// (in-flight requests drain within `timeouts.shutdown_grace`, stdio children are reaped), so a
/// test that fails half-way leaves nothing behind; a shard that does not end within the stop
/// bound ([`STOP_MARGIN`]) is left running rather than waited on forever.
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
    /// then the others are told to stop and given the stop bound to end.
    ///
    /// # Errors
    /// The first shard that panicked or failed.
    pub fn join(mut self) -> Result<(), AppError> {
        let result = match self.runtime.take() {
            Some(runtime) => {
                let bound = stop_bound(&self.config);
                wait_for_shards(runtime, &self.stop, bound)
            }
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
            let bound = stop_bound(&self.config);
            if let Err(e) = runtime.join_within(bound) {
                tracing::error!(error = %e, "stopping the proxy");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        crate::config::from_toml_str(text, "t.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_stop_bound_covers_the_drain_the_children_and_the_margin() {
        let http = "[upstreams.a]\nurl = \"http://127.0.0.1:9/mcp\"\n\
                    [listeners.main]\nbind = \"127.0.0.1:0\"\n\
                    [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"a\"\n\
                    [timeouts]\nshutdown_grace = \"1s\"\n";
        assert_eq!(stop_bound(&config(http)), Duration::from_secs(6));
        let stdio = http.replace(
            "url = \"http://127.0.0.1:9/mcp\"",
            "command = [\"true\"]\nkill_grace = \"4s\"",
        );
        // A child that ignores SIGTERM gets its kill grace before the bound runs out.
        assert_eq!(stop_bound(&config(&stdio)), Duration::from_secs(10));
    }
}
