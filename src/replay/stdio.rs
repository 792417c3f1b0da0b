//! `replay --target -- CMD ARGS`: the stdio server as a child process, one JSON-RPC message per
//! line each way; a request's answer is awaited (30 s of silence at most), notifications on
//! the way are kept, requests from the server are refused with -32601.
//!
//! Not here: what is sent and compared (`mod.rs`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use serde_json::{json, Value};

/// The longest silence while awaiting an answer, and the child's time to exit at the end.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A stdio server run as a child.
#[derive(Debug)]
pub struct StdioLink {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl StdioLink {
    /// Starts `command` (program and arguments).
    ///
    /// # Errors
    /// An empty command, or one that cannot be started.
    pub fn start(command: &[String]) -> Result<StdioLink, String> {
        let (program, args) = command.split_first().ok_or("no command after --")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{program}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(StdioLink {
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    /// Sends `message`; for a request, returns what came back up to its answer.
    ///
    /// # Errors
    /// The child ended, or was silent too long.
    pub fn send(&mut self, message: &Value) -> Result<Vec<Value>, String> {
        self.write(message)?;
        let Some(id) = message.get("id").filter(|id| !id.is_null()) else {
            return Ok(Vec::new());
        };
        let mut messages = Vec::new();
        loop {
            let line = match self.lines.recv_timeout(TIMEOUT) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no answer within {TIMEOUT:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => return Err("the server ended".into()),
            };
            let Ok(received) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if received.get("method").is_some() {
                if let Some(server_id) = received.get("id") {
                    let refusal = json!({"jsonrpc":"2.0","id":server_id,"error":{"code":-32601,"message":"shadowcat replay answers no server requests"}});
                    self.write(&refusal)?;
                    continue;
                }
                messages.push(received);
                continue;
            }
            let done = received.get("id") == Some(id);
            messages.push(received);
            if done {
                return Ok(messages);
            }
        }
    }

    fn write(&mut self, message: &Value) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        let mut line = message.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to the server: {e}"))
    }

    /// Closes its stdin and awaits the end of its stdout (it exited) for at most [`TIMEOUT`],
    /// then reaps it, killing it when it is still there.
    pub fn close(&mut self) {
        self.stdin = None;
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    break;
                }
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for StdioLink {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
