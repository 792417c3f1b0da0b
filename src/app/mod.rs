//! Process startup and shutdown: pick cores, reserve ports, start the shards, report
//! readiness on stdout, turn SIGINT/SIGTERM into a per-shard stop signal, wait.
//!
//! Not here: what a proxy shard runs (`shard.rs`) and serves (the proxy module), the standalone
//! demo shard (the demo module's `server.rs`).
//! Readiness contract (scripts rely on it): one `listening <role> <url>` line per listener on
//! stdout (`proxy-sse` for a route's legacy HTTP+SSE stream), then `ready`; logs go to stderr.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use shards::executor::{Runtime, RuntimeSpec};
use shards::mesh::Mesh;

use crate::config::{Config, CoreSelection, DemoServerConfig, RuntimeConfig};
use crate::proxy::boot::{BindError, ShardBoot};

pub mod shard;

use shard::Binds;

mod running;
pub use running::{Running, AFTER_FAILURE, STOP_MARGIN};

/// How long shards get to bind their listeners.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Capacity of each cross-shard channel (handoffs and scrapes are rare and small).
const MESH_CAPACITY: usize = 1024;

/// Startup failures, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Core selection, memlock, executor spawn.
    #[error(transparent)]
    Runtime(shards::Error),
    /// Locked memory too low: the runtime's remedy plus our flag for it.
    #[error("{0} (--io-memory / [runtime] io_memory)")]
    MemLock(shards::Error),
    /// A listen address could not be reserved.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A shard could not start serving.
    #[error("shard failed to start: {0}")]
    Shard(BindError),
    /// Shards did not report in time.
    #[error("shards did not become ready within {0:?}")]
    NotReady(Duration),
    /// A stdio upstream's program cannot be found.
    #[error("upstreams.{upstream}.command: {reason}")]
    Command {
        /// The upstream's name.
        upstream: String,
        /// What is wrong.
        reason: crate::upstream::stdio::NotFound,
    },
    /// Signal handler or socketpair setup failed.
    #[error("startup I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The audit log file cannot be opened for appending.
    #[error("audit.file: cannot open {path} for appending: {source} (its directory must exist and be readable and writable: it is locked around each write)")]
    AuditLog {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The recording directory cannot be created.
    #[error("recording.dir: cannot create {path}: {source}")]
    Recording {
        /// The directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl From<shards::Error> for AppError {
    fn from(e: shards::Error) -> Self {
        match e {
            shards::Error::MemLock { .. } => AppError::MemLock(e),
            other => AppError::Runtime(other),
        }
    }
}

/// Runs the proxy (and the embedded demo server when configured) until signalled.
pub fn run_proxy(config: Config) -> Result<(), AppError> {
    let running = start(config)?;
    // Handlers go in before `ready` is printed: a supervisor may signal right after it.
    let bound = running::stop_bound(running.config());
    spawn_signal_thread(running.stop_handles()?, bound)?;
    let mut lines = Vec::new();
    let (binds, config) = (running.binds(), running.config());
    if let Some(d) = binds.demo {
        let path = config.demo.as_ref().map_or("/mcp", |d| d.path.as_str());
        // `replay --bind` serves its tape where the demo server would be.
        let replay = config.demo.as_ref().is_some_and(|d| d.replay.is_some());
        let name = if replay { "tape" } else { "demo" };
        lines.push(format!("listening {name} http://{d}{path}"));
    }
    for (addr, l) in binds.listeners.iter().zip(&config.listeners) {
        let scheme = if l.tls.is_some() { "https" } else { "http" };
        for r in &l.routes {
            lines.push(format!("listening proxy {scheme}://{addr}{}", r.path));
            if let Some(legacy) = &r.legacy_sse {
                lines.push(format!(
                    "listening proxy-sse {scheme}://{addr}{}",
                    legacy.sse_path
                ));
            }
        }
    }
    if let Some(a) = binds.admin {
        lines.push(format!("listening admin http://{a}/"));
    }
    let hint = config
        .demo
        .as_ref()
        .filter(|d| d.replay.is_none())
        .and(binds.listeners.first())
        .map(|addr| {
            let route = config.listeners.first().and_then(|l| l.routes.first());
            let path = route.map_or("/mcp", |r| r.path.as_str());
            let sse = route
                .and_then(|r| r.legacy_sse.as_ref())
                .map(|l| format!("http://{addr}{}", l.sse_path));
            let tools: Vec<&str> = ["echo", "add", "slow"]
                .into_iter()
                .filter(|t| {
                    route
                        .and_then(|r| r.tools.as_ref())
                        .is_none_or(|f| f.visible(t))
                })
                .collect();
            demo_hint(&format!("http://{addr}{path}"), sse.as_deref(), &tools)
        });
    announce(running.shard_count(), &lines, hint);
    running.join()
}

/// Starts the proxy (and the embedded demo server when configured) and returns once every
/// shard has bound its listeners: the path `run_proxy` takes, without signals or stdout.
///
/// In-process users (the request-path tests) read the bound addresses from
/// [`Running::binds`] and stop it with [`Running::shutdown`] or by dropping it.
///
/// # Errors
/// As `run_proxy` before `ready`: a missing stdio program, core selection, memlock, a bind,
/// a shard that failed or did not report within 10 s.
pub fn start(mut config: Config) -> Result<Running, AppError> {
    check_commands(&config)?;
    check_audit_log(&config)?;
    crate::proxy::record::prepare(&config)
        .map_err(|(path, source)| AppError::Recording { path, source })?;
    warn_insecure_upstreams(&config);
    let key = crate::config::SealKey::random();
    config.seal_key =
        Some(key.ok_or_else(|| AppError::Io(std::io::Error::other("no random source")))?);
    let cores = select(&config.runtime)?;
    let mut reservations = Vec::new();
    let demo = match config.demo.as_ref() {
        Some(d) => {
            let addr = reserve(d.bind, &mut reservations)?;
            config.set_demo_addr(addr);
            Some(addr)
        }
        None => None,
    };
    let listeners = config
        .listeners
        .iter()
        .map(|l| reserve(l.bind, &mut reservations))
        .collect::<Result<Vec<_>, _>>()?;
    for (index, &bound) in listeners.iter().enumerate() {
        config.set_listener_addr(index, bound);
    }
    let admin = config
        .admin
        .map(|a| reserve(a, &mut reservations))
        .transpose()?;
    let binds = Arc::new(Binds {
        listeners,
        admin,
        demo,
        demo_secret: random_u64()?,
        io: io_backend(&config.runtime),
    });
    let config = Arc::new(config);
    let mut spec = spec(&config.runtime, cores);
    if binds.io == shards::IoBackend::Uring {
        // The ring's reactor spins instead (UringConfig::spin): glommio's spin would only
        // delay the ring's completions, which are posted at the shard's next syscall.
        spec.spin_before_park = None;
    }
    let (boots, stop) = boots(spec.cores.len())?;
    let cfg = config.clone();
    let b = binds.clone();
    let runtime = Runtime::start_each(spec, boots.inputs, move |ctx, boot| {
        shard::run(ctx, cfg.clone(), b.clone(), boot)
    })?;
    let runtime = await_ready(runtime, boots.ready, &stop, reservations)?;
    Ok(Running::new(runtime, stop, binds, config))
}

/// Fails when the audit log cannot be opened: better at startup than a failing log (or, with
/// `required`, refused requests) from the first request on. Each shard opens its own handle.
fn check_audit_log(config: &Config) -> Result<(), AppError> {
    let Some(audit) = &config.audit else {
        return Ok(());
    };
    crate::audit::file::LogFile::open(&audit.file, audit.max_size, audit.keep)
        .map(drop)
        .map_err(|source| AppError::AuditLog {
            path: audit.file.display().to_string(),
            source,
        })
}

/// How to talk to `shadowcat demo` (stderr: stdout carries only the readiness lines).
/// Fails when a stdio upstream's program does not exist: better at startup than on every
/// `initialize`.
fn check_commands(config: &Config) -> Result<(), AppError> {
    for upstream in &config.upstreams {
        let Some(stdio) = upstream.stdio() else {
            continue;
        };
        let spec = crate::upstream::stdio::ChildSpec {
            argv: stdio.command.clone(),
            env: stdio.env.clone(),
            cwd: stdio.cwd.clone(),
        };
        crate::upstream::stdio::find_program(&spec).map_err(|reason| AppError::Command {
            upstream: upstream.name.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn demo_hint(url: &str, legacy_sse: Option<&str>, tools: &[&str]) -> String {
    let tools = if tools.is_empty() {
        "no tools offered".to_owned()
    } else {
        format!("tools {}", tools.join(", "))
    };
    let legacy = legacy_sse
        .map(|sse| {
            format!(
                "Clients on the legacy HTTP+SSE transport (2024-11-05) use {sse}, e.g. the \
                 Python SDK's sse_client(\"{sse}\").\n"
            )
        })
        .unwrap_or_default();
    format!(
        "\nshadowcat demo: MCP endpoint {url} (Streamable HTTP; {tools})\n\
         Connect any MCP client to it, e.g. the Python SDK's streamablehttp_client(\"{url}\"),\n\
         or by hand:\n  curl -si {url} -H 'Accept: application/json, text/event-stream' \\\n\
         -H 'Content-Type: application/json' \\\n\
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}'\n\
         {legacy}Ctrl-C stops it.\n"
    )
}

/// Runs the demo MCP server alone until signalled.
pub fn run_demo_server(config: DemoServerConfig) -> Result<(), AppError> {
    let cores = select(&config.runtime)?;
    let mut reservations = Vec::new();
    let addr = reserve(config.bind, &mut reservations)?;
    let secret = random_u64()?;
    let spec = spec(&config.runtime, cores);
    let (boots, stop) = boots(spec.cores.len())?;
    let sse = config.sse;
    let path = config.path.clone();
    let runtime = Runtime::start_each(spec, boots.inputs, move |_ctx, boot| {
        crate::demo::server::run_shard(addr, sse, secret, path.clone(), boot)
    })?;
    let lines = [format!(
        "listening demo-server http://{addr}{}",
        config.path
    )];
    let runtime = await_ready(runtime, boots.ready, &stop, reservations)?;
    let handles = stop
        .iter()
        .map(StdUnixStream::try_clone)
        .collect::<Result<Vec<_>, _>>()?;
    // The demo server has no children or upstream sessions: its drain and the margin.
    let bound = config
        .timeouts
        .shutdown_grace
        .saturating_add(running::STOP_MARGIN);
    spawn_signal_thread(handles, bound)?;
    let shard_count = runtime.shard_count();
    announce(shard_count, &lines, None);
    let result = running::wait_for_shards(runtime, &stop, bound);
    tracing::info!("stopped");
    result
}

/// Waits until every shard reported its listeners bound, then drops the port placeholders.
/// On failure the shards are told to stop (and joined when they reported).
fn await_ready(
    runtime: Runtime,
    ready: mpsc::Receiver<Result<(), BindError>>,
    stop: &[StdUnixStream],
    reservations: Vec<StdListener>,
) -> Result<Runtime, AppError> {
    for _ in 0..runtime.shard_count() {
        match ready.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                signal_all(stop);
                let _ = runtime.join_within(AFTER_FAILURE);
                return Err(AppError::Shard(e));
            }
            Err(_) => {
                signal_all(stop);
                return Err(AppError::NotReady(READY_TIMEOUT));
            }
        }
    }
    // Every shard has bound its own SO_REUSEPORT socket: the placeholders can go.
    drop(reservations);
    Ok(runtime)
}

/// The readiness contract: the `listening` lines, then `ready`, on stdout; the hint on stderr.
fn announce(shard_count: usize, lines: &[String], hint: Option<String>) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);
    if let Some(hint) = hint {
        eprintln!("{hint}");
    }
    tracing::info!(shards = shard_count, "ready");
}

/// Says once which CAs `https://` upstreams are verified against by default (the system store,
/// or the built-in roots with a warning), and one warning per `https://` upstream whose
/// certificate is not verified (`tls_insecure`): an operator reading the log must see that
/// anyone on the path can impersonate it.
fn warn_insecure_upstreams(config: &Config) {
    let default_trust = config
        .upstreams
        .iter()
        .any(|u| u.tls == Some(crate::config::UpstreamTrust::DefaultRoots));
    if default_trust {
        // Read now, before the shards start, and said once.
        match crate::tls::default_roots().1 {
            crate::tls::RootsSource::System(cas) => {
                tracing::info!(
                    cas,
                    "https:// upstreams are verified against the system CA store"
                )
            }
            crate::tls::RootsSource::Builtin => tracing::warn!(
                "no usable system CA store: https:// upstreams are verified against Mozilla's \
                 roots built into shadowcat (install ca-certificates, or set SSL_CERT_FILE)"
            ),
        }
    }
    for upstream in &config.upstreams {
        if upstream.tls == Some(crate::config::UpstreamTrust::Insecure) {
            tracing::warn!(
                upstream = %upstream.name,
                "TLS certificate verification is OFF for upstream {:?} (tls_insecure): the \
                 connection is encrypted but not authenticated; use it for testing only",
                upstream.name
            );
        }
    }
}

/// The socket I/O path of the proxy's connections: what `--io` asked for, uring by default;
/// uring falls back to glommio's sockets, with one warning saying why, where the kernel lacks
/// what the ring needs.
fn io_backend(runtime: &RuntimeConfig) -> shards::IoBackend {
    let (io, why) = io_choice(runtime);
    if let Some(why) = why {
        tracing::warn!("{why}");
    }
    tracing::info!(io = crate::config::io_name(io), "socket I/O path");
    io
}

/// The I/O path `runtime` gets on this kernel and, when it is not what was asked for (or the
/// default), why (`config check` prints it; startup logs it).
pub fn io_choice(runtime: &RuntimeConfig) -> (shards::IoBackend, Option<String>) {
    shards::uring::select_backend(runtime.io)
}

fn select(runtime: &RuntimeConfig) -> Result<Vec<usize>, AppError> {
    let cores = match &runtime.cores {
        CoreSelection::All => shards::placement::select_cores(None, None)?,
        CoreSelection::Count(n) => shards::placement::select_cores(Some(*n), None)?,
        CoreSelection::List(list) => shards::placement::select_cores(None, Some(list))?,
    };
    Ok(cores)
}

fn spec(runtime: &RuntimeConfig, cores: Vec<usize>) -> RuntimeSpec {
    let mut spec = RuntimeSpec::new(cores);
    spec.io_memory = runtime.io_memory;
    spec.spin_before_park = runtime.spin_before_park;
    spec
}

/// Reserves a concrete port for `addr` before shards bind it with SO_REUSEPORT.
///
/// Port 0: a bound (not listening) SO_REUSEPORT socket pins the kernel's choice until every
/// shard has bound the same port. A fixed port: a plain bind probe first, so a port held by
/// another process (even another shadowcat, which would otherwise silently share it through
/// SO_REUSEPORT) is an error instead of split traffic.
fn reserve(addr: SocketAddr, keep: &mut Vec<StdListener>) -> Result<SocketAddr, AppError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let err = |source| AppError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    if addr.port() != 0 {
        socket.set_reuse_address(true).map_err(err)?;
        socket.bind(&addr.into()).map_err(err)?;
        return Ok(addr);
    }
    socket.set_reuse_port(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    let bound = socket
        .local_addr()
        .map_err(err)?
        .as_socket()
        .ok_or_else(|| err(std::io::Error::other("not an inet address")))?;
    keep.push(socket.into());
    Ok(bound)
}

struct Boots {
    inputs: Vec<ShardBoot>,
    ready: mpsc::Receiver<Result<(), BindError>>,
}

fn boots(shard_count: usize) -> Result<(Boots, Vec<StdUnixStream>), AppError> {
    let (ready_tx, ready) = mpsc::channel();
    let mut inputs = Vec::with_capacity(shard_count);
    let mut stop = Vec::with_capacity(shard_count);
    for mesh in Mesh::build(shard_count, MESH_CAPACITY) {
        let (ours, theirs) = StdUnixStream::pair()?;
        stop.push(ours);
        inputs.push(ShardBoot {
            mesh,
            shutdown: OwnedFd::from(theirs),
            ready: ready_tx.clone(),
        });
    }
    Ok((Boots { inputs, ready }, stop))
}

fn signal_all(stop: &[StdUnixStream]) {
    for mut s in stop {
        let _ = s.write_all(b"x");
    }
}

/// Asks every shard to reload what can change while running (API key files).
fn reload_all(stop: &[StdUnixStream]) {
    for mut s in stop {
        let _ = s.write_all(&[crate::proxy::boot::RELOAD]);
    }
}

/// First SIGINT/SIGTERM: graceful stop on every shard, and exit 1 if that has not ended the
/// process within `bound`. Second: exit at once. SIGHUP: reload.
fn spawn_signal_thread(stop: Vec<StdUnixStream>, bound: Duration) -> Result<(), AppError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    tracing::info!("SIGHUP: reloading API key files");
                    reload_all(&stop);
                    continue;
                }
                seen += 1;
                if seen > 1 {
                    tracing::warn!(signal = sig, "second signal: exiting now");
                    std::process::exit(130);
                }
                tracing::info!(signal = sig, "stopping: draining in-flight requests");
                signal_all(&stop);
                spawn_stop_deadline(bound);
            }
        })?;
    Ok(())
}

/// Exits 1 if the process still runs `bound` after a stop signal: a shard that never ends (a
/// lost wake-up, a wedged thread) must not make SIGTERM a no-op.
fn spawn_stop_deadline(bound: Duration) {
    let spawned = std::thread::Builder::new()
        .name("stop-deadline".into())
        .spawn(move || {
            // A deadline on a thread of its own (never a shard): nothing unparks it, and a
            // spurious wake-up parks again until the deadline.
            let deadline = std::time::Instant::now() + bound;
            while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                if left.is_zero() {
                    break;
                }
                std::thread::park_timeout(left);
            }
            tracing::error!(
                "shards did not stop within {bound:?} of the stop signal; exiting without them"
            );
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the stop deadline; a wedged shard may need a second signal");
    }
}

fn random_u64() -> Result<u64, AppError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| AppError::Io(std::io::Error::other(e.to_string())))?;
    Ok(u64::from_le_bytes(b))
}
