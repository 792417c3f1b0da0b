//! `shadowcat demo-server --stdio`: the demo MCP server on stdin/stdout, one JSON-RPC message
//! per line (MCP stdio transport). stdout carries only protocol lines; logs go to stderr.
//!
//! Not here: what a message means (`session.rs`, reusing the HTTP demo's `dispatch.rs`),
//! framing (`lines.rs`), the questions `confirm`/`sample` send (`ask.rs`).
//!
//! # Threads, not a glommio executor
//! This process serves one client over two file descriptors that may be pipes or a socketpair.
//! glommio has no pipe type (only sockets and files), so a glommio server would still read
//! stdin and write stdout through blocking helper threads (`spawn_blocking`), paying two thread
//! hand-offs and an eventfd per request plus an io_uring and locked memory per process — and
//! the proxy may run dozens of these children per shard. Plain threads do the same work with
//! less: the **main thread** reads stdin in large chunks and answers every ordinary request
//! inline (no hand-off before the reply is queued); one **writer thread** owns stdout; a `slow`
//! call's script (pauses and progress notifications) plays on the **player thread** (`player.rs`,
//! one deadline heap for every running call), so it never holds up other requests. Threads share nothing but channels (`std::sync::mpsc`, no
//! locks) and one cancellation flag per `slow` call (an `AtomicBool` the main thread sets on
//! `notifications/cancelled`); the session state lives on the main thread alone. No shard exists in this process,
//! so blocking here blocks nobody else.
//!
//! # Batching
//! The writer takes the first queued message, then everything else already queued (up to
//! `BATCH_BYTES`), and writes it with one `write` and a flush: a pipelined client gets its
//! answers in few syscalls, a lone request is flushed at once (nothing waits for a timer).
//!
//! # End of input
//! At EOF the server stops reading, fails unanswered `confirm`/`sample` calls (the client can
//! no longer answer), lets running `slow` calls finish, flushes, and returns: exit status 0.

mod ask;
mod lines;
mod player;
mod session;

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;

use lines::{Line, LineSplitter};
use player::{Player, Script};
use session::{Action, StdioSession};

use super::SseStep;

/// Bytes asked of each stdin read: many pipelined requests per syscall.
const READ_CHUNK: usize = 256 * 1024;
/// Longest line accepted from the client: the same bound as a request body over HTTP.
const MAX_LINE: usize = crate::config::defaults::MAX_BODY_BYTES as usize;
/// Messages queued for the writer before the reader waits: bounds memory when the client
/// stops reading its stdout (it must keep reading, as every stdio client does).
const OUTBOX_MESSAGES: usize = 4096;
/// Most bytes the writer gathers into one write.
const BATCH_BYTES: usize = 256 * 1024;

/// Serves stdin/stdout until end of input.
///
/// # Errors
/// A failed read of stdin or write of stdout (e.g. the client closed it), or a thread that
/// could not be started.
pub fn run() -> io::Result<()> {
    tracing::debug!("demo-server: serving MCP on stdin/stdout");
    serve(io::stdin(), io::stdout()).map(drop)
}

/// Serves one client reading `input` and writing `output` until `input` ends; returns `output`
/// after the last message is written and flushed.
///
/// # Errors
/// As [`run`].
pub fn serve<R: Read, W: Write + Send + 'static>(mut input: R, output: W) -> io::Result<W> {
    let (outbox, queued) = mpsc::sync_channel::<Vec<u8>>(OUTBOX_MESSAGES);
    let writer = thread::Builder::new()
        .name("demo-stdout".into())
        .spawn(move || write_batches(&queued, output))?;
    let mut server = Server {
        session: StdioSession::default(),
        outbox,
        player: None,
        calls: Vec::new(),
        calls_after_prune: 0,
        writer_gone: false,
    };
    let mut splitter = LineSplitter::new(MAX_LINE);
    let mut buf = vec![0; READ_CHUNK];
    let read_result = loop {
        let read = match input.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => break Err(error),
        };
        splitter.feed(buf.get(..read).unwrap_or_default(), &mut |line| {
            server.line(line);
        });
        if server.writer_gone {
            break Ok(());
        }
    };
    splitter.finish(&mut |line| server.line(line));
    server.finish();
    // The writer ends when every sender is gone: scripts have finished, this is the last one.
    drop(server);
    let written = match writer.join() {
        Ok(result) => result,
        Err(_) => Err(io::Error::other("the stdout writer thread panicked")),
    };
    read_result?;
    written
}

/// The main thread's state.
struct Server {
    session: StdioSession,
    outbox: SyncSender<Vec<u8>>,
    /// Plays every `slow` call (started with the first one).
    player: Option<Player>,
    /// `slow` calls that may still be playing, oldest first.
    calls: Vec<RunningCall>,
    /// `calls.len()` after the last pruning.
    calls_after_prune: usize,
    /// The writer stopped (stdout failed): stop reading.
    writer_gone: bool,
}

impl Server {
    fn line(&mut self, line: Line<'_>) {
        let action = match line {
            Line::Message(message) => self.session.handle(message),
            Line::TooLong => {
                tracing::warn!(limit = MAX_LINE, "an input line over the limit was dropped");
                Action::Write(StdioSession::too_long())
            }
        };
        match action {
            Action::Write(message) => self.send(message),
            Action::Script { call, steps } => self.script(call, steps),
            Action::Cancel(call) => {
                for running in self.calls.iter().filter(|running| running.call == call) {
                    running.cancelled.store(true, Ordering::Relaxed);
                }
            }
            Action::Nothing => {}
        }
    }

    fn send(&mut self, message: Vec<u8>) {
        if self.outbox.send(message).is_err() {
            self.writer_gone = true;
        }
    }

    /// Starts a `slow` script on the player thread (started with the first one).
    fn script(&mut self, call: String, steps: Vec<SseStep>) {
        // A finished script's flag is held by this list alone: prune them once the list has
        // doubled, so a long session does not grow it and pruning stays amortized O(1).
        if self.calls.len() >= 2 * self.calls_after_prune.max(64) {
            self.calls
                .retain(|running| Arc::strong_count(&running.cancelled) > 1);
            self.calls_after_prune = self.calls.len();
        }
        if self.player.is_none() {
            match Player::start(self.outbox.clone()) {
                Ok(player) => self.player = Some(player),
                Err(error) => {
                    // Without the player the call cannot pause; its result is lost, so say why.
                    tracing::error!(%error, "cannot start the thread for slow calls");
                    return;
                }
            }
        }
        let cancelled = Arc::new(AtomicBool::new(false));
        let script = Script {
            steps,
            cancelled: Arc::clone(&cancelled),
        };
        if self
            .player
            .as_ref()
            .is_some_and(|player| player.play(script))
        {
            self.calls.push(RunningCall { call, cancelled });
        }
    }

    /// End of input: answer what can no longer be answered, wait for running scripts.
    fn finish(&mut self) {
        for message in self.session.abandon() {
            self.send(message);
        }
        if let Some(player) = self.player.take() {
            player.finish();
        }
    }
}

/// A `slow` call that may still be playing, for `notifications/cancelled`.
struct RunningCall {
    /// The request id as JSON text, matched against `notifications/cancelled`.
    call: String,
    /// Shared with the player, which stops the call before its next step once set.
    cancelled: Arc<AtomicBool>,
}

/// The writer thread: one write per batch of queued messages, each ended by `\n`.
fn write_batches<W: Write>(queued: &Receiver<Vec<u8>>, mut output: W) -> io::Result<W> {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    while let Ok(first) = queued.recv() {
        batch.extend_from_slice(&first);
        batch.push(b'\n');
        while batch.len() < BATCH_BYTES {
            let Ok(next) = queued.try_recv() else { break };
            batch.extend_from_slice(&next);
            batch.push(b'\n');
        }
        output.write_all(&batch)?;
        output.flush()?;
        batch.clear();
    }
    Ok(output)
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod serve_tests;
