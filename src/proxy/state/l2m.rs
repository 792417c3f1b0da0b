//! Per-shard state of era translation for legacy clients (`proxy::l2m`): shareable
//! `server/discover` results ([`Discovered`]), each translated session's client state
//! (capabilities, clientInfo, log level, resource subscriptions, MRTR waiters, in-flight
//! requests), and the tools' `x-mcp-header` annotations per upstream ([`ToolCache`], with the
//! fetch under way, [`Flight`]). Only the data: its behaviour is in `proxy::l2m` (discover.rs
//! parses a [`Discovered`], tools.rs and listing.rs keep the caches, params.rs reads
//! [`ToolParams`]), so this module imports no feature.
//!
//! Not here: the session table itself (crate::session; a translated session has a normal
//! entry there, which owns its lifetime: this side table is cleaned whenever the entry goes).
//! Only cold paths allocate: `initialize`, subscriptions, MRTR rounds.

use crate::config::UpstreamId;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::LocalSender;
use serde_json::value::RawValue;
use shards::latch::Latch;

use crate::mcp::{JsonRpcId, ProtocolVersion};
use crate::session::SessionId;

/// A client's answer to a server→client request: (the proxy-minted id, the whole response).
pub type ClientAnswer = (JsonRpcId, Vec<u8>);

/// One translated session (legacy client, modern upstream).
#[derive(Debug)]
pub struct L2mSession {
    /// The upstream.
    pub upstream: UpstreamId,
    /// The version negotiated with the client.
    pub version: ProtocolVersion,
    /// The client's `initialize` capabilities (raw JSON object).
    pub capabilities: Box<RawValue>,
    /// The client's `clientInfo` (raw JSON object).
    pub client_info: Box<RawValue>,
    /// The discover result the session was opened with (upstream capabilities).
    pub discovered: Rc<Discovered>,
    /// Set by `logging/setLevel`.
    pub log_level: RefCell<Option<String>>,
    /// Resource URIs the client subscribed to.
    pub subscriptions: RefCell<BTreeSet<String>>,
    /// Fired (and replaced) when the subscriptions change: the GET stream's listen reopens.
    pub resubscribe: RefCell<Rc<Latch>>,
    /// Fired when the session ends (DELETE, expiry): waits and streams stop.
    pub ended: Latch,
    /// Proxy-minted server→client request id → the exchange waiting for the answer.
    pub waiters: RefCell<HashMap<JsonRpcId, Rc<LocalSender<ClientAnswer>>>>,
    /// Client request id → its cancel latch (fired by `notifications/cancelled`).
    pub inflight: RefCell<HashMap<JsonRpcId, Rc<Latch>>>,
    next_id: Cell<u64>,
}

impl L2mSession {
    /// A new session's state.
    pub fn new(
        upstream: UpstreamId,
        version: ProtocolVersion,
        capabilities: Box<RawValue>,
        client_info: Box<RawValue>,
        discovered: Rc<Discovered>,
    ) -> Self {
        L2mSession {
            upstream,
            version,
            capabilities,
            client_info,
            discovered,
            log_level: RefCell::new(None),
            subscriptions: RefCell::new(BTreeSet::new()),
            resubscribe: RefCell::new(Rc::new(Latch::default())),
            ended: Latch::default(),
            waiters: RefCell::new(HashMap::new()),
            inflight: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
        }
    }

    /// A fresh id for a server→client request or an upstream retry (never reused in the
    /// session).
    pub fn mint(&self, what: &str) -> String {
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        format!("shadowcat-{what}-{n}")
    }

    /// Wakes the GET stream so it reopens its listen with the new subscriptions.
    pub fn subscriptions_changed(&self) {
        let old = self.resubscribe.replace(Rc::new(Latch::default()));
        old.fire();
    }
}

/// Translation state of one shard.
#[derive(Debug, Default)]
pub struct L2mState {
    /// Discover results shareable across clients (`public` with a TTL): until when.
    pub discovered: RefCell<HashMap<UpstreamId, (Rc<Discovered>, Instant)>>,
    /// Translated sessions owned by this shard.
    pub sessions: RefCell<HashMap<SessionId, Rc<L2mSession>>>,
    /// What each upstream's tools mirror into `Mcp-Param-*` headers (tools.rs).
    pub tools: RefCell<ToolCaches>,
}

impl L2mState {
    /// The translated session `id`, if it is one.
    pub fn session(&self, id: &SessionId) -> Option<Rc<L2mSession>> {
        self.sessions.borrow().get(id).cloned()
    }

    /// Forgets session `id` (its entry left the session table): ends its waits and streams.
    pub fn end(&self, id: &SessionId) {
        if let Some(session) = self.sessions.borrow_mut().remove(id) {
            session.ended.fire();
            session.resubscribe.borrow().fire();
        }
    }

    /// Ends every translated session (shutdown).
    pub fn end_all(&self) {
        for (_, session) in self.sessions.borrow_mut().drain() {
            session.ended.fire();
        }
    }

    /// A shareable discover result for `upstream`, when still fresh.
    pub fn shared_discover(&self, upstream: UpstreamId, now: Instant) -> Option<Rc<Discovered>> {
        self.discovered
            .borrow()
            .get(&upstream)
            .filter(|(_, until)| now < *until)
            .map(|(found, _)| found.clone())
    }
}

/// The fields of a `server/discover` result the proxy uses.
#[derive(Debug)]
pub struct Discovered {
    /// Whether `supportedVersions` lists any legacy (session) version.
    pub serves_legacy: bool,
    /// `capabilities` (raw JSON object).
    pub capabilities: Box<RawValue>,
    /// `_meta["io.modelcontextprotocol/serverInfo"]` or a top-level `serverInfo` (raw JSON).
    pub server_info: Option<Box<RawValue>>,
    /// `instructions` (raw JSON string).
    pub instructions: Option<Box<RawValue>>,
    /// How long the result may be reused for other clients: only a `public` result with a
    /// positive `ttlMs` (caching.mdx); `None` means ask again next time.
    pub shareable_for: Option<Duration>,
}

/// One annotated argument: where it sits in `arguments` and the header it travels in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// Property names from `arguments` to the value (the `properties` chain of the schema).
    pub path: Box<[String]>,
    /// The annotation: the header is `Mcp-Param-{name}`.
    pub name: String,
}

/// What a tool's `inputSchema` asks to mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolParams {
    /// The annotated arguments whose header can be written (non-empty token names).
    pub headers: Vec<ParamHeader>,
    /// Why the annotations break the spec's constraints, when they do (a 2026 client leaves
    /// such a tool out of `tools/list`).
    pub invalid: Option<String>,
}

/// What one fetch found: each listed tool's annotations, by name.
pub type Listing = HashMap<String, Rc<ToolParams>>;

/// The annotations learned for one upstream.
#[derive(Debug, Default)]
pub struct ToolCache {
    pub(in crate::proxy) tools: Listing,
    /// A whole `tools/list` was read since the last change: a name missing here is unknown
    /// upstream too (no fetch for it). With caller-dependent listings the tools merged from
    /// several callers' listings; a name another caller sees is corrected by the `-32020`
    /// refresh.
    pub(in crate::proxy) complete: bool,
    /// Bumped by every change: a fetch that began before one is not stored.
    pub(in crate::proxy) generation: u64,
    /// When the last fetch failed (see [`RETRY_AFTER`]).
    pub(in crate::proxy) failed_at: Option<Instant>,
    /// The fetch under way, which calls needing the listing wait for (listing.rs).
    pub(in crate::proxy) running: Option<Rc<Flight>>,
}

/// Per upstream.
pub type ToolCaches = HashMap<UpstreamId, ToolCache>;

/// One fetch under way: the calls waiting for it, and what it found once done.
#[derive(Debug)]
pub struct Flight {
    /// Started by a `-32020` refresh (see the module docs).
    pub(in crate::proxy) refresh: bool,
    /// Fired when the fetch is over (found, failed or abandoned).
    pub(in crate::proxy) done: Latch,
    pub(in crate::proxy) outcome: RefCell<FetchOutcome>,
}

/// How a fetch ended.
#[derive(Debug, Clone)]
pub(in crate::proxy) enum FetchOutcome {
    /// Not over yet.
    Running,
    /// The upstream's listing (kept in the cache too unless the list changed meanwhile).
    Listed(Rc<Listing>),
    /// The fetch failed (the cache pauses fetching: tools.rs `RETRY_AFTER`).
    Failed,
    /// The fetching call was dropped (cancelled) before the fetch ended.
    Abandoned,
}
