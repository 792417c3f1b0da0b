//! The client's side of stdout: every task hands complete JSON-RPC messages to [`Output`], and
//! one writer task puts them on stdout as lines, in the order they were handed over.
//!
//! Not here: the stdout thread (bridge.rs), deciding what to write (the targets), the stages
//! whose response side runs here (stages.rs).
//! One line per message, nothing else on stdout: a message's raw CR/LF bytes (legal in JSON
//! only as whitespace between tokens, never inside strings) become spaces, so a
//! pretty-printed JSON body from an HTTP target or a multi-line SSE `data` field stays one line.
//! Allocation: one `Vec` per message (the channel carries owned lines); the queue is bounded,
//! so a client that stops reading slows the tasks feeding it instead of growing memory.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use futures_lite::AsyncWriteExt;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::UnixStream;

use crate::mcp::{jsonrpc, JsonRpcId};
use crate::pipeline::RouteStages;
use shards::latch::Latch;

/// Lines queued for stdout before senders wait.
const QUEUE: usize = 256;

/// Where tasks send lines for the client.
#[derive(Debug)]
pub(crate) struct Output {
    tx: LocalSender<Vec<u8>>,
    /// Their response side runs on the answers to `listings` (stages.rs).
    stages: RouteStages,
    /// The ids of the client's `tools/list` requests not answered yet: only answers under
    /// these ids are judged, and an id is forgotten once answered, so a later request reusing
    /// it (a `tools/call` whose result holds a `tools` array) is not.
    listings: RefCell<HashSet<JsonRpcId>>,
    /// The session's tape (`--record`).
    tape: Option<Rc<super::record::Tape>>,
}

impl Output {
    /// An output and the writer task's future, which writes to `stdout` until [`Output::finish`]
    /// (or until stdout fails: then it fires `gone`).
    pub(crate) fn start(
        stdout: UnixStream,
        gone: Rc<Latch>,
        (stages, tape): (RouteStages, Option<Rc<super::record::Tape>>),
    ) -> (Rc<Output>, impl std::future::Future<Output = ()>) {
        let (tx, rx) = local_channel::new_bounded(QUEUE);
        (
            Rc::new(Output {
                tx,
                stages,
                listings: RefCell::default(),
                tape,
            }),
            write_lines(rx, stdout, gone),
        )
    }

    /// Marks `ids` as the ids of `tools/list` requests sent to the target: their answers get
    /// the response side (call before the request goes out).
    pub(crate) fn expect_listings(&self, ids: Vec<JsonRpcId>) {
        if !ids.is_empty() {
            self.listings.borrow_mut().extend(ids);
        }
    }

    /// Queues one message (its bytes as received or built, or as a stage rewrote them, e.g. a
    /// listing without its hidden tools; line breaks become spaces). Returns false when stdout
    /// is gone.
    pub(crate) async fn message(&self, bytes: &[u8]) -> bool {
        let rewritten = self.judged(bytes);
        self.local(rewritten.as_deref().unwrap_or(bytes)).await
    }

    /// The response side on the answers among `bytes` to pending `tools/list` requests (each
    /// such id is forgotten as its answer passes); `None`: forward the bytes as they are.
    fn judged(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut listings = self.listings.borrow_mut();
        if listings.is_empty() {
            return None;
        }
        self.stages
            .response_to(bytes, &mut |id| listings.remove(id))
    }

    /// Queues a message the proxy built itself (never a listing): as [`Output::message`],
    /// without the response side.
    pub(crate) async fn local(&self, bytes: &[u8]) -> bool {
        let mut line = Vec::with_capacity(bytes.len() + 1);
        line.extend(bytes.iter().map(|&b| match b {
            b'\n' | b'\r' => b' ',
            other => other,
        }));
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        if let Some(tape) = &self.tape {
            tape.server(&line);
        }
        self.tx.send(line).await.is_ok()
    }

    /// Notes a line the client sent, when the session is recorded.
    pub(crate) fn client_line(&self, line: &[u8]) {
        if let Some(tape) = &self.tape {
            tape.client(line);
        }
    }

    /// Queues a JSON-RPC error reply.
    pub(crate) async fn error(
        &self,
        id: Option<&JsonRpcId>,
        code: i32,
        message: &str,
        data: Option<&str>,
    ) -> bool {
        if let Some(id) = id {
            // The proxy answered it (say, a timeout): a later answer under this id is not one.
            self.listings.borrow_mut().remove(id);
        }
        let mut line = Vec::new();
        jsonrpc::write_error(&mut line, id, code, message, data);
        if let Some(tape) = &self.tape {
            tape.server(&line);
        }
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

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream as StdUnixStream;

    use super::*;
    use crate::forward::bridge::into_glommio;

    /// Everything the writer put on its socket, after `feed` ran and the output finished.
    fn written(feed: impl AsyncFnOnce(&Output) + 'static) -> String {
        let (ours, mut theirs) = StdUnixStream::pair().unwrap();
        glommio::LocalExecutorBuilder::default()
            .io_memory(64 * 1024)
            .make()
            .unwrap()
            .run(async move {
                let gone = Rc::new(Latch::default());
                let (out, writer) = Output::start(
                    into_glommio(ours),
                    gone.clone(),
                    (RouteStages::default(), None),
                );
                let writer = glommio::spawn_local(writer);
                feed(&out).await;
                out.finish().await;
                writer.await;
                assert!(!gone.is_fired());
            });
        let mut text = String::new();
        theirs.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn messages_become_single_lines_in_order() {
        let text = written(async |out: &Output| {
            assert!(out.message(b"{\n  \"a\": 1\r\n}").await);
            assert!(
                out.message(b"  \n ").await,
                "blank messages are dropped, not errors"
            );
            assert!(
                out.error(Some(&JsonRpcId::Number(7)), -32010, "down", None)
                    .await
            );
            out.errors(&[JsonRpcId::from("x")], -32011, "slow").await;
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "{   \"a\": 1  }");
        assert_eq!(
            lines[1],
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32010,"message":"down"}}"#
        );
        assert_eq!(
            lines[2],
            r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32011,"message":"slow"}}"#
        );
        assert_eq!(lines.len(), 3);
        assert!(text.ends_with('\n'));
    }
}
