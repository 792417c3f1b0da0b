//! Forward mode against a stdio child (`forward -- CMD ARGS...`): client lines go to the
//! child's stdin, the child's stdout lines go to the client, both inspected on the way.
//!
//! Not here: spawning and killing (crate::upstream::stdio), the client side (input.rs,
//! output.rs). Rules: a client line that is not JSON-RPC is answered with its error and not
//! forwarded; a child line that is not JSON-RPC is logged and skipped; the child's stderr goes to
//! our log, tagged with its pid. When the child exits, every client request it had not answered
//! gets `-32010` naming the exit status and forward exits non-zero. When the client closes stdin
//! (or a signal arrives), the child's stdin is closed, it gets `kill_grace` to finish and exit,
//! then its process group is terminated.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future::or;
use glommio::net::UnixStream;

use crate::mcp::jsonrpc::UPSTREAM_UNAVAILABLE;
use crate::mcp::{Inspector, JsonRpcId, Kind};
use crate::upstream::stdio::{spawn, ChildProcess, ChildSpec, ChildWriter, LineReader};
use shards::latch::Latch;
use shards::timeout::within;

use super::input::{ClientInput, ClientMessage, Next};
use super::output::Output;
use super::{drain, ForwardExit, SIGNAL_DRAIN};

/// How often a child that closed stdout is checked for its exit.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// Client requests the child has not answered yet.
type Pending = Rc<RefCell<Vec<JsonRpcId>>>;

enum Event {
    Client(Next),
    Stop,
    ChildGone,
}

/// Runs the child until the client or the child is done.
pub(crate) async fn run(
    spec: ChildSpec,
    kill_grace: Duration,
    mut input: ClientInput,
    out: Rc<Output>,
    stop: Rc<Latch>,
) -> ForwardExit {
    let child = match spawn(&spec) {
        Ok(child) => child,
        Err(error) => return refuse_all(&error.to_string(), input, &out, &stop).await,
    };
    let pid = child.pid();
    tracing::info!(pid, command = ?spec.argv, "target started");
    let (process, stdout, mut stdin, stderr) = child.into_parts();
    glommio::spawn_local(log_stderr(stderr, pid)).detach();
    let pending: Pending = Rc::default();
    let child_gone = Rc::new(Latch::default());
    let reader = glommio::spawn_local(relay_child(
        stdout,
        out.clone(),
        pending.clone(),
        child_gone.clone(),
    ));
    loop {
        let event = next_event(&mut input, &out, &stop, &child_gone).await;
        match event {
            Event::Client(Next::Message(msg)) => {
                track(&pending, &msg);
                let sent = send_to_child(&mut stdin, &msg.bytes, &child_gone, &stop).await;
                let Some(sent) = sent else {
                    // Signalled while the child would not read: stop it now.
                    tracing::info!(
                        pid,
                        "signalled while the target is not reading; stopping it"
                    );
                    drop(reader);
                    finish(process, kill_grace.min(SIGNAL_DRAIN)).await;
                    return ForwardExit::Clean;
                };
                if !sent {
                    return child_died(process, reader, kill_grace, &pending, &out).await;
                }
            }
            Event::Client(Next::Eof | Next::Broken(_)) | Event::Stop => {
                let grace = if stop.is_fired() {
                    kill_grace.min(SIGNAL_DRAIN)
                } else {
                    kill_grace
                };
                tracing::info!(pid, "client done: closing the target's stdin");
                let _ = stdin.close().await;
                let _ = drain(grace, &stop, reader).await;
                finish(process, grace).await;
                return ForwardExit::Clean;
            }
            Event::ChildGone => {
                return child_died(process, reader, kill_grace, &pending, &out).await;
            }
        }
    }
}

/// Waits for the client's next message, a signal, or the child going away.
async fn next_event(
    input: &mut ClientInput,
    out: &Output,
    stop: &Latch,
    child_gone: &Latch,
) -> Event {
    or(
        async { Event::Client(input.next(out).await) },
        or(
            async {
                stop.wait().await;
                Event::Stop
            },
            async {
                child_gone.wait().await;
                Event::ChildGone
            },
        ),
    )
    .await
}

/// Records the requests a client message makes (each expects an answer) and drops those it
/// cancels.
fn track(pending: &Pending, msg: &ClientMessage) {
    let mut pending = pending.borrow_mut();
    pending.extend(msg.requests.iter().cloned());
    // A cancelled request may never be answered; the client expects nothing.
    if !msg.cancels.is_empty() {
        pending.retain(|id| !msg.cancels.contains(id));
    }
}

/// Writes `bytes` to the child's stdin: `Some(true)` sent, `Some(false)` the child is gone
/// (or the write failed), `None` signalled while the child would not read.
async fn send_to_child(
    stdin: &mut ChildWriter,
    bytes: &[u8],
    child_gone: &Latch,
    stop: &Latch,
) -> Option<bool> {
    or(async { Some(stdin.send(bytes).await.is_ok()) }, async {
        or(
            async {
                child_gone.wait().await;
                Some(false)
            },
            async {
                // A child that stopped reading must not make us ignore SIGTERM.
                stop.wait().await;
                None
            },
        )
        .await
    })
    .await
}

/// The child closed stdout or stopped reading: relay what it still wrote, then report its
/// exit to every request it left unanswered.
async fn child_died(
    mut process: ChildProcess,
    reader: glommio::Task<()>,
    kill_grace: Duration,
    pending: &Pending,
    out: &Output,
) -> ForwardExit {
    let _ = within(kill_grace, reader).await;
    let status = within(kill_grace, process.wait_exit(EXIT_POLL)).await;
    let description = match &status {
        Some(Ok(status)) => format!("the target process exited ({status})"),
        _ => "the target process closed its stdout".to_owned(),
    };
    tracing::warn!(pid = process.pid(), "{description}");
    let ids = std::mem::take(&mut *pending.borrow_mut());
    out.errors(&ids, UPSTREAM_UNAVAILABLE, &description).await;
    finish(process, kill_grace).await;
    ForwardExit::TargetEnded(description)
}

/// Terminates the child's process group (a child that already exited is only reaped).
async fn finish(process: ChildProcess, grace: Duration) {
    let pid = process.pid();
    match process.terminate(grace).await {
        Ok(exit) if exit.killed => {
            tracing::warn!(pid, status = %exit.status, "target killed after the grace period")
        }
        Ok(exit) => tracing::info!(pid, status = %exit.status, "target exited"),
        Err(error) => tracing::warn!(pid, %error, "ending the target failed"),
    }
}

/// Child stdout -> client, skipping lines that are not JSON-RPC; fires `gone` at EOF.
async fn relay_child(
    mut lines: LineReader<UnixStream>,
    out: Rc<Output>,
    pending: Pending,
    gone: Rc<Latch>,
) {
    let mut inspector = Inspector::new();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%error, "reading the target's stdout failed");
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match inspector.inspect(line) {
            Ok(inspected) => {
                for info in inspected.messages() {
                    if let (Kind::Response | Kind::ErrorResponse, Some(id)) = (info.kind, &info.id)
                    {
                        let mut pending = pending.borrow_mut();
                        if let Some(at) = pending.iter().position(|p| p == id) {
                            pending.swap_remove(at);
                        }
                    }
                }
                if !out.message(line).await {
                    break;
                }
            }
            Err(error) => {
                let preview = String::from_utf8_lossy(line.get(..200).unwrap_or(line));
                tracing::warn!(%error, line = %preview, "skipped a line from the target that is not JSON-RPC");
            }
        }
    }
    gone.fire();
}

/// Child stderr -> our log, one event per line.
async fn log_stderr(mut lines: LineReader<UnixStream>, pid: u32) {
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(pid, "child stderr: {}", String::from_utf8_lossy(line));
    }
}

/// The child could not start: every request gets an error naming why, until the client is
/// done; then forward exits non-zero.
async fn refuse_all(
    reason: &str,
    mut input: ClientInput,
    out: &Output,
    stop: &Latch,
) -> ForwardExit {
    let message = format!("cannot start the target: {reason}");
    tracing::error!("{message}");
    loop {
        let next = or(async { Some(input.next(out).await) }, async {
            stop.wait().await;
            None
        })
        .await;
        match next {
            Some(Next::Message(msg)) => {
                out.errors(&msg.requests, UPSTREAM_UNAVAILABLE, &message)
                    .await
            }
            _ => return ForwardExit::TargetEnded(message),
        }
    }
}
