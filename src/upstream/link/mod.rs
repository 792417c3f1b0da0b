//! One stdio MCP server process seen as an MCP peer ([`Link`]): requests in, each request's
//! messages (progress, server→client requests, then the response) routed back to the call that
//! caused them, everything else to the session's inbox (its GET stream).
//!
//! A link serves one client session (per-session mode) or every session of a shard (shared
//! mode, where ids and progress tokens are remapped so sessions cannot collide; see
//! `remap.rs`). It lives on the shard that spawned the child; nothing here locks.
//!
//! Files: the link, its sessions and inboxes (here), requests in and calls in flight
//! (`calls.rs`), the child's messages routed back (`reader.rs`), shared-mode subscriptions
//! (`subscriptions.rs`), id rewriting (`remap.rs`), where messages come from (`source.rs`: a child or a legacy SSE
//! upstream, `sse.rs`).
//! Not here: HTTP (the proxy turns deliveries into JSON or SSE), pools of children (the
//! proxy's `stdio` module), process mechanics (`upstream::stdio`).

mod calls;
mod reader;
mod remap;
mod source;
mod sse;
mod sse_error;
mod subscriptions;

pub use calls::Call;
pub use sse_error::SseError;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use shards::latch::Latch;

use crate::config::{StdioMode, UpstreamHeaders};
use crate::mcp::{JsonRpcId, ProgressToken, Spans};

use super::stdio::{spawn, ChildSpec, SpawnError};

/// Messages a session's inbox holds while no GET stream reads them; beyond, new ones are
/// dropped (and logged): a client that never opens its GET stream must not grow memory.
pub const INBOX_CAPACITY: usize = 256;

/// Lines waiting for the peer's stdin (or POST endpoint). A peer that stops reading while
/// clients keep sending is misbehaving: when the queue is full the link is stopped, rather
/// than growing memory.
pub const OUTBOX_CAPACITY: usize = 1024;

/// Messages (progress, server requests) queued for one call whose client does not read them
/// fast enough; beyond, further ones are dropped (the response itself always gets through).
pub const CALL_BACKLOG: usize = 256;

/// Names a client session on a link. Per-session links have exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey(u32);

/// The proxy's own session on a shared link (its `initialize`).
const PROXY_SESSION: SessionKey = SessionKey(0);

/// One message for a call.
#[derive(Debug)]
pub enum Delivery {
    /// A notification or server→client request that belongs to the call (goes on its SSE stream).
    Message(Vec<u8>),
    /// The response: the call is complete.
    Final {
        /// The message.
        bytes: Vec<u8>,
        /// It is an error response.
        is_error: bool,
    },
}

/// Why a link cannot take a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// The child is gone (exited, closed stdout, misbehaved, or was stopped).
    #[error("{0}")]
    Gone(Rc<str>),
    /// The session was ended on this link.
    #[error("session ended")]
    SessionEnded,
    /// The shared child answered the proxy's own `initialize` with something unusable.
    #[error("upstream initialize failed: {0}")]
    Initialize(String),
}

/// What the proxy knows about a client message that is not a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientMessage<'a> {
    /// `params.requestId` of a `notifications/cancelled`.
    pub cancelled: Option<&'a JsonRpcId>,
    /// The id of a response (to a server→client request).
    pub response_to: Option<&'a JsonRpcId>,
    /// It is `notifications/initialized`.
    pub is_initialized: bool,
    /// Where its id and `requestId` sit (shared mode rewrites them).
    pub spans: Spans,
}

/// A legacy HTTP+SSE upstream to open sessions with.
#[derive(Debug, Clone)]
pub struct SseTarget {
    /// The stream's URL, for logs.
    pub url: String,
    /// Where to connect.
    pub addrs: Vec<std::net::SocketAddr>,
    /// `Host` header value.
    pub authority: String,
    /// Path of the GET stream.
    pub path: String,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Time allowed for the stream to open and announce its endpoint.
    pub open_timeout: Duration,
    /// Largest event accepted.
    pub max_event: usize,
    /// The shard's I/O path the stream and its POSTs connect through.
    pub io: shards::io::ShardIo,
    /// The upstream's configured headers (`headers`), which the GET and every POST carry;
    /// shared by the shard's sessions of this upstream (`Debug` shows names only).
    pub headers: Rc<UpstreamHeaders>,
    /// The upstream's OAuth tokens (`oauth`, client credentials): each GET and POST carries
    /// the one valid when it is written, with `headers`.
    pub credentials: Option<Rc<crate::upstream::credentials::UpstreamCredentials>>,
    /// `https://`: the shard's TLS setup for the stream and every POST connection (or why it
    /// could not be built); `None` for `http://`.
    pub tls: Option<Result<crate::tls::UpstreamTls, crate::tls::TlsSetupError>>,
}

impl SseTarget {
    /// The header lines a request starts with now.
    ///
    /// # Errors
    /// [`SseError::NoToken`] when the upstream has `oauth` and no valid token.
    pub(crate) fn lines(&self) -> Result<crate::upstream::credentials::HeaderLines<'_>, SseError> {
        use crate::upstream::credentials::HeaderLines;
        match &self.credentials {
            None => Ok(HeaderLines::Configured(&self.headers)),
            // Client credentials only (config: no token exchange on legacy SSE upstreams), so
            // no caller token is asked for.
            Some(credentials) => credentials
                .headers(None)
                .map(HeaderLines::Token)
                .map_err(|_| SseError::NoToken {
                    url: self.url.clone(),
                }),
        }
    }
}

impl SseTarget {
    /// The upstream answered `status`: a 401 refuses the proxy's client credentials token
    /// (one early refresh, at most one per minimum interval).
    pub(crate) fn answered(&self, status: u16) {
        if let (401, Some(credentials)) = (status, &self.credentials) {
            credentials.rejected(None);
        }
    }
}

/// How a link behaves.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Per-session or shared.
    pub mode: StdioMode,
    /// Longest stdout line accepted.
    pub max_line: usize,
    /// SIGTERM → SIGKILL grace when stopping the child.
    pub kill_grace: Duration,
    /// Upstream name, for logs.
    pub upstream: Rc<str>,
}

/// A request waiting for its response.
#[derive(Debug)]
struct Pending {
    tx: LocalSender<Delivery>,
    session: SessionKey,
    /// Order sent: messages with no relation go to the newest call.
    seq: u64,
    /// Shared mode: the client's id and progress token, restored on the way back.
    client_id: Option<JsonRpcId>,
    client_token: Option<ProgressToken>,
    /// Shared mode: the client's id and token text, when unusual (see `remap::AsWritten`).
    client_id_text: remap::AsWritten,
    client_token_text: remap::AsWritten,
    /// The token as the child knows it (key in `tokens`).
    upstream_token: Option<ProgressToken>,
    /// Set once a message of this call was dropped (its backlog full): logged once.
    overflowed: Cell<bool>,
}

/// A session's inbox: messages for its GET stream.
#[derive(Debug)]
struct Inbox {
    tx: LocalSender<Vec<u8>>,
    /// Taken by the open GET stream, given back when it ends.
    rx: Option<LocalReceiver<Vec<u8>>>,
}

/// One child process speaking MCP on stdio.
#[derive(Debug)]
pub struct Link {
    /// The child's pid (stdio upstreams).
    pid: Option<u32>,
    /// Names the peer in logs: `pid 1234` or the SSE URL.
    peer: Rc<str>,
    options: LinkOptions,
    /// Lines for the child's stdin; `None` once closed.
    outbox: RefCell<Option<LocalSender<Vec<u8>>>>,
    /// Calls in flight, by the id the child sees.
    pending: RefCell<HashMap<JsonRpcId, Pending>>,
    /// Progress token as the child sees it → the call's key in `pending`.
    tokens: RefCell<HashMap<ProgressToken, JsonRpcId>>,
    /// Sessions served, with their inboxes.
    sessions: RefCell<BTreeMap<SessionKey, Inbox>>,
    next_session: Cell<u32>,
    next_seq: Cell<u64>,
    /// Shared mode: ids the proxy gives requests it sends.
    next_upstream_id: Cell<i64>,
    /// Set once the child is gone: why.
    failure: RefCell<Option<Rc<str>>>,
    /// Fired to stop the child.
    close: Latch,
    /// Fired once the child is reaped.
    exited: Latch,
    /// Shared mode: the `result` of the proxy's `initialize`, answered to every client.
    init_result: RefCell<Option<Rc<[u8]>>>,
    /// One `initialize` at a time: sessions arriving meanwhile wait for its result.
    init_lock: glommio::sync::Semaphore,
    /// Shared mode: server→client requests sent to a session, by the id the client saw →
    /// (that session, the child's own id).
    server_requests: RefCell<HashMap<JsonRpcId, (SessionKey, JsonRpcId, remap::AsWritten)>>,
    /// Shared mode: ids given to server→client requests.
    next_server_request: Cell<i64>,
    /// Shared mode: resource URI → sessions subscribed to it (the child holds one
    /// subscription per URI while any session wants it).
    subscriptions: RefCell<BTreeMap<String, std::collections::BTreeSet<SessionKey>>>,
    /// The client session a per-session child serves, for its stderr log lines.
    session_tag: RefCell<Option<Rc<str>>>,
    /// Messages of calls dropped because the call's backlog was full ([`CALL_BACKLOG`]).
    dropped: Cell<u64>,
}

impl Link {
    /// Spawns the child and the tasks serving it (stdin writer, stdout router, stderr logger).
    /// Runs on the shard that will own the child.
    ///
    /// # Errors
    /// The spawn error (program not found, bad working directory, ...).
    pub fn start(spec: &ChildSpec, options: LinkOptions) -> Result<Rc<Link>, SpawnError> {
        let child = spawn(spec)?;
        let pid = child.pid();
        let (process, stdout, stdin, stderr) = child.into_parts();
        // Nothing has been read yet: re-wrapping loses no bytes.
        let stdout = super::stdio::LineReader::new(stdout.into_inner(), options.max_line);
        let (outbox, writes) = local_channel::new_bounded(OUTBOX_CAPACITY);
        let link = Link::new(Some(pid), format!("pid {pid}").into(), options, outbox);
        glommio::spawn_local(reader::write_lines(stdin, writes)).detach();
        glommio::spawn_local(reader::log_stderr(stderr, link.clone())).detach();
        glommio::spawn_local(reader::serve(
            link.clone(),
            source::StdioSource { stdout, process },
        ))
        .detach();
        Ok(link)
    }

    /// Opens a session with a legacy HTTP+SSE (2024-11-05) upstream: its event stream carries
    /// the upstream's messages, and messages to it are POSTed to the endpoint it announces.
    ///
    /// # Errors
    /// Why the stream could not be opened (connect, status, no `endpoint` event in time).
    pub async fn connect_sse(
        target: &SseTarget,
        options: LinkOptions,
    ) -> Result<Rc<Link>, SseError> {
        let (source, poster) = sse::open(target).await?;
        let (outbox, writes) = local_channel::new_bounded(OUTBOX_CAPACITY);
        let link = Link::new(None, target.url.as_str().into(), options, outbox);
        glommio::spawn_local(sse::post_lines(poster, writes, link.clone())).detach();
        glommio::spawn_local(reader::serve(link.clone(), source)).detach();
        Ok(link)
    }

    fn new(
        pid: Option<u32>,
        peer: Rc<str>,
        options: LinkOptions,
        outbox: LocalSender<Vec<u8>>,
    ) -> Rc<Link> {
        Rc::new(Link {
            pid,
            peer,
            options,
            outbox: RefCell::new(Some(outbox)),
            pending: RefCell::new(HashMap::new()),
            tokens: RefCell::new(HashMap::new()),
            sessions: RefCell::new(BTreeMap::new()),
            next_session: Cell::new(1),
            next_seq: Cell::new(0),
            next_upstream_id: Cell::new(1),
            failure: RefCell::new(None),
            close: Latch::default(),
            exited: Latch::default(),
            init_result: RefCell::new(None),
            init_lock: glommio::sync::Semaphore::new(1),
            session_tag: RefCell::new(None),
            dropped: Cell::new(0),
            subscriptions: RefCell::new(BTreeMap::new()),
            server_requests: RefCell::new(HashMap::new()),
            next_server_request: Cell::new(1),
        })
    }

    /// The child's process id (stdio upstreams).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The peer, for logs: `pid 1234` or the upstream's SSE URL.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Names the client session this child serves in its stderr log lines.
    pub fn set_session_tag(&self, session: &str) {
        *self.session_tag.borrow_mut() = Some(session.into());
    }

    /// Per-session or shared.
    pub fn mode(&self) -> StdioMode {
        self.options.mode
    }

    /// Why the child is gone, once it is.
    pub fn failure(&self) -> Option<Rc<str>> {
        self.failure.borrow().clone()
    }

    /// Messages of calls dropped because a call's backlog was full: its client did not read
    /// them, or an interception rule held an earlier message of the call meanwhile.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Whether the child ended without the proxy asking (exit, crash, protocol violation).
    pub fn ended_on_its_own(&self) -> bool {
        self.failure.borrow().is_some() && !self.close.is_fired()
    }

    /// Whether the child is running and not being stopped.
    pub fn is_alive(&self) -> bool {
        self.failure.borrow().is_none() && !self.close.is_fired()
    }

    /// Resolves once the child has been reaped.
    pub async fn wait_exited(&self) {
        self.exited.wait().await;
    }

    /// Stops the child (SIGTERM to its group, SIGKILL after the grace) and reaps it, in the
    /// background. Pending calls end; inboxes close.
    pub fn close(&self) {
        self.close.fire();
    }

    /// Registers a client session; per-session links take one.
    ///
    /// # Errors
    /// [`LinkError::Gone`] when the child is gone.
    pub fn open_session(&self) -> Result<SessionKey, LinkError> {
        self.check_alive()?;
        let key = SessionKey(self.next_session.get());
        self.next_session.set(key.0.wrapping_add(1).max(1));
        let (tx, rx) = local_channel::new_bounded(INBOX_CAPACITY);
        self.sessions
            .borrow_mut()
            .insert(key, Inbox { tx, rx: Some(rx) });
        Ok(key)
    }

    /// Ends a session: its calls and inbox close. A per-session link stops its child.
    pub fn end_session(&self, key: SessionKey) {
        let removed = self.sessions.borrow_mut().remove(&key);
        let calls: Vec<Pending> = {
            let mut pending = self.pending.borrow_mut();
            let keys: Vec<JsonRpcId> = pending
                .iter()
                .filter(|(_, call)| call.session == key)
                .map(|(id, _)| id.clone())
                .collect();
            keys.iter().filter_map(|id| pending.remove(id)).collect()
        };
        self.forget_tokens(&calls);
        self.server_requests
            .borrow_mut()
            .retain(|_, (owner, _, _)| *owner != key);
        self.end_subscriptions(key);
        drop((removed, calls));
        if self.options.mode == StdioMode::PerSession {
            self.close();
        }
    }

    /// Takes the session's inbox for a GET stream; `None` when one is open already (or the
    /// session is gone).
    pub fn take_inbox(&self, key: SessionKey) -> Option<LocalReceiver<Vec<u8>>> {
        self.sessions.borrow_mut().get_mut(&key)?.rx.take()
    }

    /// Gives the inbox back when the GET stream ends, so later messages queue again.
    pub fn return_inbox(&self, key: SessionKey, rx: LocalReceiver<Vec<u8>>) {
        if let Some(inbox) = self.sessions.borrow_mut().get_mut(&key) {
            inbox.rx = Some(rx);
        }
    }

    fn check_alive(&self) -> Result<(), LinkError> {
        if let Some(reason) = self.failure() {
            return Err(LinkError::Gone(reason));
        }
        if self.close.is_fired() {
            return Err(LinkError::Gone("upstream process stopped".into()));
        }
        Ok(())
    }

    fn check_session(&self, session: SessionKey) -> Result<(), LinkError> {
        self.check_alive()?;
        if self.sessions.borrow().contains_key(&session) {
            Ok(())
        } else {
            Err(LinkError::SessionEnded)
        }
    }

    fn gone_error(&self) -> LinkError {
        LinkError::Gone(
            self.failure()
                .unwrap_or_else(|| "upstream process stopped".into()),
        )
    }

    fn send_line(&self, line: Vec<u8>) -> Result<(), LinkError> {
        let sent = {
            let outbox = self.outbox.borrow();
            outbox.as_ref().map(|tx| tx.try_send(line))
        };
        match sent {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) if self.is_alive() => {
                tracing::warn!(
                    upstream = %self.options.upstream,
                    peer = %self.peer,
                    queued = OUTBOX_CAPACITY,
                    "upstream stopped reading its input; stopping it"
                );
                self.close();
                Err(LinkError::Gone("upstream stopped reading its input".into()))
            }
            _ => Err(self.gone_error()),
        }
    }

    /// Ends everything once the child is gone (called by the reader task).
    fn fail(&self, reason: Rc<str>) {
        *self.failure.borrow_mut() = Some(reason);
        self.outbox.borrow_mut().take();
        let pending: Vec<Pending> = self.pending.borrow_mut().drain().map(|(_, p)| p).collect();
        self.tokens.borrow_mut().clear();
        let sessions = std::mem::take(&mut *self.sessions.borrow_mut());
        drop((pending, sessions));
    }
}

/// A client session bound to a link; dropping it ends the session there (per-session links
/// stop their child). Held by the session table entry.
#[derive(Debug)]
pub struct LinkSession {
    /// The child serving the session.
    pub link: Rc<Link>,
    /// The session's key on it.
    pub key: SessionKey,
}

impl Drop for LinkSession {
    fn drop(&mut self) {
        self.link.end_session(self.key);
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
