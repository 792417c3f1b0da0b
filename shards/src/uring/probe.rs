//! Kernel support: which ring setup flags work here and whether the socket hot path can run on
//! io_uring at all. Cold code: run once per process (or per shard) at start.

use std::fmt;
use std::io;

use io_uring::{opcode, register::Probe, IoUring};

use super::bufs::BufRing;

/// How a driver's ring was set up: the best rung of the ladder the kernel accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupMode {
    /// `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG` (6.1+): completions are posted only when
    /// the shard enters the ring, never by interrupting it.
    DeferTaskrun,
    /// `COOP_TASKRUN | TASKRUN_FLAG` (5.19+), plus `SINGLE_ISSUER` when accepted.
    CoopTaskrun {
        /// Whether `SINGLE_ISSUER` was accepted too.
        single_issuer: bool,
    },
    /// No optional flags.
    Plain,
}

impl fmt::Display for SetupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupMode::DeferTaskrun => f.write_str("SINGLE_ISSUER|DEFER_TASKRUN|TASKRUN_FLAG"),
            SetupMode::CoopTaskrun {
                single_issuer: true,
            } => f.write_str("SINGLE_ISSUER|COOP_TASKRUN|TASKRUN_FLAG"),
            SetupMode::CoopTaskrun {
                single_issuer: false,
            } => f.write_str("COOP_TASKRUN|TASKRUN_FLAG"),
            SetupMode::Plain => f.write_str("plain"),
        }
    }
}

/// Builds a ring with the best setup flags the kernel accepts (see [`SetupMode`]);
/// `DEFER_TASKRUN` only when `allow_defer`.
pub(crate) fn build_ring(
    entries: u32,
    cq_entries: u32,
    allow_defer: bool,
) -> io::Result<(IoUring, SetupMode)> {
    let defer = if !allow_defer {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    } else {
        IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(cq_entries)
            .build(entries)
    };
    if let Ok(ring) = defer {
        return Ok((ring, SetupMode::DeferTaskrun));
    }
    let coop_single = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .setup_cqsize(cq_entries)
        .build(entries);
    if let Ok(ring) = coop_single {
        return Ok((
            ring,
            SetupMode::CoopTaskrun {
                single_issuer: true,
            },
        ));
    }
    let coop = IoUring::builder()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .setup_cqsize(cq_entries)
        .build(entries);
    if let Ok(ring) = coop {
        return Ok((
            ring,
            SetupMode::CoopTaskrun {
                single_issuer: false,
            },
        ));
    }
    let ring = IoUring::builder().setup_cqsize(cq_entries).build(entries)?;
    Ok((ring, SetupMode::Plain))
}

/// What [`probe`] found.
#[derive(Debug)]
pub struct UringSupport {
    /// The best setup the kernel accepts (a driver gets it with
    /// `UringConfig::defer_taskrun`), `None` if no ring could be created at all.
    pub mode: Option<SetupMode>,
    /// Kernel release string (`uname -r`).
    pub kernel: String,
    /// What is missing for the io_uring socket path; empty when it is usable.
    pub missing: Vec<String>,
}

impl UringSupport {
    /// True when the io_uring socket path has everything it needs.
    pub fn usable(&self) -> bool {
        self.mode.is_some() && self.missing.is_empty()
    }

    /// One line for the log: what was found and, if unusable, why.
    pub fn summary(&self) -> String {
        match (self.mode, self.usable()) {
            (Some(mode), true) => format!("io_uring usable on {} ({mode})", self.kernel),
            _ => format!(
                "io_uring not usable on {}: {}",
                self.kernel,
                self.missing.join("; ")
            ),
        }
    }
}

/// The socket I/O path a shard runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoBackend {
    /// This module: one io_uring per shard.
    Uring,
    /// glommio's own `TcpStream` (plain syscalls, ring used to wait).
    Glommio,
}

/// Picks the backend for a request (`None` = the default: uring where this kernel supports
/// it). Returns the backend and, when it differs from what was asked for, the reason to log.
pub fn select_backend(requested: Option<IoBackend>) -> (IoBackend, Option<String>) {
    match requested {
        Some(IoBackend::Glommio) => (IoBackend::Glommio, None),
        Some(IoBackend::Uring) | None => {
            let support = probe();
            if support.usable() {
                (IoBackend::Uring, None)
            } else {
                (
                    IoBackend::Glommio,
                    Some(format!("{}; falling back to glommio", support.summary())),
                )
            }
        }
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown kernel".to_owned())
}

/// `(major, minor)` from a release string like `6.18.44-foo`.
pub(crate) fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Probes the running kernel: ring setup ladder, the opcodes the driver uses, a registered
/// sparse file table, a provided-buffer ring, and a kernel new enough for multishot recv (6.0).
/// Creates and drops one small ring, on a short-lived thread of its own: tearing a ring down
/// with registered files queues task work that interrupts the creating thread's next blocking
/// syscall (a socket read with a timeout then fails with `EINTR`), which the caller must not
/// inherit. Never panics.
pub fn probe() -> UringSupport {
    std::thread::Builder::new()
        .name("uring-probe".into())
        .spawn(probe_here)
        .ok()
        .and_then(|t| t.join().ok())
        .unwrap_or_else(|| UringSupport {
            mode: None,
            kernel: kernel_release(),
            missing: vec!["cannot start the probe thread".to_owned()],
        })
}

fn probe_here() -> UringSupport {
    let kernel = kernel_release();
    let mut missing = Vec::new();
    if std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim() != "0")
        .unwrap_or(false)
    {
        missing.push("sysctl kernel.io_uring_disabled is set".to_owned());
    }
    let (ring, mode) = match build_ring(8, 16, true) {
        Ok(built) => built,
        Err(err) => {
            missing.push(format!("io_uring_setup failed: {err}"));
            return UringSupport {
                mode: None,
                kernel,
                missing,
            };
        }
    };
    match parse_release(&kernel) {
        Some(version) if version >= (6, 0) => {}
        _ => missing.push(format!(
            "kernel {kernel} predates multishot recv (needs 6.0)"
        )),
    }
    let mut opcodes = Probe::new();
    match ring.submitter().register_probe(&mut opcodes) {
        Ok(()) => {
            for (code, name) in [
                (opcode::AcceptMulti::CODE, "accept"),
                (opcode::RecvMulti::CODE, "recv"),
                (opcode::Send::CODE, "send"),
                (opcode::AsyncCancel::CODE, "async_cancel"),
                (opcode::Close::CODE, "close"),
            ] {
                if !opcodes.is_supported(code) {
                    missing.push(format!("opcode {name} unsupported"));
                }
            }
        }
        Err(err) => missing.push(format!("opcode probe failed: {err}")),
    }
    if let Err(err) = ring.submitter().register_files_sparse(4) {
        missing.push(format!("sparse fixed-file table: {err}"));
    }
    let bufs = BufRing::register(&ring, 4, 64);
    if let Err(err) = &bufs {
        missing.push(format!("provided-buffer ring: {err}"));
    }
    // The ring goes first: the buffer ring's memory must outlive its registration.
    drop(ring);
    drop(bufs);
    UringSupport {
        mode: Some(mode),
        kernel,
        missing,
    }
}
