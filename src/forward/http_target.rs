//! A Streamable HTTP target as seen by forward mode: the session it holds (`Mcp-Session-Id`,
//! negotiated protocol version), its connection pool, and one POST per client message with the
//! answer (JSON, SSE or an HTTP error) turned into lines for the client.
//!
//! Not here: reading SSE streams and the GET stream (http_stream.rs), error wording
//! (http_reply.rs), the loop feeding it (http_mode.rs).
//! Concurrency: each client message is its own task with its own pooled connection, so a slow
//! tool call never holds up a ping; the pool keeps up to [`POOL_MAX_IDLE`] warm connections.
//! Session state sits in `RefCell`s on the one executor thread; no borrow crosses an await.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::config::UpstreamUrl;
use crate::http::{BodyReader, Framing, Head, Limits, MessageKind, Method, ResponseHead};
use crate::mcp::{Inspector, JsonRpcId, Kind};
use crate::upstream::pool::{Pool, UpstreamConn};
use shards::latch::Latch;
use shards::timeout::within;

use super::http_reply::{status_error, ErrorReply};
use super::http_request::{valid_value, write_head, Request, SessionHeaders};
use super::input::ClientMessage;
use super::output::Output;

/// Idle keep-alive connections kept to the target: enough for a client's usual parallelism.
pub(crate) const POOL_MAX_IDLE: usize = 16;

/// Largest JSON answer (or SSE event) accepted from the target. Tool results carrying
/// resources or images can be several MiB of base64; past this the answer is refused with an
/// error instead of growing memory.
pub(crate) const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// How long the DELETE that ends the session may take at exit (best effort: the client is
/// already done).
const DELETE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes of an error answer's body read to find a JSON-RPC error in it.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The target, its session and where its answers go.
#[derive(Debug)]
pub(crate) struct HttpTarget {
    pub(crate) url: UpstreamUrl,
    headers: Vec<(String, String)>,
    pool: Pool,
    pub(crate) timeout: Duration,
    pub(crate) limits: Limits,
    session: RefCell<Option<String>>,
    version: RefCell<Option<String>>,
    /// The GET stream has been started (once per session).
    pub(crate) listening: Cell<bool>,
    pub(crate) out: Rc<Output>,
    /// Fired at shutdown: long-lived streams end.
    pub(crate) stop: Rc<Latch>,
    inspector: RefCell<Inspector>,
    /// Requests the client cancelled while they were in flight: the target may end their stream
    /// without an answer, and the client expects none (MCP `notifications/cancelled`).
    cancelled: RefCell<Vec<JsonRpcId>>,
}

/// Cancelled requests remembered at most; a client cancelling requests that were already
/// answered must not grow the list forever.
const MAX_CANCELLED: usize = 1024;

/// Why an exchange produced no response head.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// Connect, write or read failed, or the answer was not HTTP.
    Unavailable(String),
    /// Nothing within the request timeout.
    Timeout,
}

impl ExchangeError {
    /// The error a request gets for it.
    pub(crate) fn reply(&self, timeout: Duration) -> ErrorReply {
        match self {
            Self::Unavailable(reason) => {
                ErrorReply::unavailable(format!("the target is unavailable: {reason}"))
            }
            Self::Timeout => ErrorReply::timeout(timeout),
        }
    }
}

/// A response head read from the target, with its connection positioned at the body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) conn: UpstreamConn,
    pub(crate) head: ResponseHead,
    pub(crate) framing: Framing,
}

impl Answer {
    /// Whether `Content-Type` is `media` (case-insensitive, parameters ignored).
    pub(crate) fn is_media(&self, media: &[u8]) -> bool {
        self.head
            .header("content-type")
            .is_some_and(|ct| crate::http::media_type(ct).eq_ignore_ascii_case(media))
    }

    /// Whether the body is an SSE stream.
    pub(crate) fn is_sse(&self) -> bool {
        self.head.is_event_stream()
    }
}

impl HttpTarget {
    /// A target at `url` (an https:// one checked against `trust`), sending `headers` with
    /// every request.
    pub(crate) fn new(
        (url, trust): (UpstreamUrl, Option<crate::config::UpstreamTrust>),
        headers: Vec<(String, String)>,
        connect_timeout: Duration,
        timeout: Duration,
        out: Rc<Output>,
        stop: Rc<Latch>,
    ) -> Self {
        // forward's one client is not the proxy's hot path: glommio's sockets.
        let pool = Pool::new(
            shards::io::ShardIo::glommio(),
            url.addrs.clone(),
            connect_timeout,
            POOL_MAX_IDLE,
            // The scheme decides TLS; the trust was checked when the flags were read
            // (`--target-ca`, `--target-insecure`), the default roots without them.
            url.tls.then(|| {
                let trust = trust.unwrap_or(crate::config::UpstreamTrust::DefaultRoots);
                crate::tls::UpstreamTls::new(&url.host, &trust)
            }),
        );
        Self {
            url,
            headers,
            pool,
            timeout,
            limits: Limits::default(),
            session: RefCell::new(None),
            version: RefCell::new(None),
            listening: Cell::new(false),
            out,
            stop,
            inspector: RefCell::new(Inspector::new()),
            cancelled: RefCell::new(Vec::new()),
        }
    }

    /// Whether a session id is known.
    pub(crate) fn has_session(&self) -> bool {
        self.session.borrow().is_some()
    }

    /// Head (and `body`) of `request` with the current session headers.
    pub(crate) fn request_bytes(&self, request: Request<'_>, body: &[u8]) -> Vec<u8> {
        let session = self.session.borrow();
        let version = self.version.borrow();
        let mut out = Vec::with_capacity(512 + body.len());
        let known = SessionHeaders {
            session: session.as_deref(),
            version: version.as_deref(),
        };
        write_head(&mut out, &self.url, &self.headers, known, request);
        out.extend_from_slice(body);
        out
    }

    /// Sends `request` and reads the final response head, each step within the request
    /// timeout. A reused keep-alive connection that fails on write is retried once on a fresh
    /// one (the target cannot have seen the request).
    pub(crate) async fn exchange(
        &self,
        request: &[u8],
        method: Method,
    ) -> Result<Answer, ExchangeError> {
        let checkout = self
            .pool
            .checkout()
            .await
            .map_err(|e| ExchangeError::Unavailable(e.to_string()))?;
        let mut conn = checkout.conn;
        let mut reused = checkout.reused;
        loop {
            let mut head = ResponseHead::default();
            let written = within(self.timeout, conn.write_all(request)).await;
            let read = match written {
                None => return Err(ExchangeError::Timeout),
                Some(Err(_)) if reused => {
                    conn = self
                        .pool
                        .connect()
                        .await
                        .map_err(|e| ExchangeError::Unavailable(e.to_string()))?;
                    reused = false;
                    continue;
                }
                Some(Err(e)) => return Err(ExchangeError::Unavailable(e.to_string())),
                Some(Ok(())) => {
                    within(
                        self.timeout,
                        conn.read_final_response_head(&self.limits, &mut head),
                    )
                    .await
                }
            };
            return match read {
                None => Err(ExchangeError::Timeout),
                Some(Err(crate::http::Error::UnexpectedEof)) => Err(ExchangeError::Unavailable(
                    "the target closed the connection without answering".into(),
                )),
                Some(Err(e)) => Err(ExchangeError::Unavailable(e.to_string())),
                Some(Ok(())) => {
                    let framing = head
                        .framing(method)
                        .map_err(|e| ExchangeError::Unavailable(e.to_string()))?;
                    Ok(Answer {
                        conn,
                        head,
                        framing,
                    })
                }
            };
        }
    }

    /// Returns a connection whose answer was read to its end to the pool.
    pub(crate) fn reuse(&self, answer: Answer) {
        if answer.head.keep_alive() && answer.framing != Framing::UntilClose {
            self.pool.checkin(answer.conn);
        }
    }

    /// POSTs one client message and relays the answer; every request in it gets exactly one
    /// answer on stdout (the target's, or an error).
    pub(crate) async fn post(self: Rc<Self>, msg: ClientMessage) {
        let request = self.request_bytes(
            Request::Post {
                body_len: msg.bytes.len() as u64,
            },
            &msg.bytes,
        );
        let session_sent = self.session.borrow().clone();
        if !msg.cancels.is_empty() {
            let mut cancelled = self.cancelled.borrow_mut();
            if cancelled.len() + msg.cancels.len() > MAX_CANCELLED {
                cancelled.clear();
            }
            cancelled.extend(msg.cancels.iter().cloned());
        }
        let answer = match self.exchange(&request, Method::Post).await {
            Ok(answer) => answer,
            Err(e) => return self.fail(&msg.requests, &e.reply(self.timeout)).await,
        };
        let status = answer.head.status();
        if !(200..300).contains(&status) {
            return self.refused(msg, answer, session_sent.as_deref()).await;
        }
        if msg.initialize {
            self.remember_session(&answer.head);
        }
        if msg.initialized && !self.listening.replace(true) {
            glommio::spawn_local(self.clone().listen()).detach();
        }
        if answer.is_sse() {
            self.clone().stream_answer(answer, msg).await;
            return;
        }
        if answer.is_media(b"application/json") {
            return self.json_answer(answer, msg).await;
        }
        // 202 Accepted (notifications, responses) or another body-less success.
        let mut answer = answer;
        let drained = self.drain_body(&mut answer, MAX_ERROR_BODY).await;
        if !msg.requests.is_empty() {
            let reply = ErrorReply::unavailable(format!(
                "the target accepted the request without answering it (HTTP {status})"
            ));
            self.fail(&msg.requests, &reply).await;
        }
        if drained.is_some() {
            self.reuse(answer);
        }
    }

    /// A JSON answer: one line to the client (a batch answer stays one array line).
    async fn json_answer(&self, mut answer: Answer, msg: ClientMessage) {
        let mut body = Vec::new();
        let read = within(
            self.timeout,
            answer
                .conn
                .read_response_body(answer.framing, MAX_ANSWER_BYTES, &mut body),
        )
        .await;
        match read {
            None => {
                return self
                    .fail(&msg.requests, &ErrorReply::timeout(self.timeout))
                    .await
            }
            Some(Err(e)) => {
                let reply = ErrorReply::unavailable(format!("the target's answer broke off: {e}"));
                return self.fail(&msg.requests, &reply).await;
            }
            Some(Ok(())) => {}
        }
        let mut waiting = msg.requests.clone();
        let empty = body.iter().all(u8::is_ascii_whitespace);
        let valid = !empty && self.note_messages(&body, &mut waiting, msg.initialize);
        if valid {
            self.out.message(&body).await;
        }
        if !waiting.is_empty() {
            let reply = ErrorReply::unavailable(if valid {
                "the target's answer did not answer this request"
            } else {
                "the target's answer is not a JSON-RPC message"
            });
            self.fail(&waiting, &reply).await;
        }
        self.reuse(answer);
    }

    /// A non-2xx answer: each request gets the matching error; a lost session is forgotten.
    async fn refused(&self, msg: ClientMessage, mut answer: Answer, session_sent: Option<&str>) {
        let status = answer.head.status();
        let body = self.drain_body(&mut answer, MAX_ERROR_BODY).await;
        // Only the session this request carried is gone; a newer one may have replaced it since.
        let current = self.session.borrow().as_deref() == session_sent;
        if status == 404 && session_sent.is_some() && current {
            self.forget_session();
        }
        let reply = status_error(
            status,
            answer.head.reason(),
            body.as_deref().unwrap_or_default(),
            session_sent.is_some(),
        );
        if msg.requests.is_empty() {
            tracing::warn!(status, error = %reply.message, "the target refused a notification or response");
        }
        self.fail(&msg.requests, &reply).await;
        if body.is_some() {
            self.reuse(answer);
        }
    }

    /// Reads up to `max` body bytes within the timeout; `None` if the body could not be read
    /// to its end (the connection is then not reusable).
    async fn drain_body(&self, answer: &mut Answer, max: usize) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        let read = within(
            self.timeout,
            answer
                .conn
                .read_response_body(answer.framing, max, &mut body),
        )
        .await;
        matches!(read, Some(Ok(()))).then_some(body)
    }

    /// Inspects messages from the target: answered ids leave `waiting`, and the `initialize`
    /// result's protocol version is remembered. False (and logged) when it is not JSON-RPC.
    pub(crate) fn note_messages(
        &self,
        bytes: &[u8],
        waiting: &mut Vec<JsonRpcId>,
        initialize: bool,
    ) -> bool {
        let inspected = self.inspector.borrow_mut().inspect(bytes);
        let inspected = match inspected {
            Ok(inspected) => inspected,
            Err(error) => {
                tracing::warn!(%error, "skipped a message from the target that is not JSON-RPC");
                return false;
            }
        };
        for info in inspected.messages() {
            if !matches!(info.kind, Kind::Response | Kind::ErrorResponse) {
                continue;
            }
            let Some(id) = &info.id else { continue };
            if let Some(at) = waiting.iter().position(|w| w == id) {
                waiting.swap_remove(at);
                self.forget_cancelled(id);
                if initialize && info.kind == Kind::Response {
                    // Only a version we know goes into a header: the target's text is not to be
                    // trusted (a decoded "\r\n" would inject header lines).
                    if let Some(version) = info.protocol_version.as_ref().and_then(|v| v.known()) {
                        *self.version.borrow_mut() = Some(version.as_str().to_owned());
                    }
                }
            }
        }
        true
    }

    /// Keeps the session id an `initialize` answer assigned (a new `initialize` replaces it).
    fn remember_session(&self, head: &ResponseHead) {
        let id = head.header("mcp-session-id").filter(|id| valid_value(id));
        let id = id.map(|id| String::from_utf8_lossy(id).into_owned());
        if let Some(id) = &id {
            tracing::info!(session = %id, "session started");
        }
        *self.session.borrow_mut() = id;
        *self.version.borrow_mut() = None;
        self.listening.set(false);
    }

    /// Forgets the session after the target said it is gone.
    fn forget_session(&self) {
        tracing::warn!("the target ended the session (HTTP 404); the client must initialize again");
        *self.session.borrow_mut() = None;
        *self.version.borrow_mut() = None;
    }

    /// Answers each of `ids` with `reply`, except requests the client cancelled.
    pub(crate) async fn fail(&self, ids: &[JsonRpcId], reply: &ErrorReply) {
        let ids = self.without_cancelled(ids);
        if !ids.is_empty() {
            tracing::warn!(code = reply.code, error = %reply.message, "request failed");
        }
        self.out.errors(&ids, reply.code, &reply.message).await;
    }

    /// `ids` minus (and forgetting) the cancelled ones.
    fn without_cancelled(&self, ids: &[JsonRpcId]) -> Vec<JsonRpcId> {
        ids.iter()
            .filter(|id| !self.forget_cancelled(id))
            .cloned()
            .collect()
    }

    /// Whether the client cancelled every one of `ids`.
    pub(crate) fn all_cancelled(&self, ids: &[JsonRpcId]) -> bool {
        let cancelled = self.cancelled.borrow();
        !cancelled.is_empty() && ids.iter().all(|id| cancelled.contains(id))
    }

    /// Forgets `ids` as cancelled (their stream was dropped).
    pub(crate) fn forget_all_cancelled(&self, ids: &[JsonRpcId]) {
        for id in ids {
            self.forget_cancelled(id);
        }
    }

    /// Forgets `id` as cancelled; true if it was.
    fn forget_cancelled(&self, id: &JsonRpcId) -> bool {
        let mut cancelled = self.cancelled.borrow_mut();
        match cancelled.iter().position(|c| c == id) {
            Some(at) => {
                cancelled.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// DELETEs the session (best effort, bounded), as a client does when it is done.
    pub(crate) async fn end_session(&self) {
        if !self.has_session() {
            return;
        }
        let request = self.request_bytes(Request::Delete, b"");
        match within(DELETE_TIMEOUT, self.exchange(&request, Method::Delete)).await {
            Some(Ok(answer)) => tracing::info!(status = answer.head.status(), "session deleted"),
            Some(Err(e)) => tracing::info!(error = ?e, "deleting the session failed"),
            None => tracing::info!("the target did not answer the session DELETE in time"),
        }
    }
}

/// A body reader for an SSE answer (its size is bounded per event, not in total).
pub(crate) fn stream_reader(framing: Framing) -> Result<BodyReader, crate::http::Error> {
    BodyReader::new(framing, MessageKind::Response, u64::MAX)
}
