//! One proxy shard's life: connect the mesh, bind listeners, report ready, start the accept
//! loops (proxy, admin, embedded demo), the mesh receivers, the reaper, the memory trimmer,
//! warm stdio children and the routes' signing-key refreshers; on a reload signal, re-read the
//! API key files and the TLS listeners' certificates; on the stop signal, stop accepting and
//! let the proxy drain and end its sessions, then write the last audit lines.
//!
//! Not here: process startup, port reservation and signals (`mod.rs`); request handling (the
//! proxy module); ending sessions (the proxy's `teardown.rs`).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use glommio::channels::shared_channel::ConnectedReceiver;
use glommio::Task;
use shards::io::{NetListener, ShardIo};
use shards::{IoBackend, ShardCtx, ShardId};

use crate::admin;
use crate::config::Config;
use crate::demo::server::DemoService;
use crate::proxy::audit;
use crate::proxy::boot::{wait_for_signal, BindError, ShardBoot};
use crate::proxy::server::{accept_loop, adopt};
use crate::proxy::state::{ListenerTlsConfigs, MeshMsg, ShardState};
use crate::proxy::teardown;

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
    /// The socket I/O path chosen at startup (`--io`, kernel support).
    pub io: IoBackend,
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
    let (io, failed) = ShardIo::start(binds.io, config.runtime.spin_before_park);
    if let Some(e) = failed {
        tracing::warn!(shard = ctx.id.0, error = %e, "cannot set up io_uring; this shard uses glommio's sockets");
    }
    let state = ShardState::build(ctx, config, mesh, io);

    let bound = bind_all(&state.io, &binds);
    let (listeners, admin_listener, demo_listener) = match bound {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));

    let loops = spawn_accept_loops(&state, listeners, admin_listener);
    let demo = demo_listener.map(|listener| start_demo(&state, &binds, listener));
    let demo_service = demo.as_ref().map(|(svc, _)| svc.clone());
    spawn_mesh_receivers(&state, receivers, demo_service);
    glommio::spawn_local(teardown::reaper(state.clone())).detach();
    glommio::spawn_local(crate::proxy::memory::trimmer(state.clone())).detach();
    start_warm_children(&state);

    for auth in state.authenticators() {
        let (auth, stop) = (auth.clone(), state.clone());
        glommio::spawn_local(async move { auth.maintain(&stop.shutdown).await }).detach();
    }
    for credentials in state.all_credentials() {
        let (credentials, stop) = (credentials.clone(), state.clone());
        glommio::spawn_local(async move { credentials.maintain(&stop.shutdown).await }).detach();
    }
    // The audit flusher outlives the drain below: the last requests' lines go out too.
    let audit_stop = Rc::new(shards::latch::Latch::default());
    let audit = glommio::spawn_local(audit::flusher(state.clone(), audit_stop.clone()));
    let tapes = glommio::spawn_local(crate::proxy::record::writer(
        state.clone(),
        audit_stop.clone(),
    ));

    wait_for_signal(shutdown, || {
        for auth in state.authenticators() {
            auth.reload_api_keys();
        }
        ListenerTlsConfigs::reload(&state.tls, &state.config, state.id().0);
    })
    .await;
    tracing::info!(shard = state.id().0, "shutting down");
    state.shutdown.fire();
    for l in loops {
        l.await;
    }
    crate::proxy::shutdown::shut_down(&state).await;
    audit_stop.fire();
    audit.await;
    tapes.await;
    // The embedded demo server goes last: it is the upstream the sessions above were ended on.
    if let Some((svc, serving)) = demo {
        svc.stop(state.config.timeouts.shutdown_grace).await;
        serving.await;
    }
}

/// Starts an accept loop per MCP listener, then the admin listener's.
fn spawn_accept_loops(
    state: &Rc<ShardState>,
    listeners: Vec<NetListener>,
    admin_listener: Option<NetListener>,
) -> Vec<Task<()>> {
    let mut loops = Vec::new();
    let ids = state
        .config
        .listener_ids()
        .map(|(id, _)| id)
        .collect::<Vec<_>>();
    for (id, listener) in ids.into_iter().zip(listeners) {
        loops.push(glommio::spawn_local(accept_loop(
            state.clone(),
            id,
            listener,
        )));
    }
    if let Some(listener) = admin_listener {
        loops.push(glommio::spawn_local(admin::accept_loop(
            state.clone(),
            listener,
        )));
    }
    loops
}

/// Starts the embedded demo server on its listener; its deletions reach the other shards
/// over the mesh.
fn start_demo(
    state: &Rc<ShardState>,
    binds: &Binds,
    listener: NetListener,
) -> (Rc<DemoService>, Task<()>) {
    let (sse, path) = state
        .config
        .demo
        .as_ref()
        .map_or((false, "/mcp"), |d| (d.sse, d.path.as_str()));
    let addr = binds
        .demo
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut svc = DemoService::new(sse, binds.demo_secret, path, addr);
    if let Some(source) = state.config.demo.as_ref().and_then(|d| d.replay.as_ref()) {
        svc = svc.replaying(source);
    }
    let svc = Rc::new(svc);
    let serving = glommio::spawn_local(crate::demo::server::accept_loop(listener, svc.clone()));
    svc.set_announce(crate::demo::server::announcer(state.mesh.clone()));
    (svc, serving)
}

/// Serves every peer's mesh messages for the shard's life.
fn spawn_mesh_receivers(
    state: &Rc<ShardState>,
    receivers: Vec<(ShardId, ConnectedReceiver<MeshMsg>)>,
    demo_service: Option<Rc<DemoService>>,
) {
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
}

/// Starts each stdio upstream's warm children in the background, each given the longest
/// request timeout to initialize.
fn start_warm_children(state: &Rc<ShardState>) {
    for children in state.all_children() {
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
}

type Bound = (Vec<NetListener>, Option<NetListener>, Option<NetListener>);

/// Binds the MCP listeners on the shard's I/O path; the admin and embedded demo listeners stay
/// on glommio's sockets (not the hot path; the demo server stands for an upstream).
fn bind_all(io: &ShardIo, binds: &Binds) -> Result<Bound, BindError> {
    let backlog = shards::listener::DEFAULT_BACKLOG;
    let bind = |addr: SocketAddr| {
        shards::listener::bind_reuseport(addr, backlog)
            .map(NetListener::from)
            .map_err(|source| BindError { addr, source })
    };
    let listeners = binds
        .listeners
        .iter()
        .map(|a| {
            io.bind(*a, backlog)
                .map_err(|source| BindError { addr: *a, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let admin = binds.admin.map(bind).transpose()?;
    let demo = binds.demo.map(bind).transpose()?;
    Ok((listeners, admin, demo))
}

fn on_mesh_msg(
    state: &Rc<ShardState>,
    demo: Option<&Rc<DemoService>>,
    from: ShardId,
    msg: MeshMsg,
) {
    match msg {
        MeshMsg::Handoff {
            fd,
            buffered,
            listener,
            peer,
        } => adopt(state, fd, buffered, listener, peer.as_deref()),
        MeshMsg::MetricsQuery { from: asker, seq } => admin::answer_query(state, asker, seq),
        MeshMsg::MetricsReply(report) => admin::collect_reply(state, from, *report),
        MeshMsg::RateAsk {
            from: asker,
            seq,
            route,
            principal,
            draws,
        } => crate::proxy::rates::answer(state, asker, (seq, route), &principal, &draws),
        MeshMsg::RateAnswer { seq, wait_ms } => crate::proxy::rates::deliver(state, seq, wait_ms),
        MeshMsg::Intercept(msg) => crate::proxy::intercept::on_mesh(state, *msg),
        MeshMsg::DemoSessionDeleted(session) => {
            if let Some(svc) = demo {
                svc.remember_deleted(&session);
            }
        }
    }
}
