//! Client connections on one shard: accept, read heads, route each request to the shard
//! owning its session (moving the connection there, or relaying a TLS connection to it:
//! tunnel.rs), dispatch POST/GET/DELETE, keep-alive.
//!
//! Not here: what a request does (post.rs, bodyless.rs), startup (the app module).
//! Per connection: one pooled read buffer; the connection task awaits reads with the
//! keep-alive idle or head timeout, and exits at once when the shutdown latch fires.

use std::borrow::Cow;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;

use shards::io::{NetListener, NetStream};

use crate::proxy::accept::accept_until;

use crate::config::{ListenerId, RouteEra};
use crate::http::{Head, HttpConn, Method as HttpMethod, RequestHead};
use crate::pipeline::{Caller, Principal, RouteStages};
use crate::session::SessionId;

use super::audit;
use super::authenticate::authenticate;
use super::bodyless::bodyless;
use super::error::ProxyError;
use super::guard;
use super::handoff;
use super::metrics::Counter;
use super::post::post;
use super::respond::{closes_connection, error_response};
use super::state::{HopLinkKey, ShardState};
use super::stdio::answer::CLIENT_WRITE_TIMEOUT;
use shards::timeout::within;

/// Initial read buffer of a client connection (heads are small; grows up to the head limit).
const CLIENT_READ_BUF: usize = 4096;

/// Accepts connections on `socket` (configured listener `listener`) until shutdown, one task
/// per connection.
pub async fn accept_loop(state: Rc<ShardState>, listener: ListenerId, socket: NetListener) {
    let is_tls = state.config.listener(listener).tls.is_some();
    if is_tls && state.tls.current(listener).is_none() {
        return; // its TLS could not be set up on this shard (logged by ListenerTlsConfigs)
    }
    accept_until(socket, &state.shutdown, "mcp", |stream| {
        state.metrics.incr(Counter::Connections);
        // The configuration current now: a reload (SIGHUP) changes what new connections get.
        match state.tls.current(listener) {
            None => {
                let conn = serve(state.clone(), listener, stream, Vec::new(), None, false);
                super::record::spawn_connection(&state, conn);
            }
            Some(config) => {
                let handshake = serve_tls(state.clone(), listener, stream, config);
                super::record::spawn_connection(&state, handshake);
            }
        }
    })
    .await;
}

/// Runs the TLS server handshake (within the head timeout: a client that connects and sends
/// nothing holds a task no longer than one that sends half a head), then serves the
/// connection with its client certificate's principal (mTLS, peer.rs). A failed handshake
/// closes it with a debug log line: scanners and plain-HTTP clients are not worth a warning
/// each.
async fn serve_tls(
    state: Rc<ShardState>,
    listener: ListenerId,
    stream: NetStream,
    config: Arc<rustls::ServerConfig>,
) {
    let handshake = Box::pin(stream.accept_tls(config));
    match within(state.config.timeouts.head, handshake).await {
        // Boxed: `serve` is large, and only TLS connections pay for the extra allocation.
        Some(Ok(stream)) => match super::peer::certificate_caller(&stream) {
            Ok(peer) => Box::pin(serve(state, listener, stream, Vec::new(), peer, false)).await,
            Err(e) => tracing::warn!(error = %e, "client certificate names no principal; closed"),
        },
        Some(Err(e)) => tracing::debug!(error = %e, "client TLS handshake failed"),
        None => tracing::debug!("client TLS handshake timed out"),
    }
}

/// Takes over a connection handed off by another shard: serves it from `buffered`, on this
/// shard's I/O path, with the client certificate principal it brought (`peer`: a relayed mTLS
/// connection's, peer.rs).
pub fn adopt(
    state: &Rc<ShardState>,
    fd: OwnedFd,
    buffered: Vec<u8>,
    listener: ListenerId,
    peer: Option<&str>,
) {
    state.metrics.incr(Counter::HandoffsIn);
    let stream = state.io.stream(fd);
    let peer = super::peer::arrived(peer);
    super::record::spawn_connection(
        state,
        serve(state.clone(), listener, stream, buffered, peer, true),
    );
}

/// Serves one client connection until it closes, errs, moves to another shard or shutdown.
/// `peer`: the caller its client certificate names (mTLS; `None` for every other connection).
/// `moved`: it came from another shard (a moved connection, a TLS relay or a forwarding link).
pub async fn serve(
    state: Rc<ShardState>,
    listener: ListenerId,
    stream: NetStream,
    buffered: Vec<u8>,
    peer: Option<Rc<Caller>>,
    moved: bool,
) {
    let buf = if buffered.is_empty() {
        state.bufs.take(CLIENT_READ_BUF)
    } else {
        buffered
    };
    let mut conn = HttpConn::from_parts(stream, buf);
    loop {
        let head = match next_head(&state, &mut conn).await {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                let _ = answer_error(&state, &mut conn, &e, false).await;
                break;
            }
        };
        if let Some(owner) = foreign_owner(&state, listener, &head) {
            let peer = super::peer::travelling(peer.as_ref());
            let tls = conn.stream_mut().is_tls();
            if !super::hop_forward::forwards(state.config.runtime.hops, moved, tls) {
                handoff(&state, conn, (&head, peer), owner, listener).await;
                return;
            }
            let key = HopLinkKey {
                owner,
                listener,
                peer,
            };
            if !forward(&state, &mut conn, &head, key).await || state.shutdown.is_fired() {
                break;
            }
            continue;
        }
        let Some(_pass) = state.inflight.enter() else {
            // Draining: say so (503, closes) rather than drop a request the client may retry.
            let _ = answer_error(&state, &mut conn, &ProxyError::ShuttingDown, false).await;
            break;
        };
        audit::open(&state, &head);
        let keep = handle(&state, (listener, peer.as_ref(), moved), &mut conn, &head).await;
        audit::close(&state);
        crate::record::scope::end_request();
        if !keep || state.shutdown.is_fired() {
            break;
        }
    }
    // On the uring path writes are queued: let the last answer reach the kernel before the
    // socket closes (bounded like every client write).
    let _ = within(CLIENT_WRITE_TIMEOUT, conn.flush()).await;
    let (_stream, buf) = conn.into_parts();
    state.bufs.give(buf);
}

/// Dispatches one request and answers its error; returns whether the connection stays open.
async fn handle(
    state: &Rc<ShardState>,
    on: (ListenerId, Option<&Rc<Caller>>, bool),
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> bool {
    match dispatch(state, on, conn, head).await {
        Ok(keep) => keep,
        // The client is gone or stopped reading (a write timed out), perhaps in the middle
        // of a response: no error response can reach it, and none may be written into a
        // half-sent body. Close.
        Err(e) if client_gone(&e) => false,
        Err(e) => {
            audit::note_error(&e);
            answer_after(state, conn, head, &e).await
        }
    }
}

/// Whether `err` says the client's connection broke (EOF or an I/O error on it): nothing can be
/// answered.
fn client_gone(err: &ProxyError) -> bool {
    matches!(
        err,
        ProxyError::Http(crate::http::Error::UnexpectedEof | crate::http::Error::Io(_))
    )
}

/// Answers `err`, the error of the request `head`; returns whether the connection stays open.
async fn answer_after(
    state: &ShardState,
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
    err: &ProxyError,
) -> bool {
    // A body the error left unread would be parsed as the next request (desync): close
    // unless the request had no body at all.
    let no_body = matches!(head.framing(), Ok(crate::http::Framing::Empty));
    let synced = no_body || !err.before_body();
    let keep = head.keep_alive() && synced && !closes_connection(err);
    answer_error(state, conn, err, keep).await && keep
}

/// Forwards a request owned by `key.owner` (hop_forward.rs), holding an in-flight pass (a
/// draining shard waits for it); returns whether the connection stays open.
async fn forward(
    state: &Rc<ShardState>,
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
    key: HopLinkKey,
) -> bool {
    let Some(_pass) = state.inflight.enter() else {
        let _ = answer_error(state, conn, &ProxyError::ShuttingDown, false).await;
        return false;
    };
    // Boxed: only forwarded requests pay for the forward's state, not every connection's future.
    match Box::pin(super::hop_forward::forward(state, conn, head, key)).await {
        Ok(keep) => keep,
        // The client is gone or stopped reading (mid-body, or on the 100 Continue): close.
        Err(e) if client_gone(&e) => false,
        Err(e) => {
            // Refused here, never seen by the owner: audited here.
            audit::open(state, head);
            audit::note_error(&e);
            let keep = answer_after(state, conn, head, &e).await;
            audit::close(state);
            keep
        }
    }
}

/// Reads the next head: the keep-alive idle timeout applies until a byte arrives, then the
/// head timeout (408) for the rest of it. Shutdown ends an idle wait at once.
async fn next_head(
    state: &ShardState,
    conn: &mut HttpConn<NetStream>,
) -> Result<Option<RequestHead>, ProxyError> {
    let timeouts = &state.config.timeouts;
    if conn.buffered().is_empty() {
        let first_byte = futures_lite::future::or(
            async { within(timeouts.keepalive_idle, conn.await_data()).await },
            async {
                state.shutdown.wait().await;
                None
            },
        )
        .await;
        match first_byte {
            Some(Ok(n)) if n > 0 => {}
            // Idle timeout, shutdown, EOF or a reset between requests: close quietly.
            _ => return Ok(None),
        }
    }
    let mut head = RequestHead::default();
    match within(
        timeouts.head,
        conn.read_request_head(&state.limits, &mut head),
    )
    .await
    {
        None => Err(ProxyError::HeadTimeout),
        Some(Ok(true)) => Ok(Some(head)),
        Some(Ok(false)) => Ok(None),
        Some(Err(e)) => Err(e.into()),
    }
}

/// The shard owning the request's session (`Mcp-Session-Id`, or the `sessionId` parameter of a
/// legacy messages POST), when that is not this one. Routes serving only 2026-07-28 have no
/// sessions (their `Mcp-Session-Id` is ignored): served where they land.
fn foreign_owner(
    state: &ShardState,
    listener: ListenerId,
    head: &RequestHead,
) -> Option<shards::ShardId> {
    if state.ctx.shard_count < 2 {
        return None;
    }
    let route = state.config.route_for(listener, head.target());
    if route.is_some_and(|(_, r)| r.era == RouteEra::Modern) {
        return None;
    }
    // A request without any credential to a route that needs one is refused where it landed:
    // anyone could otherwise make the proxy move connections between shards.
    let needs_credential = match route {
        Some((_, r)) => r.auth.is_some(),
        None => super::legacy::route(&state.config, listener, head.path())
            .is_some_and(|found| found.route().auth.is_some()),
    };
    if needs_credential
        && head.header("authorization").is_none()
        && head.header("x-api-key").is_none()
    {
        return None;
    }
    let raw = match head.header("mcp-session-id") {
        Some(raw) => raw,
        None => super::legacy::messages_session(&state.config, listener, head)?,
    };
    let sid = SessionId::parse(raw)?;
    let owner = state.ring.owner(sid.as_bytes());
    (owner != state.id()).then_some(owner)
}

/// Moves the connection (socket + this request's bytes + read-ahead, and its certificate
/// principal `peer`) to `owner`; a TLS connection is relayed to it instead (tunnel.rs).
async fn handoff(
    state: &Rc<ShardState>,
    mut conn: HttpConn<NetStream>,
    (head, peer): (&RequestHead, Option<Box<str>>),
    owner: shards::ShardId,
    listener: ListenerId,
) {
    let mut bytes = state
        .bufs
        .take(head.fields().raw().len() + conn.buffered().len());
    bytes.extend_from_slice(head.fields().raw());
    if conn.stream_mut().is_tls() {
        let relayed = match state.inflight.enter() {
            Some(_pass) => {
                // Boxed: only relayed TLS connections pay for the relay's state, not every
                // connection's future.
                let to = (owner, listener);
                Box::pin(super::tunnel::relay(state, &mut conn, (bytes, peer), to)).await
            }
            None => {
                state.bufs.give(bytes);
                Err(ProxyError::ShuttingDown)
            }
        };
        if let Err(e) = relayed {
            let _ = answer_error(state, &mut conn, &e, false).await;
        }
        let (_stream, buf) = conn.into_parts();
        state.bufs.give(buf);
        return;
    }
    let taken = handoff::take(&mut conn, bytes).await;
    let (_stream, buf) = conn.into_parts();
    state.bufs.give(buf);
    let Some((fd, bytes)) = taken else {
        return;
    };
    if let Err(Some((fd, bytes, peer))) =
        handoff::send(state, owner, (fd, bytes, peer), listener).await
    {
        // The owner is gone (shutdown): serve here; the session lookup will 404.
        tracing::warn!(
            shard = state.id().0,
            owner = owner.0,
            "handoff failed; serving locally"
        );
        adopt(state, fd, bytes, listener, peer.as_deref());
    }
}

/// Routes by path and method after the Host/Origin check; `peer`: the connection's client
/// certificate caller, for routes without `auth`; `moved`: the connection came from another
/// shard (see [`serve`]).
async fn dispatch(
    state: &Rc<ShardState>,
    (listener, peer, moved): (ListenerId, Option<&Rc<Caller>>, bool),
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    guard::check_host_origin(state.config.listener(listener), head)?;
    if let Some(served) = super::well_known::serve(state, listener, conn, head).await {
        return served;
    }
    audit::check_required(state)?;
    let path = head.path();
    if let Some(found) = super::legacy::route(&state.config, listener, path) {
        if state.audit.is_some() {
            let session = super::legacy::messages_session(&state.config, listener, head);
            audit::note_route(found.id(), true, session);
        }
        let caller = authenticate(state, found.id(), head, peer).await?;
        let (stages, principal) = judged_by(state, state.stages(found.id()), caller);
        // Boxed, like GET/DELETE below: a rare or long-lived branch must not size every
        // connection's future (issue 13, memory per open stream).
        let legacy = super::legacy::dispatch(state, found, (&stages, principal), conn, head);
        return Box::pin(legacy).await;
    }
    let (id, route) = state
        .config
        .route_for(listener, path)
        .ok_or(ProxyError::NoRoute)?;
    if state.audit.is_some() {
        audit::note_route(id, false, head.header("mcp-session-id"));
    }
    let caller = authenticate(state, id, head, peer).await?;
    let (stages, principal) = judged_by(state, state.stages(id), caller);
    match head.method() {
        HttpMethod::Post => post(state, (id, route, moved), (&stages, principal), conn, head).await,
        // 2026-07-28 is POST only (streamable-http.mdx §Backward Compatibility).
        _ if route.era == RouteEra::Modern => Err(ProxyError::PostOnly),
        HttpMethod::Get | HttpMethod::Delete => {
            Box::pin(bodyless(state, id, (&stages, principal), conn, head)).await
        }
        _ => Err(ProxyError::MethodNotAllowed),
    }
}

/// The route's stages as they judge `caller`'s request, and its principal (anonymous on a
/// route without `auth` unless the connection has a client certificate; noted in the
/// request's audit record) with the access token it presented, for an upstream that exchanges
/// it (`ShardState::exchange_for`, only when a request goes upstream). Runs right after
/// `authenticate`: nothing that can fail comes between, so the record always names who.
fn judged_by<'s>(
    state: &ShardState,
    stages: &'s RouteStages,
    caller: Option<Rc<Caller>>,
) -> (Cow<'s, RouteStages>, Principal) {
    let principal = caller
        .as_ref()
        .map_or_else(Principal::anonymous, |c| c.principal.clone());
    if state.audit.is_some() {
        audit::note_principal(&principal);
    }
    (stages.for_caller(caller), principal)
}

/// Writes the error response; returns false when the client is gone.
async fn answer_error(
    state: &ShardState,
    conn: &mut HttpConn<NetStream>,
    err: &ProxyError,
    keep_alive: bool,
) -> bool {
    let mut out = state.bufs.lease(512);
    let status = error_response(&mut out, err, keep_alive);
    state.metrics.status(status);
    super::record::proxy_answer(&out, status);
    match err.side() {
        super::error::Side::Client => tracing::debug!(status, error = %err, "request refused"),
        _ => tracing::warn!(status, error = %err, "request failed"),
    }
    // Bounded like every other client write: a client that does not read gets closed.
    super::relay_plan::write_within(conn, &out, CLIENT_WRITE_TIMEOUT).await
}
