//! GET and DELETE on a translated session. DELETE ends the session here (nothing upstream: a
//! modern upstream has no session). GET becomes an upstream `subscriptions/listen` for the
//! list changes the upstream declared plus the client's resource subscriptions; its
//! notifications reach the client as plain legacy notifications (`_meta.subscriptionId`
//! dropped, the acknowledgement skipped). A changed subscription set reopens the listen.
//!
//! Not here: POSTs (post.rs, call.rs).

use std::rc::Rc;
use std::time::Duration;

use glommio::net::TcpStream;

use crate::http::{Head, HttpConn, RequestHead};
use crate::mcp::Method;
use crate::session::SessionId;

use super::super::error::ProxyError;
use super::super::headers::local_response;
use super::super::metrics::{Counter, ListenGuard};
use super::super::relay::until_client_gone;
use super::super::state::{OpenStream, ShardState};
use super::super::stdio::answer::{ClientShape, SseOut};
use super::session::L2mSession;
use super::wire::{self, ClientMeta, Shape};
use super::{tools, upstream};

/// A listen that ended on its own is reopened after this pause (no hot loop against an
/// upstream that closes it at once).
const REOPEN_PAUSE: Duration = Duration::from_secs(1);
/// A GET stream has no idle timeout; this bounds one wait so the arithmetic stays finite.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Serves GET or DELETE for a translated session; returns whether the connection stays open.
pub async fn get_or_delete(
    state: &Rc<ShardState>,
    client: &mut HttpConn<TcpStream>,
    head: &RequestHead,
    sid: SessionId,
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
    let _open = OpenStream::open(state, sid);
    let _listening = ListenGuard::open(&state.metrics);
    let mut out = SseOut::new(ClientShape {
        keep_alive: head.keep_alive(),
        http11: head.minor_version() == 1,
        session: None,
    });
    out.start(state, client).await?;
    loop {
        if session.ended.is_fired() || state.shutdown.is_fired() {
            break;
        }
        let resubscribe = session.resubscribe.borrow().clone();
        let Some(request) = listen_request(state, head, &session) else {
            // Nothing to listen to yet: wait for a subscription (or the end).
            match until_client_gone(client, interrupted(&resubscribe, &session, state)).await {
                None => break,
                Some(()) => continue,
            }
        };
        let sent = until_client_gone(
            client,
            futures_lite::future::or(
                async { Some(upstream::send(state, session.upstream, &request, None).await) },
                async {
                    interrupted(&resubscribe, &session, state).await;
                    None
                },
            ),
        )
        .await;
        let mut reply = match sent {
            None => break,
            Some(None) => continue,
            Some(Some(Ok(reply))) if (200..300).contains(&reply.status()) => reply,
            Some(Some(Ok(reply))) => {
                tracing::debug!(status = reply.status(), "subscriptions/listen refused");
                drop(reply);
                if !pause(client, &session, state).await {
                    break;
                }
                continue;
            }
            Some(Some(Err(e))) => {
                tracing::debug!(error = %e, "subscriptions/listen failed");
                if !pause(client, &session, state).await {
                    break;
                }
                continue;
            }
        };
        loop {
            let resubscribe = session.resubscribe.borrow().clone();
            let next = until_client_gone(
                client,
                futures_lite::future::or(async { Some(reply.next(None, FOREVER).await) }, async {
                    interrupted(&resubscribe, &session, state).await;
                    None
                }),
            )
            .await;
            let message = match next {
                None => return Ok(false),
                // Resubscribe or end: dropping the reply closes the listen upstream.
                Some(None) => break,
                Some(Some(Ok(Some(message)))) => message,
                Some(Some(Ok(None) | Err(_))) => {
                    if !pause(client, &session, state).await {
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
                out.event(client, &plain).await?;
            }
        }
    }
    // A stream that was open for long counts as use: restart the idle clock.
    let _ = state
        .sessions
        .borrow_mut()
        .get_mut(&sid, std::time::Instant::now());
    out.finish(state, client).await
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

/// Waits [`REOPEN_PAUSE`]; false when the client left or the session ended meanwhile.
async fn pause(client: &mut HttpConn<TcpStream>, session: &L2mSession, state: &ShardState) -> bool {
    let waited = until_client_gone(
        client,
        futures_lite::future::or(
            async {
                glommio::timer::sleep(REOPEN_PAUSE).await;
                true
            },
            async {
                futures_lite::future::or(session.ended.wait(), state.shutdown.wait()).await;
                false
            },
        ),
    )
    .await;
    waited == Some(true)
}

/// The upstream `subscriptions/listen` POST for the session's current interests; `None` when
/// there is nothing to listen to.
fn listen_request(state: &ShardState, head: &RequestHead, session: &L2mSession) -> Option<Vec<u8>> {
    let url = state.config.upstreams.get(session.upstream)?.http()?;
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
    let mut request = Vec::with_capacity(body.len() + 512);
    wire::request_head(
        &mut request,
        &url.path,
        &url.authority,
        head,
        "subscriptions/listen",
        None,
        body.len(),
    );
    request.extend_from_slice(&body);
    Some(request)
}
