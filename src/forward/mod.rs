//! Forward mode (`shadowcat forward`): a stdio MCP client (an IDE that launches us) on our
//! stdin/stdout, and the target behind: a Streamable HTTP server (`--target URL`) or a stdio
//! server run as a child (`-- CMD ARGS...`). Every message is inspected on the way, with the
//! reverse proxy's rules and error codes; stdout carries only protocol lines, logs go to
//! stderr.
//!
//! - `bridge.rs`: stdin/stdout/signals onto sockets the executor can await (and why threads).
//! - `input.rs`: client lines -> inspected [`ClientMessage`](input::ClientMessage)s, invalid
//!   ones answered.
//! - `output.rs`: the one ordered writer of stdout.
//! - `stages.rs`: the request pipeline's stages (`--allow-tool`, `--deny-tool`) on each
//!   client line and, through output.rs, on each message to the client.
//! - `http_mode.rs`, `http_target.rs`, `http_stream.rs`, `http_request.rs`, `http_reply.rs`:
//!   the Streamable HTTP client side (sessions, POST answers as JSON or SSE, the GET stream,
//!   resumption, errors).
//! - `stdio_target.rs`: the child target.
//!
//! Not here: the reverse proxy (the proxy module), spawning/killing children
//! (crate::upstream::stdio), codecs (crate::http, crate::mcp).
//!
//! Runs on one glommio `LocalExecutor` on the calling thread, unpinned (an IDE runs us next to
//! everything else) with the smallest io memory glommio takes ([`IO_MEMORY`]), so it starts
//! under the usual 8 MiB `RLIMIT_MEMLOCK` and even under much lower limits; the limit is
//! checked first and a failure says how to fix it. A stdio child is spawned from this thread,
//! so it dies with forward (`PR_SET_PDEATHSIG`).

mod bridge;
mod http_mode;
mod http_reply;
mod http_request;
mod http_stream;
mod http_target;
mod input;
mod output;
mod record;
mod stages;
mod stdio_target;

use std::rc::Rc;
use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::{LocalExecutorBuilder, Placement};

use crate::config::{ForwardConfig, ForwardTarget};
use crate::pipeline::RouteStages;
use crate::upstream::stdio::ChildSpec;
use shards::latch::Latch;
use shards::timeout::within;

/// io_uring buffer memory of the executor: glommio's minimum. Forward mode does no file I/O,
/// and sockets do not use these buffers.
pub const IO_MEMORY: usize = 64 * 1024;

/// After SIGINT/SIGTERM, how long in-flight requests (or a child) get before we exit anyway.
pub(crate) const SIGNAL_DRAIN: Duration = Duration::from_secs(2);

/// How long the last lines get to reach stdout at exit (the client may have stopped reading).
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// How forward mode ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardExit {
    /// The client closed stdin or we were signalled; everything was wound down.
    Clean,
    /// The target (a child) ended or could not start; the text says how.
    TargetEnded(String),
}

/// Why forward mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Locked memory too low for even one executor.
    #[error("{0}")]
    MemLock(shards::Error),
    /// The executor could not be built (io_uring unavailable, ...).
    #[error("cannot start the executor: {0}")]
    Executor(String),
    /// Socketpairs, threads or signal handlers could not be set up.
    #[error("startup I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs forward mode until the client is done (stdin EOF), a signal, or the child target ends.
///
/// # Errors
/// [`ForwardError`] when it cannot start; failures of the target are answered to the client
/// instead (and a child's end is [`ForwardExit::TargetEnded`]).
pub fn run(config: ForwardConfig) -> Result<ForwardExit, ForwardError> {
    shards::memlock::check_memlock(1, IO_MEMORY).map_err(ForwardError::MemLock)?;
    let bridge::Bridge {
        stdin,
        stdout,
        signals,
        stdout_done,
    } = bridge::start()?;
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .name("forward")
        .io_memory(IO_MEMORY)
        .make()
        .map_err(|e| ForwardError::Executor(e.to_string()))?;
    let exit = executor.run(serve(config, (stdin, stdout, signals)));
    // The writer closed its end of the stdout socket: wait for the copier to write the rest.
    let _ = stdout_done.recv_timeout(FLUSH_WAIT);
    Ok(exit)
}

type Streams = (
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixStream,
);

async fn serve(config: ForwardConfig, (stdin, stdout, signals): Streams) -> ForwardExit {
    let stop = Rc::new(Latch::default());
    let stages = RouteStages::with_tools(config.tools);
    // The tape's writer outlives the session: it ends the tape once the rest is done.
    let tape_stop = Rc::new(Latch::default());
    let (tape, tape_writer) = config
        .recording
        .as_ref()
        .and_then(|rec| record::Tape::start(rec, &config.target, tape_stop.clone()))
        .map(|(tape, task)| (Some(tape), Some(glommio::spawn_local(task))))
        .unwrap_or_default();
    let (out, writer) = output::Output::start(
        bridge::into_glommio(stdout),
        stop.clone(),
        (stages.clone(), tape),
    );
    let writer = glommio::spawn_local(writer);
    glommio::spawn_local(watch_signals(bridge::into_glommio(signals), stop.clone())).detach();
    let input = input::ClientInput::new(bridge::into_glommio(stdin), stages);
    let exit = match config.target {
        ForwardTarget::Http {
            url,
            headers,
            trust,
        } => {
            tracing::info!(target = %url.to_url(), "forwarding stdio to HTTP");
            let target = Rc::new(http_target::HttpTarget::new(
                (url, trust),
                headers,
                config.connect_timeout,
                config.request_timeout,
                out.clone(),
                stop.clone(),
            ));
            http_mode::run(
                target,
                input,
                out.clone(),
                stop.clone(),
                config.request_timeout,
            )
            .await
        }
        ForwardTarget::Stdio { command, env, cwd } => {
            let spec = ChildSpec {
                argv: command,
                env,
                cwd,
            };
            stdio_target::run(spec, config.kill_grace, input, out.clone(), stop.clone()).await
        }
    };
    // Bounded: a client that stopped reading leaves the queue full and the writer stuck.
    let _ = within(FLUSH_WAIT, async {
        out.finish().await;
        writer.await;
    })
    .await;
    tape_stop.fire();
    if let Some(task) = tape_writer {
        let _ = within(FLUSH_WAIT, task).await;
    }
    exit
}

/// `fut`'s output if it finishes within `limit` and, once `stop` fires (a signal, or the
/// client gone), within [`SIGNAL_DRAIN`] after that; `None` otherwise. For waits at exit: a
/// signal arriving while draining after stdin closed still ends them promptly.
pub(crate) async fn drain<F: std::future::Future>(
    limit: Duration,
    stop: &Latch,
    fut: F,
) -> Option<F::Output> {
    let until_stopped = async {
        stop.wait().await;
        glommio::timer::sleep(SIGNAL_DRAIN).await;
        None
    };
    within(
        limit,
        futures_lite::future::or(async { Some(fut.await) }, until_stopped),
    )
    .await
    .flatten()
}

/// Fires `stop` on the first signal byte from the signal thread.
async fn watch_signals(mut signals: glommio::net::UnixStream, stop: Rc<Latch>) {
    let mut byte = [0u8; 1];
    if matches!(signals.read(&mut byte).await, Ok(1)) {
        stop.fire();
    }
}
