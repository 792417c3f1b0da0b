//! Serves the demo MCP server (`DemoMcp`) over HTTP/1.1 on a shard, with shadowcat's own
//! HTTP layer: JSON replies, SSE replies written event by event with their delays.
//!
//! Not here: MCP logic (dispatch.rs and friends), process startup (the app module).

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use shards::io::{NetListener, NetStream};

use crate::proxy::accept::accept_until;
use crate::proxy::boot::BindError;

use crate::http::{Head, HttpConn, Limits, Method, RequestHead};
use crate::proxy::headers::local_response;
use crate::proxy::respond::refuse_foreign_host;
use crate::proxy::state::MeshMsg;
use shards::gate::Gate;
use shards::latch::Latch;
use shards::timeout::within;

use super::tape_backend::TapeBackend;
use super::{DemoMcp, DemoOptions, DemoReply, PostRequest, SseStep};

/// How long an idle keep-alive connection to the demo server stays open.
const IDLE: Duration = Duration::from_secs(120);

/// Deleted session ids remembered per shard; past this the set is cleared (a demo server
/// trades exactness for bounded memory: a very old deleted id may come back to life).
const MAX_REMEMBERED_DELETIONS: usize = 100_000;

/// Tells the other shards that a session was deleted here.
pub type Announce = Box<dyn Fn(&str)>;

/// What answers the requests: the demo tools, or a tape (`shadowcat replay --bind`).
enum Backend {
    Demo(DemoMcp),
    Tape(TapeBackend),
}

/// One shard's demo server.
pub struct DemoService {
    backend: Backend,
    path: String,
    limits: Limits,
    /// Fired to stop accepting and end idle connections.
    pub shutdown: Latch,
    /// Connections being served: at shutdown, answers in flight finish before the shard ends
    /// (another shard's proxy may be relaying one of them).
    inflight: Gate,
    /// `Host` names served (`None`: any).
    allowed_hosts: Option<Vec<String>>,
    /// Sessions ids are stateless tags; DELETE is remembered here and announced to peers.
    deleted: RefCell<HashSet<Box<str>>>,
    announce: RefCell<Option<Announce>>,
}

impl std::fmt::Debug for DemoService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoService")
            .field("path", &self.path)
            .field("deleted", &self.deleted.borrow().len())
            .finish_non_exhaustive()
    }
}

impl DemoService {
    /// A demo server answering on `path`. `secret` must be the same on every shard so
    /// session ids minted on one shard verify on another.
    pub fn new(sse: bool, secret: u64, path: &str, bind: std::net::SocketAddr) -> DemoService {
        // On loopback the demo trusts only local names (DNS-rebinding protection, as the SDKs
        // do); bound elsewhere, the operator chose to expose it and any Host is served.
        let allowed_hosts = bind
            .ip()
            .is_loopback()
            .then(|| crate::config::local_hosts(bind));
        DemoService {
            allowed_hosts,
            backend: Backend::Demo(DemoMcp::new(DemoOptions { sse, secret })),
            path: path.to_owned(),
            // Bodies past the proxy's default 4 MiB: tests raise the proxy's limit to send them.
            limits: Limits {
                max_body_bytes: 16 << 20,
                ..Limits::default()
            },
            shutdown: Latch::default(),
            inflight: Gate::new(),
            deleted: RefCell::new(HashSet::new()),
            announce: RefCell::new(None),
        }
    }

    /// Stops accepting, ends idle connections, and waits (at most `grace`) for the answers in
    /// flight: the proxy shards relaying them may not be this one, and a shard that ends drops
    /// its tasks without closing their connections, which would leave those relays silent.
    pub async fn stop(&self, grace: std::time::Duration) {
        self.shutdown.fire();
        if within(grace, self.inflight.closed()).await.is_none() {
            tracing::warn!(
                left = self.inflight.inside(),
                "demo server: answers still running after the shutdown grace"
            );
        }
    }

    /// The same service answering from the tape of `source` instead of the demo tools.
    pub fn replaying(mut self, source: &crate::config::ReplaySource) -> DemoService {
        self.backend = Backend::Tape(TapeBackend::new(source));
        self
    }

    fn post(&self, request: PostRequest<'_>) -> DemoReply {
        match &self.backend {
            Backend::Demo(mcp) => mcp.post(request),
            Backend::Tape(tape) => tape.post(request.session_id, request.body),
        }
    }

    fn get(&self, session: Option<&[u8]>) -> DemoReply {
        match &self.backend {
            Backend::Demo(mcp) => mcp.get(session),
            Backend::Tape(tape) => tape.get(session),
        }
    }

    fn delete(&self, session: Option<&[u8]>) -> DemoReply {
        match &self.backend {
            Backend::Demo(mcp) => mcp.delete(session),
            Backend::Tape(tape) => tape.delete(session),
        }
    }

    /// Sets how deletions reach the other shards.
    pub fn set_announce(&self, announce: Announce) {
        *self.announce.borrow_mut() = Some(announce);
    }

    /// Records a deletion (from this shard or announced by a peer).
    pub fn remember_deleted(&self, session: &str) {
        let mut deleted = self.deleted.borrow_mut();
        if deleted.len() >= MAX_REMEMBERED_DELETIONS {
            deleted.clear();
        }
        deleted.insert(Box::from(session));
    }

    fn is_deleted(&self, session: Option<&[u8]>) -> bool {
        session
            .and_then(|s| std::str::from_utf8(s).ok())
            .is_some_and(|s| self.deleted.borrow().contains(s))
    }

    fn forget(&self, session: Option<&[u8]>) {
        let Some(s) = session.and_then(|s| std::str::from_utf8(s).ok()) else {
            return;
        };
        self.remember_deleted(s);
        if let Some(announce) = self.announce.borrow().as_ref() {
            announce(s);
        }
    }
}

fn session_gone() -> DemoReply {
    let mut body = Vec::with_capacity(96);
    crate::mcp::write_error(
        &mut body,
        None,
        crate::mcp::jsonrpc::SESSION_NOT_FOUND,
        "Session not found",
        None,
    );
    DemoReply::Status {
        status: 404,
        body: Some(body),
        allow: None,
    }
}

/// Accepts demo connections until `svc.shutdown` fires.
/// The demo server is an upstream, not the proxy: it stays on glommio's sockets whatever
/// `--io` says.
pub async fn accept_loop(listener: NetListener, svc: Rc<DemoService>) {
    accept_until(listener, &svc.shutdown, "demo", |stream| {
        let svc = svc.clone();
        glommio::spawn_local(async move {
            // Refused once stopping: the connection is dropped (closed) unanswered.
            if let Some(_serving) = svc.inflight.enter() {
                serve(svc.clone(), stream).await;
            }
        })
        .detach();
    })
    .await;
}

/// Serves one demo connection, request by request, until it closes, idles out or shutdown.
async fn serve(svc: Rc<DemoService>, stream: NetStream) {
    let mut conn = HttpConn::new(stream, Vec::with_capacity(4096));
    let mut body = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    let mut head = RequestHead::default();
    loop {
        if !read_head(&svc, &mut conn, &mut head, &mut out).await {
            return;
        }
        let keep = head.keep_alive();
        body.clear();
        if let Some(hosts) = &svc.allowed_hosts {
            if refuse_foreign_host(&mut conn, &head, hosts).await {
                return;
            }
        }
        let Some(reply) = reply_to(&svc, &mut conn, &head, &mut body).await else {
            return;
        };
        out.clear();
        if !write_reply(&mut conn, reply, keep, &mut out).await || !keep {
            return;
        }
    }
}

/// Reads the next request head (until idle or shutdown); a malformed one is answered here.
/// Returns whether there is a request to serve.
async fn read_head(
    svc: &DemoService,
    conn: &mut HttpConn<NetStream>,
    head: &mut RequestHead,
    out: &mut Vec<u8>,
) -> bool {
    let read = futures_lite::future::or(
        async { Some(within(IDLE, conn.read_request_head(&svc.limits, head)).await) },
        async {
            svc.shutdown.wait().await;
            None
        },
    )
    .await;
    match read {
        Some(Some(Ok(true))) => true,
        Some(Some(Err(e))) => {
            out.clear();
            local_response(
                out,
                e.status(),
                Some("text/plain"),
                &[],
                b"bad request\n",
                false,
            );
            let _ = conn.write_all(out).await;
            false
        }
        _ => false,
    }
}

/// The demo MCP server's reply to the request (reading a POST's body into `body`); `None`
/// when the body cannot be read and the connection ends.
async fn reply_to(
    svc: &DemoService,
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
    body: &mut Vec<u8>,
) -> Option<DemoReply> {
    let session = head.header("mcp-session-id");
    let reply = if head.path() != svc.path.as_bytes() {
        DemoReply::Status {
            status: 404,
            body: None,
            allow: None,
        }
    } else if svc.is_deleted(session) {
        if head.method() == Method::Post {
            if let Ok(framing) = head.framing() {
                // Drain the body so the connection stays usable.
                let max = svc.limits.max_body_bytes as usize;
                if conn.read_body(framing, max, body).await.is_err() {
                    return None;
                }
            }
        }
        session_gone()
    } else {
        match head.method() {
            Method::Post => {
                let framing = match head.framing() {
                    Ok(f) => f,
                    Err(_) => return None,
                };
                if conn
                    .read_body(framing, svc.limits.max_body_bytes as usize, body)
                    .await
                    .is_err()
                {
                    return None;
                }
                svc.post(PostRequest {
                    session_id: head.header("mcp-session-id"),
                    protocol_version: head.header("mcp-protocol-version"),
                    accept: head.header("accept"),
                    content_type: head.header("content-type"),
                    body,
                })
            }
            Method::Get => svc.get(head.header("mcp-session-id")),
            Method::Delete => {
                let reply = svc.delete(session);
                if matches!(reply, DemoReply::Status { status: 200, .. }) {
                    svc.forget(session);
                }
                reply
            }
            _ => DemoReply::Status {
                status: 405,
                body: None,
                allow: Some("GET, POST, DELETE"),
            },
        }
    };
    Some(reply)
}

/// Writes one demo reply on `conn` (`out`: scratch for the bytes); false once the client is
/// gone.
async fn write_reply(
    conn: &mut HttpConn<NetStream>,
    reply: DemoReply,
    keep: bool,
    out: &mut Vec<u8>,
) -> bool {
    match reply {
        DemoReply::Json {
            status,
            body,
            session_id,
        } => {
            let sid;
            let extra: &[(&str, &str)] = match session_id.as_deref() {
                Some(s) => {
                    sid = [("Mcp-Session-Id", s)];
                    &sid
                }
                None => &[],
            };
            local_response(out, status, Some("application/json"), extra, &body, keep);
            conn.write_all(out).await.is_ok()
        }
        DemoReply::Accepted => {
            local_response(out, 202, None, &[], b"", keep);
            conn.write_all(out).await.is_ok()
        }
        DemoReply::Status {
            status,
            body,
            allow,
        } => {
            let allow_hdr;
            let extra: &[(&str, &str)] = match allow {
                Some(a) => {
                    allow_hdr = [("Allow", a)];
                    &allow_hdr
                }
                None => &[],
            };
            let body = body.unwrap_or_default();
            let ct = (!body.is_empty()).then_some("application/json");
            local_response(out, status, ct, extra, &body, keep);
            conn.write_all(out).await.is_ok()
        }
        DemoReply::Sse { session_id, steps } => {
            write_sse(conn, session_id.as_deref(), steps, keep, out).await
        }
    }
}

/// Writes an SSE answer: its head, then each step (a `message` event, or a pause the demo
/// takes between events), then the last chunk.
async fn write_sse(
    conn: &mut HttpConn<NetStream>,
    session_id: Option<&str>,
    steps: Vec<SseStep>,
    keep: bool,
    out: &mut Vec<u8>,
) -> bool {
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n",
    );
    if let Some(s) = session_id {
        out.extend_from_slice(b"Mcp-Session-Id: ");
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !keep {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let mut event = Vec::with_capacity(512);
    for step in steps {
        match step {
            SseStep::Message(json) => {
                event.clear();
                crate::http::write_event(&mut event, None, Some("message"), &json);
                crate::http::write_chunk(out, &event);
                if conn.write_all(out).await.is_err() {
                    return false;
                }
                out.clear();
            }
            SseStep::Delay(d) => {
                if !out.is_empty() {
                    if conn.write_all(out).await.is_err() {
                        return false;
                    }
                    out.clear();
                }
                glommio::timer::sleep(d).await;
            }
        }
    }
    out.extend_from_slice(crate::http::LAST_CHUNK);
    conn.write_all(out).await.is_ok()
}

/// A shard of the standalone `demo-server`: bind, report ready, serve until signalled.
pub async fn run_shard(
    addr: std::net::SocketAddr,
    sse: bool,
    secret: u64,
    path: String,
    boot: crate::proxy::boot::ShardBoot,
) {
    let listener = match shards::listener::bind_reuseport(addr, shards::listener::DEFAULT_BACKLOG) {
        Ok(l) => l,
        Err(e) => {
            let _ = boot.ready.send(Err(BindError { addr, source: e }));
            return;
        }
    };
    let _ = boot.ready.send(Ok(()));
    let svc = Rc::new(DemoService::new(sse, secret, &path, addr));
    let mesh = Rc::new(boot.mesh.connect().await);
    for (_, receiver) in mesh.take_receivers() {
        let svc = svc.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = receiver.recv().await {
                if let MeshMsg::DemoSessionDeleted(s) = msg {
                    svc.remember_deleted(&s);
                }
            }
        })
        .detach();
    }
    svc.set_announce(announcer(mesh));
    let serving = glommio::spawn_local(accept_loop(NetListener::from(listener), svc.clone()));
    crate::proxy::boot::wait_for_signal(boot.shutdown, || {}).await;
    svc.stop(crate::config::defaults::SHUTDOWN_GRACE).await;
    serving.await;
}

/// Broadcasts a deletion to every peer (non-blocking; a full channel drops the notice).
pub fn announcer(mesh: Rc<shards::mesh::ConnectedMesh<MeshMsg>>) -> Announce {
    Box::new(move |session: &str| {
        for peer in 0..mesh.shard_count() {
            let peer = shards::ShardId(peer);
            if peer != mesh.id() {
                let _ = mesh.try_send_to(peer, MeshMsg::DemoSessionDeleted(Box::from(session)));
            }
        }
    })
}
