//! Spawning and ending one stdio child process: its socketpair stdio, its process group and
//! the non-blocking reaping that keeps a shard from ever waiting on it.
//!
//! Not here: line framing (lines.rs), sessions and JSON-RPC routing (the caller), pre-spawn
//! pools. Cold path except `ChildWriter::send`, which copies small messages into one reused
//! buffer (no allocation once grown) and awaits only the socket write.
//!
//! glommio has no pipe type, so the child's stdin and stdout are both one end of a Unix
//! socketpair and its stderr is one end of a second pair; our ends are glommio `UnixStream`s.
//! The child leads its own process group, so signals reach its helpers too, and gets
//! `SIGKILL` when the thread that spawned it (a shard) exits. glommio has no child-wait:
//! exits are polled with `waitid(WNOHANG)` on a timer, never a blocking `wait()`.

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;
use glommio::net::UnixStream;

use super::lines::LineReader;
use super::{DEFAULT_MAX_LINE, STDERR_MAX_LINE};

/// How often `terminate` checks whether the child has exited.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// How long `terminate` waits for the kernel to reap a `SIGKILL`ed child before giving up
/// (a process stuck in uninterruptible sleep); `Drop` then reaps it off the shard.
const KILL_REAP_BOUND: Duration = Duration::from_secs(5);

/// Messages up to this size are copied with their `\n` into one buffer and sent in one write;
/// larger clean ones are sent in place plus a second one-byte write (the copy would cost more
/// than the extra syscall). Also bounds the reused send buffer.
const SEND_COPY_LIMIT: usize = 64 * 1024;

/// Why a child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The command line has no program.
    #[error("empty command: no program to run")]
    EmptyCommand,
    /// The program does not exist (or is not on `PATH`).
    #[error("program {program:?} not found")]
    NotFound {
        /// argv[0] as configured.
        program: String,
    },
    /// The working directory does not exist.
    #[error("working directory {dir:?} of {program:?} does not exist")]
    NoWorkingDir {
        /// argv[0] as configured.
        program: String,
        /// The configured working directory.
        dir: PathBuf,
    },
    /// Any other failure: socketpair, fork, exec (e.g. permission denied).
    #[error("spawning {program:?} failed: {source}")]
    Io {
        /// argv[0] as configured.
        program: String,
        /// The OS error.
        source: io::Error,
    },
}

/// What to run: the command line, extra environment and working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildSpec {
    /// Program (`argv[0]`, looked up on `PATH` unless it contains a `/`) and its arguments.
    pub argv: Vec<String>,
    /// Variables set on top of the proxy's own environment (which the child inherits).
    pub env: Vec<(String, String)>,
    /// Working directory; the proxy's when `None`.
    pub cwd: Option<PathBuf>,
}

/// A running child and its three streams, each ready to move into its own task.
#[derive(Debug)]
pub struct StdioChild {
    /// The process: exit polling, signals, termination.
    pub process: ChildProcess,
    /// Lines the child writes to stdout (bounded by [`DEFAULT_MAX_LINE`]).
    pub stdout: LineReader<UnixStream>,
    /// Writes messages to the child's stdin.
    pub stdin: ChildWriter,
    /// Lines the child writes to stderr (bounded by [`STDERR_MAX_LINE`]). Drain it: a child
    /// blocks once the socket buffer (a few hundred KiB) is full.
    pub stderr: LineReader<UnixStream>,
}

impl StdioChild {
    /// The child's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Splits into (process, stdout lines, stdin writer, stderr lines).
    pub fn into_parts(
        self,
    ) -> (
        ChildProcess,
        LineReader<UnixStream>,
        ChildWriter,
        LineReader<UnixStream>,
    ) {
        (self.process, self.stdout, self.stdin, self.stderr)
    }
}

/// Starts `spec` with socketpair stdio, in its own process group, set to die with the
/// calling thread.
///
/// Must run on a glommio executor thread (glommio panics when wrapping a socket elsewhere).
/// The child dies with `SIGKILL` when the *thread* that called `spawn` exits (that is how
/// `PR_SET_PDEATHSIG` works): call it from the shard that owns the child, not from a
/// short-lived helper thread. fork and exec run synchronously on the calling thread.
///
/// # Errors
/// [`SpawnError::EmptyCommand`], [`SpawnError::NotFound`] when the program does not exist,
/// [`SpawnError::NoWorkingDir`], or [`SpawnError::Io`] for anything else.
pub fn spawn(spec: &ChildSpec) -> Result<StdioChild, SpawnError> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(SpawnError::EmptyCommand);
    };
    let io_error = |source: io::Error| SpawnError::Io {
        program: program.clone(),
        source,
    };
    let (ours, theirs) = StdUnixStream::pair().map_err(io_error)?;
    let (ours_err, theirs_err) = StdUnixStream::pair().map_err(io_error)?;
    let theirs_out = theirs.try_clone().map_err(io_error)?;
    let ours_write = ours.try_clone().map_err(io_error)?;

    let mut command = Command::new(program);
    command
        .args(args)
        .envs(spec.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .stderr(Stdio::from(OwnedFd::from(theirs_err)))
        .process_group(0);
    if let Some(dir) = &spec.cwd {
        command.current_dir(dir);
    }
    die_with_parent_thread(&mut command);
    let spawned = command.spawn();
    // The Command holds the child's socket ends; until they close, we never see EOF.
    drop(command);
    let process = spawned.map_err(|source| spawn_error(spec, program, source))?;

    Ok(StdioChild {
        process: ChildProcess {
            pid: process.id(),
            process,
            status: None,
        },
        stdout: LineReader::new(into_glommio(ours), DEFAULT_MAX_LINE),
        stdin: ChildWriter {
            stream: into_glommio(ours_write),
            scratch: Vec::new(),
        },
        stderr: LineReader::new(into_glommio(ours_err), STDERR_MAX_LINE),
    })
}

/// Names the failure; the working directory is checked only once a spawn failed, because a
/// missing one also reports ENOENT.
fn spawn_error(spec: &ChildSpec, program: &str, source: io::Error) -> SpawnError {
    if source.kind() != io::ErrorKind::NotFound {
        return SpawnError::Io {
            program: program.to_owned(),
            source,
        };
    }
    match &spec.cwd {
        Some(dir) if !dir.is_dir() => SpawnError::NoWorkingDir {
            program: program.to_owned(),
            dir: dir.clone(),
        },
        _ => SpawnError::NotFound {
            program: program.to_owned(),
        },
    }
}

/// Asks the kernel to `SIGKILL` the child when the spawning thread exits.
#[allow(
    unsafe_code,
    reason = "pre_exec runs a closure between fork and exec; only FFI can set PDEATHSIG"
)]
fn die_with_parent_thread(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it calls prctl(2) and reads errno, allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Hands an owned socket to glommio's reactor on this thread.
#[allow(
    unsafe_code,
    reason = "glommio UnixStream is built only through FromRawFd"
)]
fn into_glommio(stream: StdUnixStream) -> UnixStream {
    use std::os::fd::FromRawFd;
    let fd = stream.into_raw_fd();
    // SAFETY: `fd` is an open, connected Unix stream socket that we own (into_raw_fd gave up
    // the std wrapper), so the glommio stream becomes its only owner and closes it on drop.
    unsafe { UnixStream::from_raw_fd(fd) }
}

/// How a child ended under [`ChildProcess::terminate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildExit {
    /// The reaped exit status.
    pub status: ExitStatus,
    /// Whether it outlived the grace period and was `SIGKILL`ed.
    pub killed: bool,
}

/// The child process: exit polling, group signals and termination. Dropping it without
/// `terminate` `SIGKILL`s the group and reaps the child off the shard.
#[derive(Debug)]
pub struct ChildProcess {
    pid: u32,
    process: std::process::Child,
    /// Set once reaped; from then on the pid may belong to someone else, so never signal it.
    status: Option<ExitStatus>,
}

impl ChildProcess {
    /// The child's process id, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the child has exited, without waiting. When it has, the rest of its
    /// process group is `SIGKILL`ed first (the unreaped child still reserves the group id),
    /// then the child is reaped.
    ///
    /// # Errors
    /// The OS error of `waitid`/`kill`, e.g. `ECHILD` when `SIGCHLD` is ignored process-wide.
    pub fn try_status(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        if !has_exited(self.pid)? {
            return Ok(None);
        }
        self.signal_group(libc::SIGKILL)?;
        self.status = self.process.try_wait()?;
        Ok(self.status)
    }

    /// Sends `signal` to the child's whole process group; a group already gone is not an
    /// error, and nothing is sent once the child has been reaped.
    ///
    /// # Errors
    /// The OS error of `kill(2)` other than `ESRCH` (e.g. `EINVAL` for a bad signal number).
    pub fn signal_group(&self, signal: libc::c_int) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        let group = i32::try_from(self.pid).map_err(|_| io::ErrorKind::InvalidInput)?;
        kill(-group, signal)
    }

    /// Polls every `poll` until the child exits (e.g. after its stdout reached EOF), then
    /// returns its status. Never times out: wrap it in `glommio::timer::timeout`, or use
    /// [`ChildProcess::terminate`], for a child that may linger.
    ///
    /// # Errors
    /// As [`ChildProcess::try_status`].
    pub async fn wait_exit(&mut self, poll: Duration) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            glommio::timer::sleep(poll).await;
        }
    }

    /// Ends the child: `SIGTERM` to its group, up to `grace` for it to exit, then `SIGKILL`
    /// to the group; polls on a timer and never blocks the shard.
    ///
    /// # Errors
    /// As [`ChildProcess::try_status`], or `TimedOut` when even a `SIGKILL`ed child is not
    /// reaped within a few seconds (then `Drop` reaps it on a helper thread).
    pub async fn terminate(mut self, grace: Duration) -> io::Result<ChildExit> {
        if let Some(status) = self.try_status()? {
            return Ok(ChildExit {
                status,
                killed: false,
            });
        }
        self.signal_group(libc::SIGTERM)?;
        let polled = self.poll_until(Instant::now() + grace).await?;
        if let Some(status) = polled {
            return Ok(ChildExit {
                status,
                killed: false,
            });
        }
        self.signal_group(libc::SIGKILL)?;
        match self.poll_until(Instant::now() + KILL_REAP_BOUND).await? {
            Some(status) => Ok(ChildExit {
                status,
                killed: true,
            }),
            None => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// Polls `try_status` every [`EXIT_POLL`] until it reports an exit or `deadline` passes.
    async fn poll_until(&mut self, deadline: Instant) -> io::Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(Some(status));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            glommio::timer::sleep(left.min(EXIT_POLL)).await;
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Err(error) = self.signal_group(libc::SIGKILL) {
            tracing::warn!(pid = self.pid, %error, "killing a dropped child failed");
        }
        if matches!(self.process.try_wait(), Ok(Some(_))) {
            return;
        }
        // SIGKILL is delivered asynchronously: reap where blocking is harmless, or the child
        // stays a zombie for the life of the proxy.
        let pid = self.pid;
        let reaper = std::thread::Builder::new()
            .name("stdio-reaper".into())
            .spawn(move || reap_blocking(pid));
        if let Err(error) = reaper {
            tracing::warn!(pid, %error, "no thread to reap a dropped child; it stays a zombie");
        }
    }
}

/// Whether child `pid` has exited, leaving it unreaped (`WNOWAIT`) so its pid and process
/// group id stay reserved while the rest of the group is killed.
#[allow(unsafe_code, reason = "waitid(2) has no std wrapper")]
fn has_exited(pid: u32) -> io::Result<bool> {
    // SAFETY: an all-zero siginfo_t is a valid value (plain C struct of integers and unions).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let options = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid, writable siginfo_t that outlives the call.
    if unsafe { libc::waitid(libc::P_PID, pid, &mut info, options) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled in a SIGCHLD siginfo, whose si_pid field is valid; with WNOHANG it
    // stays zero when no child has exited.
    Ok(unsafe { info.si_pid() } != 0)
}

/// `kill(2)` where "no such process or group" counts as done.
#[allow(
    unsafe_code,
    reason = "kill(2) has no std wrapper for groups or arbitrary signals"
)]
fn kill(target: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(target, signal) } == -1 {
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::ESRCH) {
            return Err(error);
        }
    }
    Ok(())
}

/// Blocks until child `pid` is reaped; only for a helper thread.
#[allow(
    unsafe_code,
    reason = "waitpid(2) on a pid whose std handle is being dropped"
)]
fn reap_blocking(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let mut status = 0;
    // SAFETY: `status` is a valid, writable int that outlives the call.
    while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}

/// Writes messages to the child's stdin, one per line.
#[derive(Debug)]
pub struct ChildWriter {
    stream: UnixStream,
    /// Message plus `\n` for a single write; reused, at most [`SEND_COPY_LIMIT`] + 1 bytes.
    scratch: Vec<u8>,
}

impl ChildWriter {
    /// Sends one JSON-RPC message as one line. stdio MCP framing is newline-delimited and a
    /// message must not contain a newline; JSON allows raw `\n`/`\r` only as insignificant
    /// whitespace (never inside strings), so each becomes a space.
    ///
    /// # Errors
    /// The socket's write error, e.g. `BrokenPipe` once the child has exited.
    pub async fn send(&mut self, message: &[u8]) -> io::Result<()> {
        let has_break = message.iter().any(|&byte| byte == b'\n' || byte == b'\r');
        if !has_break && message.len() > SEND_COPY_LIMIT {
            self.stream.write_all(message).await?;
            return self.stream.write_all(b"\n").await;
        }
        let mut chunks = message.chunks(SEND_COPY_LIMIT).peekable();
        if chunks.peek().is_none() {
            return self.stream.write_all(b"\n").await;
        }
        while let Some(chunk) = chunks.next() {
            self.scratch.clear();
            self.scratch.extend(chunk.iter().map(|&byte| match byte {
                b'\n' | b'\r' => b' ',
                other => other,
            }));
            if chunks.peek().is_none() {
                self.scratch.push(b'\n');
            }
            self.stream.write_all(&self.scratch).await?;
        }
        Ok(())
    }

    /// Shuts down writing, so the child reads end-of-file on stdin (many servers then exit).
    /// Its stdout stays readable.
    ///
    /// # Errors
    /// The OS error of `shutdown(2)`.
    pub async fn close(&mut self) -> io::Result<()> {
        self.stream.close().await
    }
}

#[cfg(test)]
#[path = "child_tests.rs"]
mod tests;
