//! Our own stdin and stdout (and SIGINT/SIGTERM) as sockets the forward executor can await.
//!
//! Not here: what the bytes mean (input.rs, output.rs), the executor (mod.rs).
//!
//! Why threads: glommio only drives sockets and files it opened, yet the process that launched
//! us may hand us pipes (the Python and TypeScript SDKs, most IDEs), a tty or a socket, and a
//! blocking `read(0)` on the executor thread would stall every other task. So one small thread
//! per direction copies between fd 0/1 and one end of a Unix socketpair whose other end the
//! executor wraps as a glommio `UnixStream`. This costs one extra copy per message (negligible
//! next to one client's traffic), keeps backpressure (a full socket buffer blocks the copier,
//! which stops reading stdin; a client that stops reading stdout stops our writes), and lets the
//! line framing of `upstream::stdio::LineReader` serve both the client and a child. The
//! alternatives were worse: `spawn_blocking` per read cannot be cancelled at shutdown, and a
//! channel of owned buffers would add an allocation per read and lose the socket's
//! backpressure. Signals take the same road: the signal thread writes one byte per signal.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::mpsc;

/// Bytes a copier moves per system call: a typical MCP message fits in one.
const COPY_BUF: usize = 64 * 1024;

/// Exit code after a second SIGINT/SIGTERM (128 + SIGINT), like a shell's.
const SECOND_SIGNAL_EXIT: i32 = 130;

/// The executor's ends of the bridge, still std sockets: wrap them on the executor thread
/// with [`into_glommio`]. The stdout copier ends (and says so on `stdout_done`) once the
/// executor's stdout end is closed and everything written to it reached fd 1.
#[derive(Debug)]
pub(crate) struct Bridge {
    /// Reads what the client wrote to our stdin; EOF when it closed stdin.
    pub(crate) stdin: StdUnixStream,
    /// Writes go to our stdout.
    pub(crate) stdout: StdUnixStream,
    /// One byte arrives per SIGINT/SIGTERM (the second one exits the process at once).
    pub(crate) signals: StdUnixStream,
    /// Reports when the stdout copier has written everything and ended.
    pub(crate) stdout_done: mpsc::Receiver<()>,
}

/// Starts the stdin, stdout and signal threads.
///
/// # Errors
/// Creating a socketpair, a thread or the signal handlers failed.
pub(crate) fn start() -> io::Result<Bridge> {
    let (stdin, stdin_theirs) = StdUnixStream::pair()?;
    let (stdout, stdout_theirs) = StdUnixStream::pair()?;
    let (signals, signals_theirs) = StdUnixStream::pair()?;
    std::thread::Builder::new()
        .name("forward-stdin".into())
        .spawn(move || copy_stdin(stdin_theirs))?;
    let (done_tx, stdout_done) = mpsc::channel();
    std::thread::Builder::new()
        .name("forward-stdout".into())
        .spawn(move || {
            copy_stdout(stdout_theirs);
            let _ = done_tx.send(());
        })?;
    spawn_signal_thread(signals_theirs)?;
    Ok(Bridge {
        stdin,
        stdout,
        signals,
        stdout_done,
    })
}

/// fd 0 -> socket until EOF or an error on either side; then the socket's write side is shut,
/// so the executor reads EOF.
fn copy_stdin(mut socket: StdUnixStream) {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!(error = %e, "reading stdin failed; treating it as closed");
                break;
            }
        };
        if socket.write_all(buf.get(..n).unwrap_or_default()).is_err() {
            break;
        }
    }
    let _ = socket.shutdown(Shutdown::Write);
}

/// socket -> fd 1 until the executor closes its end (EOF) or the client stops reading.
fn copy_stdout(mut socket: StdUnixStream) {
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let written = stdout
            .write_all(buf.get(..n).unwrap_or_default())
            .and_then(|()| stdout.flush());
        if let Err(e) = written {
            tracing::info!(error = %e, "stdout closed: the client is gone");
            break;
        }
    }
}

/// First SIGINT/SIGTERM: one byte to the executor (graceful stop). Second: exit at once.
fn spawn_signal_thread(mut socket: StdUnixStream) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("forward-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for signal in signals.forever() {
                seen += 1;
                if seen > 1 {
                    tracing::warn!(signal, "second signal: exiting now");
                    std::process::exit(SECOND_SIGNAL_EXIT);
                }
                tracing::info!(signal, "stopping: finishing in-flight requests");
                let _ = socket.write_all(b"s");
            }
        })?;
    Ok(())
}

/// Hands an owned std socket to glommio's reactor on this (executor) thread.
#[allow(
    unsafe_code,
    reason = "glommio UnixStream is built only through FromRawFd"
)]
pub(crate) fn into_glommio(stream: StdUnixStream) -> glommio::net::UnixStream {
    let fd = stream.into_raw_fd();
    // SAFETY: `fd` is an open, connected Unix stream socket that we own (into_raw_fd gave up
    // the std wrapper), so the glommio stream becomes its only owner and closes it on drop.
    unsafe { glommio::net::UnixStream::from_raw_fd(fd) }
}
