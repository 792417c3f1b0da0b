//! The client's side of stdout: every task hands complete JSON-RPC messages to [`Output`], and
//! one writer task puts them on stdout as lines, in the order they were handed over.
//!
//! Not here: the stdout thread (bridge.rs), deciding what to write (the targets).
//! One line per message, nothing else on stdout: a message's raw CR/LF bytes (legal in JSON
//! only as whitespace between tokens, never inside strings) become spaces, so a
//! pretty-printed JSON body from an HTTP target or a multi-line SSE `data` field stays one line.
//! Allocation: one `Vec` per message (the channel carries owned lines); the queue is bounded,
//! so a client that stops reading slows the tasks feeding it instead of growing memory.

use std::rc::Rc;

use futures_lite::AsyncWriteExt;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::UnixStream;

use crate::mcp::{jsonrpc, JsonRpcId};
use shards::latch::Latch;

/// Lines queued for stdout before senders wait.
const QUEUE: usize = 256;

/// Where tasks send lines for the client.
#[derive(Debug)]
pub(crate) struct Output {
    tx: LocalSender<Vec<u8>>,
}

impl Output {
    /// An output and the writer task's future, which writes to `stdout` until [`Output::finish`]
    /// (or until stdout fails: then it fires `gone`).
    pub(crate) fn start(
        stdout: UnixStream,
        gone: Rc<Latch>,
    ) -> (Rc<Output>, impl std::future::Future<Output = ()>) {
        let (tx, rx) = local_channel::new_bounded(QUEUE);
        (Rc::new(Output { tx }), write_lines(rx, stdout, gone))
    }

    /// Queues one message (its bytes as received or built; line breaks become spaces).
    /// Returns false when stdout is gone.
    pub(crate) async fn message(&self, bytes: &[u8]) -> bool {
        let mut line = Vec::with_capacity(bytes.len() + 1);
        line.extend(bytes.iter().map(|&b| match b {
            b'\n' | b'\r' => b' ',
            other => other,
        }));
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        self.tx.send(line).await.is_ok()
    }

    /// Queues a JSON-RPC error reply.
    pub(crate) async fn error(
        &self,
        id: Option<&JsonRpcId>,
        code: i32,
        message: &str,
        data: Option<&str>,
    ) -> bool {
        let mut line = Vec::new();
        jsonrpc::write_error(&mut line, id, code, message, data);
        self.tx.send(line).await.is_ok()
    }

    /// Queues the same error for each of `ids`.
    pub(crate) async fn errors(&self, ids: &[JsonRpcId], code: i32, message: &str) {
        for id in ids {
            self.error(Some(id), code, message, None).await;
        }
    }

    /// Tells the writer to stop after the lines queued so far; await its future afterwards.
    pub(crate) async fn finish(&self) {
        // An empty line is never queued by `message`, so it can mark the end.
        let _ = self.tx.send(Vec::new()).await;
    }
}

async fn write_lines(rx: LocalReceiver<Vec<u8>>, mut stdout: UnixStream, gone: Rc<Latch>) {
    while let Some(mut line) = rx.recv().await {
        if line.is_empty() {
            break;
        }
        line.push(b'\n');
        if let Err(e) = stdout.write_all(&line).await {
            tracing::info!(error = %e, "stdout closed: the client is gone");
            gone.fire();
            break;
        }
    }
    let _ = stdout.close().await;
}
