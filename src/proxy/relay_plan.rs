//! What a relay of an upstream answer is told (`RelayPlan`) and how it ended (`RelayEnd`), and
//! the client-side waits and writes both relays use: the pass-through one (relay.rs) and the
//! message-by-message one (relay_rewrite.rs).
//!
//! Not here: relaying (those two files).
//! Hot path: no allocation; `watch` races the upstream read against the client hanging up.

use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};

use crate::http::{BodyReader, Framing, HttpConn, ResponseHead};
use crate::pipeline::intercept::{Outgoing, Sent};
use crate::pipeline::RouteStages;

use super::headers::OutFraming;
use super::intercept::StreamAnswers;
use super::metrics::ProxyMetrics;
use super::state::{RequestSlot, ShardState};
use shards::latch::Latch;
use shards::timeout::within;

/// How long a write to a client on a long-lived stream may stall (a client that stopped
/// reading); request responses use the upstream's request timeout instead.
pub(super) const STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnd {
    /// The whole body went to the client; the upstream connection may be reused.
    Complete {
        /// Whether the upstream connection is clean for the next request.
        upstream_reusable: bool,
        /// Whether the client connection may carry another request (false when the body was
        /// delimited by closing, for HTTP/1.0 clients).
        client_keep_alive: bool,
    },
    /// The client went away; the upstream connection must be dropped.
    ClientGone,
    /// The upstream failed or stalled mid-body after the head was sent: the client
    /// connection must be closed (its response is truncated).
    UpstreamBroken,
    /// The upstream failed before anything reached the client (a rewritten JSON answer is
    /// held whole): the client still gets an error answer.
    NotSent(NotSent),
}

/// Why an answer held back for rewriting never reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// Larger than `max_sse_event`: too large to judge as one message.
    TooLarge,
    /// The upstream stayed silent past the idle timeout.
    Silent,
    /// The upstream's body broke off or was malformed.
    Broken,
}

/// What the client is told about the response.
#[derive(Debug, Clone, Copy)]
pub struct RelayPlan<'a> {
    /// Client-facing session id to put in `Mcp-Session-Id`, if any.
    pub session: Option<&'a str>,
    /// Whether the client connection stays open afterwards.
    pub client_keep_alive: bool,
    /// Whether the client speaks HTTP/1.1 (can take chunked bodies).
    pub client_http11: bool,
    /// Longest silence allowed between body pieces (`None` for long-lived GET streams).
    pub idle_timeout: Option<Duration>,
    /// Most body bytes relayed (streams are bounded too; GET streams get `u64::MAX`).
    pub max_body: u64,
    /// Largest single SSE event allowed from the upstream; a larger one ends the stream.
    pub max_sse_event: usize,
    /// Where relayed SSE events are counted.
    pub metrics: &'a ProxyMetrics,
    /// The shard (where a message an interception rule holds waits: `delay`, `pause`).
    pub state: &'a ShardState,
    /// For long-lived streams (GET): end the stream when this fires (shutdown).
    pub stop: Option<&'a Latch>,
    /// The route's stages; their response side runs on every message when `rewrite` is set.
    pub stages: &'a RouteStages,
    /// Relay message by message (relay_rewrite.rs) because a stage may change one.
    pub rewrite: bool,
    /// The request's id, for an error answer when the upstream fails before anything was sent.
    pub request_id: Option<&'a crate::mcp::JsonRpcId>,
    /// A GET stream's interception rules (response side), following the shard's rule set: a
    /// pass-through stream turns message by message (at an event boundary) once a set that
    /// judges it is put in force.
    pub live: Option<&'a StreamAnswers<'a>>,
    /// The request's `max_in_flight` slot, given back when its complete answer is held.
    pub slot: Option<&'a RequestSlot>,
}

impl RelayPlan<'_> {
    /// The response side for one message: the route's stages, then the stream's rules on what
    /// the stages made of it (a message they hold or drop goes no further here).
    pub(super) fn response(&self, message: &[u8]) -> Outgoing {
        let staged = self.stages.response(message);
        let Some(live) = self.live else {
            return staged;
        };
        match staged {
            Outgoing::Now(Sent::Original) => live.judge(message),
            Outgoing::Now(Sent::Changed(base)) => live.judge(&base).over(Some(base)),
            other => other,
        }
    }

    /// Gives the request's slot back (its answer is complete upstream; a rule holds it).
    pub fn release_slot(&self) {
        if let Some(slot) = self.slot {
            slot.release();
        }
    }
}

/// Writes and clears `scratch`; false when the client is gone or stalled past `limit`.
pub(super) async fn send<C: AsyncWrite + AsyncRead + Unpin>(
    client: &mut HttpConn<C>,
    scratch: &mut Vec<u8>,
    limit: Duration,
) -> bool {
    let sent = write_within(client, scratch, limit).await;
    scratch.clear();
    sent
}

/// Writes `bytes` to the client; false when it is gone or stalled past `limit`.
pub(super) async fn write_within<C: AsyncWrite + AsyncRead + Unpin>(
    client: &mut HttpConn<C>,
    bytes: &[u8],
    limit: Duration,
) -> bool {
    matches!(within(limit, client.write_all(bytes)).await, Some(Ok(())))
}

/// Awaits `work` (an upstream exchange not yet answered) while watching the client for EOF;
/// `None` when the client hung up first (`work` is dropped, and with it its upstream
/// connection). A client with pipelined bytes buffered is not watched.
pub fn until_client_gone<'a, C, F, T>(
    client: &'a mut HttpConn<C>,
    work: F,
) -> impl std::future::Future<Output = Option<T>> + 'a
where
    C: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = T> + 'a,
    T: 'a,
{
    Mapped {
        future: watch(client, work, None),
        map: Some(|watched| match watched {
            Watched::Read(done) => Some(done),
            Watched::ClientGone | Watched::Stopped => None,
        }),
    }
}

/// Awaits `held` (a message an interception rule holds) while watching the client for EOF,
/// also after it sent more bytes (a pipelined request, kept buffered for after the answer):
/// `None` when the client hung up first. Cold path (holds only): unlike [`until_client_gone`],
/// it reads ahead of the answer, up to the room the client's buffer has.
pub(in crate::proxy) async fn while_held<C, F, T>(client: &mut HttpConn<C>, held: F) -> Option<T>
where
    C: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = T>,
{
    let gone = async {
        loop {
            match client.read_ahead().await {
                Ok(Some(0)) | Err(_) => return None,
                Ok(Some(_)) => {}
                // Full: what the client sends next waits in its socket; EOF is not seen.
                Ok(None) => std::future::pending::<()>().await,
            }
        }
    };
    futures_lite::future::or(async { Some(held.await) }, gone).await
}

/// What ended the wait for the next upstream piece.
pub(super) enum Watched<T> {
    /// The upstream read finished (data, end, error or idle timeout).
    Read(T),
    /// The client closed its connection while we waited.
    ClientGone,
    /// The stop latch fired.
    Stopped,
}

/// Awaits `read` while watching the client for EOF (a client that hangs up on a silent stream
/// must not pin the upstream connection) and `stop`. Bytes the client sends meanwhile (a
/// pipelined request) stay buffered in `client`. Not an `async fn`, and `read` is not awaited
/// in an async block: either would hold `read` twice (argument or capture, and the awaited
/// copy), doubling every request's exchange in its connection's task.
pub(super) fn watch<'a, C, F, T>(
    client: &'a mut HttpConn<C>,
    read: F,
    stop: Option<&'a Latch>,
) -> impl std::future::Future<Output = Watched<T>> + 'a
where
    C: AsyncRead + AsyncWrite + Unpin,
    F: std::future::Future<Output = T> + 'a,
    T: 'a,
{
    let idle_client = client.buffered().is_empty();
    let client_gone = async move {
        if idle_client {
            match client.await_data().await {
                Ok(0) | Err(_) => return Watched::ClientGone,
                Ok(_) => {}
            }
        }
        std::future::pending::<Watched<T>>().await
    };
    let stopped = async move {
        match stop {
            Some(latch) => {
                latch.wait().await;
                Watched::Stopped
            }
            None => std::future::pending().await,
        }
    };
    futures_lite::future::or(
        Mapped {
            future: read,
            map: Some(Watched::Read),
        },
        futures_lite::future::or(client_gone, stopped),
    )
}

pin_project_lite::pin_project! {
    /// `future`'s output through `map`, polled in place (see [`watch`] for why not an async
    /// block).
    struct Mapped<F, M> {
        #[pin]
        future: F,
        map: Option<M>,
    }
}

impl<F: std::future::Future, M: FnOnce(F::Output) -> T, T> std::future::Future for Mapped<F, M> {
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let this = self.project();
        if this.map.is_none() {
            // Polled after it finished: the inner future may not be polled again.
            return std::task::Poll::Pending;
        }
        match this.future.poll(cx) {
            std::task::Poll::Ready(out) => match this.map.take() {
                Some(map) => std::task::Poll::Ready(map(out)),
                None => std::task::Poll::Pending,
            },
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// How the client's copy of an upstream body with `framing` is delimited: the length kept, a
/// chunked or close-delimited body re-chunked for HTTP/1.1 clients or close-delimited for
/// HTTP/1.0 ones.
pub(super) fn out_framing(
    head: &ResponseHead,
    framing: Framing,
    client_http11: bool,
) -> OutFraming {
    match framing {
        // 204/304 must not carry Content-Length: 0 (RFC 9110 §8.6); other empty bodies say 0.
        Framing::Empty if matches!(head.status(), 204 | 304) => OutFraming::NoBody,
        Framing::Empty => OutFraming::Length(0),
        Framing::Length(n) => OutFraming::Length(n),
        Framing::Chunked | Framing::UntilClose if client_http11 => OutFraming::Chunked,
        Framing::Chunked | Framing::UntilClose => OutFraming::Close,
    }
}

/// The next body piece from `upstream` within `plan.idle_timeout`, watching the client and
/// `plan.stop` meanwhile (both relays wait this way). `None` when the client hung up;
/// otherwise the read: `None` when the upstream stayed silent past the idle timeout, else data,
/// the end of the body, or an upstream error. A fired stop reads as the end of the body (a
/// long-lived stream ends cleanly at shutdown) and sets `stopped`.
pub(super) async fn next_piece<'u, C, U>(
    client: &mut HttpConn<C>,
    upstream: &'u mut HttpConn<U>,
    reader: &mut BodyReader,
    plan: &RelayPlan<'_>,
    stopped: &mut bool,
) -> Option<Option<Result<Option<&'u [u8]>, crate::http::Error>>>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        match plan.idle_timeout {
            Some(limit) => within(limit, upstream.next_body_chunk(reader)).await,
            None => Some(upstream.next_body_chunk(reader).await),
        }
    };
    match watch(client, read, plan.stop).await {
        Watched::Read(read) => Some(read),
        Watched::ClientGone => None,
        Watched::Stopped => {
            *stopped = true;
            Some(Some(Ok(None)))
        }
    }
}
