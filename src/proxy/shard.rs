//! One proxy shard's life: connect the mesh, bind listeners, report ready, serve, and on
//! shutdown drain in-flight requests and end upstream sessions.
//!
//! Not here: process startup, port reservation and signals (crate::app); request handling
//! (server.rs and friends).

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use glommio::net::TcpListener;
use shards::mesh::MeshEndpoint;
use shards::ShardCtx;

use crate::config::Config;
use crate::demo::server::DemoService;

use super::server::{accept_loop, adopt};
use super::state::{MeshMsg, ShardState};
use crate::admin;
use shards::timeout::within;

/// Everything a shard gets at start, moved onto its thread.
#[derive(Debug)]
pub struct ShardBoot {
    /// This shard's end of the mesh.
    pub mesh: MeshEndpoint<MeshMsg>,
    /// Becomes readable when the process is told to stop.
    pub shutdown: OwnedFd,
    /// Where the shard reports that its listeners are bound (or why not).
    pub ready: mpsc::Sender<Result<(), String>>,
}

/// Addresses resolved by the launcher (port 0 replaced by the reserved port).
#[derive(Debug, Clone)]
pub struct Binds {
    /// One per `config.listeners`, same order.
    pub listeners: Vec<SocketAddr>,
    /// The admin listener, if configured.
    pub admin: Option<SocketAddr>,
    /// The embedded demo server, if configured.
    pub demo: Option<SocketAddr>,
    /// Key for the demo server's session tags, the same on every shard.
    pub demo_secret: u64,
}

/// The shard's main future.
pub async fn run(ctx: ShardCtx, config: Arc<Config>, binds: Arc<Binds>, boot: ShardBoot) {
    let ShardBoot {
        mesh,
        shutdown,
        ready,
    } = boot;
    let mesh = Rc::new(mesh.connect().await);
    let receivers = mesh.take_receivers();
    let state = ShardState::build(ctx, config, mesh);

    let bound = bind_all(&binds);
    let (listeners, admin_listener, demo_listener) = match bound {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));

    let mut loops = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        loops.push(glommio::spawn_local(accept_loop(
            state.clone(),
            index,
            listener,
        )));
    }
    if let Some(listener) = admin_listener {
        loops.push(glommio::spawn_local(admin::accept_loop(
            state.clone(),
            listener,
        )));
    }
    let demo = demo_listener.map(|listener| {
        let (sse, path) = state
            .config
            .demo
            .as_ref()
            .map_or((false, "/mcp"), |d| (d.sse, d.path.as_str()));
        let addr = binds
            .demo
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        let svc = Rc::new(DemoService::new(sse, binds.demo_secret, path, addr));
        let serving = glommio::spawn_local(crate::demo::server::accept_loop(listener, svc.clone()));
        svc.set_announce(crate::demo::server::announcer(state.mesh.clone()));
        (svc, serving)
    });
    let demo_service = demo.as_ref().map(|(svc, _)| svc.clone());
    for (from, receiver) in receivers {
        let st = state.clone();
        let demo = demo_service.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = receiver.recv().await {
                on_mesh_msg(&st, demo.as_ref(), from, msg);
            }
        })
        .detach();
    }
    glommio::spawn_local(reaper(state.clone())).detach();
    for children in state.stdio.iter().flatten() {
        let children = children.clone();
        let init_timeout = state
            .config
            .upstreams
            .iter()
            .map(|u| u.request_timeout)
            .max()
            .unwrap_or(std::time::Duration::from_secs(30));
        glommio::spawn_local(async move { children.start_warm(init_timeout).await }).detach();
    }

    wait_for_signal(shutdown).await;
    tracing::info!(shard = state.id().0, "shutting down");
    state.shutdown.fire();
    for l in loops {
        l.await;
    }
    let grace = state.config.timeouts.shutdown_grace;
    let deadline = Instant::now() + grace;
    let _ = within(grace, state.inflight.closed()).await;
    // Translated sessions have nothing upstream to end; their waits stop here.
    state.l2m.end_all();
    end_upstream_sessions(&state, deadline).await;
    let _ = within(
        deadline.saturating_duration_since(Instant::now()),
        super::modern_client::shutdown(&state),
    )
    .await;
    stop_children(&state).await;
    // The embedded demo server goes last: it is the upstream the sessions above were ended on.
    if let Some((svc, serving)) = demo {
        svc.shutdown.fire();
        serving.await;
    }
}

/// Stops every stdio child of this shard and waits (bounded) until they are reaped, so none
/// outlives the proxy even when it exits on its own.
async fn stop_children(state: &ShardState) {
    for children in state.stdio.iter().flatten() {
        children.stop_all(STOP_CHILDREN_BOUND).await;
    }
}

/// Longest wait for children to be reaped at shutdown (SIGKILL follows each one's grace).
const STOP_CHILDREN_BOUND: std::time::Duration = std::time::Duration::from_secs(15);

type Bound = (Vec<TcpListener>, Option<TcpListener>, Option<TcpListener>);

fn bind_all(binds: &Binds) -> Result<Bound, String> {
    let bind = |addr: SocketAddr| {
        shards::listener::bind_reuseport(addr, shards::listener::DEFAULT_BACKLOG)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
    };
    let listeners = binds
        .listeners
        .iter()
        .map(|a| bind(*a))
        .collect::<Result<Vec<_>, _>>()?;
    let admin = binds.admin.map(bind).transpose()?;
    let demo = binds.demo.map(bind).transpose()?;
    Ok((listeners, admin, demo))
}

fn on_mesh_msg(
    state: &Rc<ShardState>,
    demo: Option<&Rc<DemoService>>,
    from: shards::ShardId,
    msg: MeshMsg,
) {
    match msg {
        MeshMsg::Handoff {
            fd,
            buffered,
            listener,
        } => adopt(state, fd, buffered, listener),
        MeshMsg::MetricsQuery { from: asker, seq } => admin::answer_query(state, asker, seq),
        MeshMsg::MetricsReply(report) => admin::collect_reply(state, from, *report),
        MeshMsg::DemoSessionDeleted(session) => {
            if let Some(svc) = demo {
                svc.remember_deleted(&session);
            }
        }
    }
}

/// Resolves when the launcher signals stop (or dies).
pub async fn wait_for_signal(fd: OwnedFd) {
    // SAFETY: the fd is one end of a socketpair made for this shard and owned by us.
    #[allow(unsafe_code, reason = "wrapping our own socketpair end")]
    let mut stream = unsafe { glommio::net::UnixStream::from_raw_fd(fd.into_raw_fd()) };
    let mut byte = [0u8; 1];
    // Any outcome (a byte, EOF because the launcher died, an error) means stop.
    let _ = stream.read(&mut byte).await;
}

/// Expires idle sessions every `reap_interval` and ends them upstream.
async fn reaper(state: Rc<ShardState>) {
    let interval = state.config.sessions.reap_interval;
    let mut expired = Vec::new();
    loop {
        let stop = futures_lite::future::or(
            async {
                glommio::timer::sleep(interval).await;
                false
            },
            async {
                state.shutdown.wait().await;
                true
            },
        )
        .await;
        if stop {
            return;
        }
        state
            .sessions
            .borrow_mut()
            .reap(Instant::now(), &mut expired);
        let now = Instant::now();
        let mut ended = Vec::with_capacity(expired.len());
        for (id, entry) in expired.drain(..) {
            if state.open_streams.borrow().contains_key(&id) {
                // A session with an open GET stream is in use, however quiet the stream.
                state.sessions.borrow_mut().insert(id, entry, now);
                continue;
            }
            state.metrics.incr(super::metrics::Counter::SessionsExpired);
            state.l2m.end(&id);
            ended.push(entry);
        }
        // Awaited here, in bounded batches: a mass expiry must not open thousands of upstream
        // connections at once (the next pass simply starts later).
        teardown_batches(&state, ended).await;
    }
}

/// Most upstream DELETEs in flight at once per shard.
const TEARDOWN_BATCH: usize = 64;

async fn teardown_batches(state: &Rc<ShardState>, entries: Vec<crate::session::SessionEntry>) {
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let batch: Vec<_> = entries
            .by_ref()
            .take(TEARDOWN_BATCH)
            .map(|entry| {
                let st = state.clone();
                glommio::spawn_local(async move {
                    super::teardown::delete_upstream_session(&st, &entry).await;
                })
            })
            .collect();
        for task in batch {
            task.await;
        }
    }
}

async fn end_upstream_sessions(state: &Rc<ShardState>, deadline: Instant) {
    let mut all = Vec::new();
    state.sessions.borrow_mut().reap(
        Instant::now() + Duration::from_secs(365 * 24 * 3600),
        &mut all,
    );
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let entries = all.into_iter().map(|(_, entry)| entry).collect();
    let _ = within(left, teardown_batches(state, entries)).await;
}
