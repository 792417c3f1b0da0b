//! GET and DELETE on a translated session. DELETE ends the session here (nothing upstream: a
//! modern upstream has no session). GET becomes an upstream `subscriptions/listen` for the
//! list changes the upstream declared plus the client's resource subscriptions; its
//! notifications reach the client as plain legacy notifications (`_meta.subscriptionId`
//! dropped, the acknowledgement skipped). A changed subscription set reopens the listen.
//! [`listen`] is that mapping for any [`StreamSink`]: a legacy HTTP+SSE session feeds its own
//! stream from it (proxy::legacy::modern).
//!
//! Not here: POSTs (post.rs, call.rs).

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use shards::io::NetStream;

use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::Method;
use crate::session::SessionId;

use super::super::error::ProxyError;
use super::super::headers::local_response;
use super::super::intercept::{Scope, StreamAnswers};
use super::super::metrics::{Counter, ListenGuard};
use super::super::relay::until_client_gone;
use super::super::state::ShardState;
use super::super::stdio::answer::{ClientShape, SseOut};
use super::sink::StreamSink;
use super::wire::{self, ClientMeta, Shape};
use super::{tools, upstream};
use crate::session::l2m::L2mSession;

/// A listen that ended on its own is reopened after this pause (no hot loop against an
/// upstream that closes it at once).
const REOPEN_PAUSE: Duration = Duration::from_secs(1);
/// A GET stream has no idle timeout; this bounds one wait so the arithmetic stays finite.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Serves GET or DELETE for a translated session; returns whether the connection stays open.
pub async fn get_or_delete(
    state: &Rc<ShardState>,
    client: &mut HttpConn<NetStream>,
    head: &RequestHead,
    (sid, scope): (SessionId, Scope<'_>),
    session: Rc<L2mSession>,
    is_get: bool,
) -> Result<bool, ProxyError> {
    if !is_get {
        state.sessions.borrow_mut().remove(&sid);
        state.l2m.end(&sid);
        state.metrics.incr(Counter::SessionsDeleted);
        let mut out = Vec::with_capacity(96);
        let keep = head.keep_alive();
        local_response(&mut out, 200, None, &[], b"", keep);
        state.metrics.status(200);
        client.write_all(&out).await.map_err(ProxyError::Http)?;
        state.metrics.request(Method::Other, Duration::ZERO);
        return Ok(keep);
    }
    let _open = state.open_streams.open(sid);
    let _listening = ListenGuard::open(&state.metrics);
    let mut stream = GetStream {
        client,
        out: SseOut::new(ClientShape {
            ..ClientShape::of(head)
        }),
        // The interception rules' response side: each message by its own method, under the
        // set in force when it arrives.
        live: StreamAnswers::open(state, scope),
    };
    stream.out.start(state, stream.client).await?;
    if !listen(state, head, &session, &mut stream).await? {
        return Ok(false);
    }
    // A stream that was open for long counts as use: restart the idle clock.
    let _ = state
        .sessions
        .borrow_mut()
        .get_mut(&sid, std::time::Instant::now());
    stream.out.finish(state, stream.client).await
}

/// A Streamable HTTP client's GET stream.
struct GetStream<'a> {
    client: &'a mut HttpConn<NetStream>,
    out: SseOut,
    live: StreamAnswers<'a>,
}

impl StreamSink for GetStream<'_> {
    async fn send(&mut self, state: &ShardState, message: &[u8]) -> Result<(), ProxyError> {
        self.out
            .event_live(state, self.client, message, Some(&self.live))
            .await
    }

    async fn watch<F: Future>(&mut self, work: F) -> Option<F::Output> {
        until_client_gone(self.client, work).await
    }
}

/// Feeds `sink` the notifications of an upstream `subscriptions/listen` for the session's
/// interests, reopened whenever they change, until the session ends or the shard shuts down
/// (`Ok(true)`) or the client leaves (`Ok(false)`). `head` is the client request whose
/// end-to-end headers (credentials excepted) the listen carries upstream.
///
/// # Errors
/// The sink's (a write to the client failed).
pub(in crate::proxy) async fn listen<S: StreamSink>(
    state: &Rc<ShardState>,
    head: &RequestHead,
    session: &L2mSession,
    sink: &mut S,
) -> Result<bool, ProxyError> {
    loop {
        if session.ended.is_fired() || state.shutdown.is_fired() {
            return Ok(true);
        }
        let resubscribe = session.resubscribe.borrow().clone();
        // With token exchange, the session owner's token may have expired since the last
        // request (or never been exchanged: initialize answered from the cached discover).
        if let Err(e) = state.exchange_for(session.upstream, &session.owner).await {
            tracing::debug!(error = ?e, "no upstream token for subscriptions/listen");
            if !pause(sink, session, state).await {
                return Ok(false);
            }
            continue;
        }
        let Some(request) = listen_request(state, head, session) else {
            // Nothing to listen to yet: wait for a subscription (or the end).
            match sink.watch(interrupted(&resubscribe, session, state)).await {
                None => return Ok(false),
                Some(()) => continue,
            }
        };
        let sent = sink
            .watch(futures_lite::future::or(
                async { Some(upstream::send(state, session.upstream, &request, None).await) },
                async {
                    interrupted(&resubscribe, session, state).await;
                    None
                },
            ))
            .await;
        let mut reply = match sent {
            None => return Ok(false),
            Some(None) => continue,
            Some(Some(Ok(reply))) if (200..300).contains(&reply.status()) => reply,
            Some(Some(Ok(reply))) => {
                tracing::debug!(status = reply.status(), "subscriptions/listen refused");
                drop(reply);
                if !pause(sink, session, state).await {
                    return Ok(false);
                }
                continue;
            }
            Some(Some(Err(e))) => {
                tracing::debug!(error = %e, "subscriptions/listen failed");
                if !pause(sink, session, state).await {
                    return Ok(false);
                }
                continue;
            }
        };
        loop {
            let resubscribe = session.resubscribe.borrow().clone();
            let next = sink
                .watch(futures_lite::future::or(
                    async { Some(reply.next(None, FOREVER).await) },
                    async {
                        interrupted(&resubscribe, session, state).await;
                        None
                    },
                ))
                .await;
            let message = match next {
                None => return Ok(false),
                // Resubscribe or end: dropping the reply closes the listen upstream.
                Some(None) => break,
                Some(Some(Ok(Some(message)))) => message,
                Some(Some(Ok(None) | Err(_))) => {
                    if !pause(sink, session, state).await {
                        return Ok(false);
                    }
                    break;
                }
            };
            if wire::shape(&message) != Shape::Notification || is_acknowledgement(&message) {
                continue;
            }
            tools::on_notification(state, session.upstream, &message);
            if let Ok(plain) = wire::strip_subscription_id(&message) {
                sink.send(state, &plain).await?;
            }
        }
    }
}

/// Resolves when the subscriptions change, the session ends or the shard shuts down.
async fn interrupted(resubscribe: &shards::latch::Latch, session: &L2mSession, state: &ShardState) {
    futures_lite::future::or(
        resubscribe.wait(),
        futures_lite::future::or(session.ended.wait(), state.shutdown.wait()),
    )
    .await;
}

fn is_acknowledgement(message: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct M<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<M<'_>>(message)
        .is_ok_and(|m| m.method.as_deref() == Some("notifications/subscriptions/acknowledged"))
}

/// Waits [`REOPEN_PAUSE`] (or less, when the session ends or the shard shuts down meanwhile);
/// false when the client left.
async fn pause<S: StreamSink>(sink: &mut S, session: &L2mSession, state: &ShardState) -> bool {
    sink.watch(futures_lite::future::or(
        glommio::timer::sleep(REOPEN_PAUSE),
        futures_lite::future::or(session.ended.wait(), state.shutdown.wait()),
    ))
    .await
    .is_some()
}

/// The upstream `subscriptions/listen` POST for the session's current interests; `None` when
/// there is nothing to listen to.
fn listen_request(state: &ShardState, head: &RequestHead, session: &L2mSession) -> Option<Vec<u8>> {
    let url = state.config.upstream(session.upstream).http()?;
    let found = &session.discovered;
    let tools = found.declares("tools", "listChanged");
    let prompts = found.declares("prompts", "listChanged");
    let resources = found.declares("resources", "listChanged");
    let subscriptions = session.subscriptions.borrow();
    let uris: Vec<&str> = if found.declares("resources", "subscribe") {
        subscriptions.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    if !tools && !prompts && !resources && uris.is_empty() {
        return None;
    }
    let id = session.mint("listen");
    let listen = wire::listen_body(&id, tools, prompts, resources, &uris);
    let level = session.log_level.borrow().clone();
    let meta = ClientMeta {
        capabilities: &session.capabilities,
        client_info: &session.client_info,
        log_level: level.as_deref(),
    };
    let body = wire::upstream_body(&listen, &meta, None).ok()?;
    let configured = state
        .upstream_headers(session.upstream, &session.owner)
        .ok()?;
    let mut request = Vec::with_capacity(body.len() + 512);
    wire::request_head(
        &mut request,
        (url, &configured),
        head,
        "subscriptions/listen",
        None,
        body.len(),
    );
    request.extend_from_slice(&body);
    Some(request)
}
