//! One translated session's client state (a legacy client served by a modern upstream, see
//! `proxy::l2m`): [`L2mSession`] holds what the client said in `initialize`, its log level,
//! resource subscriptions, MRTR waiters and in-flight requests, with the `server/discover`
//! result it was opened with ([`Discovered`]). Only the data: the proxy's `l2m` folder opens,
//! drives and ends these, and its per-shard map lives in `ShardState.l2m`.
//!
//! Not here: the session table itself (entry.rs; a translated session has a normal entry
//! there, which owns its lifetime), the per-upstream tool caches (`proxy::state::l2m`).
//! Only cold paths allocate: `initialize`, subscriptions, MRTR rounds.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::LocalSender;
use serde_json::value::RawValue;
use shards::latch::Latch;

use crate::config::{UpstreamId, UpstreamUrl};
use crate::mcp::{JsonRpcId, ProtocolVersion};

/// A client's answer to a server→client request: (the proxy-minted id, the whole response).
pub type ClientAnswer = (JsonRpcId, Vec<u8>);

/// One translated session (legacy client, modern upstream).
#[derive(Debug)]
pub struct L2mSession {
    /// The upstream.
    pub upstream: UpstreamId,
    /// Who opened the session (its upstream requests carry this principal's OAuth token).
    pub owner: super::Principal,
    /// Its URL: a translated session's upstream is always a Streamable HTTP one (the adapter
    /// choice hands the URL over when the session opens).
    pub url: Rc<UpstreamUrl>,
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
        (upstream, owner): (UpstreamId, super::Principal),
        url: Rc<UpstreamUrl>,
        version: ProtocolVersion,
        capabilities: Box<RawValue>,
        client_info: Box<RawValue>,
        discovered: Rc<Discovered>,
    ) -> Self {
        L2mSession {
            upstream,
            owner,
            url,
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
