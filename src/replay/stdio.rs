//! `replay --target -- CMD ARGS`: the stdio server as a child process, one JSON-RPC message per
//! line each way; a request's answer is awaited (30 s at most in all, however chatty the
//! server is on the way), notifications on the way are kept, requests from the server are
//! refused with -32601. At the end its stdin is closed and it gets as long to exit, then it
//! is killed.
//!
//! Not here: what is sent and compared (`mod.rs`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The longest wait for an answer (in all, from the request), and the child's time to exit at
/// the end.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A stdio server run as a child.
#[derive(Debug)]
pub struct StdioLink {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    timeout: Duration,
}

impl StdioLink {
    /// Starts `command` (program and arguments).
    ///
    /// # Errors
    /// An empty command, or one that cannot be started.
    pub fn start(command: &[String]) -> Result<StdioLink, String> {
        StdioLink::start_with_timeout(command, TIMEOUT)
    }

    /// Starts `command` with `timeout` for each answer and for the end instead of [`TIMEOUT`].
    ///
    /// # Errors
    /// An empty command, or one that cannot be started.
    pub fn start_with_timeout(command: &[String], timeout: Duration) -> Result<StdioLink, String> {
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
            timeout,
        })
    }

    /// Sends `message`; for a request whose answer is awaited, returns what came back up to its
    /// answer.
    ///
    /// # Errors
    /// The child ended, or gave no answer within the timeout (it is killed then).
    pub fn send(&mut self, message: &Value, await_answer: bool) -> Result<Vec<Value>, String> {
        self.write(message)?;
        let Some(id) = message.get("id").filter(|id| !id.is_null() && await_answer) else {
            return Ok(Vec::new());
        };
        let deadline = Instant::now() + self.timeout;
        let mut messages = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(format!("no answer within {:?}", self.timeout));
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

    /// Closes its stdin and awaits the end of its stdout (it exited) for at most the timeout in
    /// all, then reaps it, killing it when it is still there.
    pub fn close(&mut self) {
        self.stdin = None;
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
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

    fn kill(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that never answers and prints a notification every 10 ms, forever.
    fn chatty() -> Vec<String> {
        let script = r#"while :; do echo '{"jsonrpc":"2.0","method":"notifications/message"}'; sleep 0.01; done"#;
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn a_chatty_server_that_never_answers_times_out_in_all() {
        let timeout = Duration::from_millis(300);
        let mut link = StdioLink::start_with_timeout(&chatty(), timeout).unwrap();
        let started = Instant::now();
        let request = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"ping"});
        assert!(link.send(&request, true).is_err());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(link.child.try_wait().unwrap().is_some(), "killed");
    }

    #[test]
    fn a_chatty_server_that_ignores_its_closed_stdin_is_killed() {
        let mut link =
            StdioLink::start_with_timeout(&chatty(), Duration::from_millis(300)).unwrap();
        let started = Instant::now();
        link.close();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(link.child.try_wait().unwrap().is_some());
    }
}
