//! `ShardState`: everything one shard owns for proxying, born on that shard.
//!
//! Not here: the request logic (post.rs, bodyless.rs) or the shard's start and stop (the app
//! module).
//! Shared by the shard's tasks through `Rc`; interior mutability only via RefCell/Cell, and no
//! borrow is held across an `.await`.

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;

use crate::auth::Authenticator;
use shards::io::ShardIo;
use shards::mesh::ConnectedMesh;
use shards::metrics::Snapshot;
use shards::ring::Ring;
use shards::slab::BufPool;
use shards::{ShardCtx, ShardId};

use crate::config::{Config, ListenerId, PerRoute, PerUpstream, RouteId, UpstreamId};
use crate::mcp::Inspector;
use crate::pipeline::RouteStages;
use crate::session::Principal;
use crate::session::{entry::new_table, OpenStreams};
use crate::upstream::children::{ChildStats, Children};
use crate::upstream::credentials::{HeaderLines, NoToken, UpstreamCredentials};
use crate::upstream::era_verdicts::EraVerdicts;
use crate::upstream::link::LinkSession;
use crate::upstream::pool::Pool;
use crate::upstream::runtime::UpstreamRuntime;

use super::metrics::ProxyMetrics;

mod hop_links;
mod inbox;
pub mod intercept;
pub mod l2m;
mod listener_tls;
pub mod modern;
pub mod modern_pool;
mod pause;
mod rate_bucket;
mod slots;

pub use hop_links::{HopLink, HopLinkKey, HopLinks};
pub use inbox::ReplyInbox;
pub use listener_tls::ListenerTlsConfigs;
pub use rate_bucket::{Bucket, Draw, PrincipalBuckets, RateState};
use shards::latch::Latch;
pub use slots::{RequestSlot, Slot, UpstreamSlots};

/// A client session's entry as the proxy keeps it: a session bound to a stdio child (or a
/// legacy SSE link) holds that link; dropping the last clone ends the session on the child.
pub type SessionEntry = crate::session::SessionEntry<Rc<LinkSession>>;

/// The per-shard table of [`SessionEntry`]s.
pub type SessionTable = crate::session::SessionTable<Rc<LinkSession>>;

/// A legacy HTTP+SSE session's queue to its stream, with the route's stages judging the
/// answers to the session's `tools/list` requests.
pub type LegacyOut = crate::session::legacy::LegacyOut<crate::pipeline::ListingWatch>;

/// Most idle pooled buffers per size class and shard. The byte cap (`buffer_pool_memory`) is
/// what bounds idle memory; this bounds the free lists' spines, allocated up front.
const POOLED_BUFFERS_PER_CLASS: usize = 256;

/// What shards send each other.
#[derive(Debug)]
pub enum MeshMsg {
    /// A client connection moved to the shard owning its session, at a request boundary.
    Handoff {
        /// The socket (out of the sending shard's I/O path).
        fd: OwnedFd,
        /// Bytes already read from it: the start of the next request.
        buffered: Vec<u8>,
        /// Which listener accepted it (selects routes and allow-lists).
        listener: ListenerId,
        /// The connection's client certificate principal (mTLS; its unique spelling), kept for
        /// all its requests on the new shard. Only a shard puts it here, never a client's
        /// bytes: a plain connection moves with `None`.
        peer: Option<Box<str>>,
    },
    /// Asks a shard for its metrics (admin scrape).
    MetricsQuery {
        /// Who wants the answer.
        from: ShardId,
        /// The scrape it belongs to.
        seq: u64,
    },
    /// A shard's metrics.
    MetricsReply(Box<MetricsReport>),
    /// Asks the shard owning a principal's rate-limit buckets to decide on a request.
    RateAsk {
        /// Who asks.
        from: ShardId,
        /// Its question's number.
        seq: u64,
        /// The route whose limits apply.
        route: RouteId,
        /// The principal (its unique spelling).
        principal: Box<str>,
        /// The buckets drawn and the tokens each.
        draws: Vec<Draw>,
    },
    /// The decision: milliseconds to wait, 0 when admitted (tokens taken).
    RateAnswer {
        /// The question's number.
        seq: u64,
        /// Milliseconds until the request would fit; 0: admitted.
        wait_ms: u32,
    },
    /// The embedded demo server ended a session (its ids are stateless tags).
    DemoSessionDeleted(Box<str>),
    /// The admin API's interception questions and answers (paused messages, rule sets).
    Intercept(Box<intercept::InterceptMsg>),
}

/// One shard's contribution to a scrape.
#[derive(Debug, Clone)]
pub struct MetricsReport {
    /// Counters and histograms.
    pub snapshot: Snapshot,
    /// Per-method counters and histograms.
    pub methods: Snapshot,
    /// Live sessions in its table.
    pub sessions: u64,
    /// Legacy HTTP+SSE streams open now.
    pub legacy_streams: u64,
    /// Its buffer pool's counters.
    pub buffers: shards::slab::BufStats,
    /// Its stdio children, over all stdio upstreams.
    pub children: ChildStats,
    /// Upstream 401s to the proxy's OAuth tokens, over all upstreams with `oauth`.
    pub token_refusals: u64,
    /// Token exchanges asked of authorization servers (RFC 8693), over all upstreams.
    pub token_exchanges: u64,
    /// Its io_uring's counters (uring path only).
    pub uring: Option<shards::uring::UringStats>,
    /// The scrape this answers.
    pub seq: u64,
}

/// Everything one shard owns.
#[derive(Debug)]
pub struct ShardState {
    /// Which shard this is.
    pub ctx: ShardCtx,
    /// The shard's socket I/O path (its io_uring, or glommio's sockets): client connections
    /// are accepted and adopted through it, upstream connections made through it.
    pub io: ShardIo,
    /// Immutable config snapshot.
    pub config: Arc<Config>,
    /// Session id → owning shard.
    pub ring: Arc<Ring>,
    /// Channels to the other shards.
    pub mesh: Rc<ConnectedMesh<MeshMsg>>,
    /// Live client sessions owned here.
    pub sessions: RefCell<SessionTable>,
    /// Per configured upstream: its HTTP pool or its links, by transport
    /// ([`ShardState::upstream`]).
    upstreams: PerUpstream<UpstreamRuntime>,
    /// Recycled I/O buffers.
    pub bufs: BufPool,
    /// Counters and histograms.
    pub metrics: ProxyMetrics,
    /// simd-json scratch space.
    pub inspector: RefCell<Inspector>,
    /// Fired on SIGINT/SIGTERM.
    pub shutdown: Latch,
    /// Requests in flight (closed and awaited on shutdown).
    pub inflight: shards::gate::Gate,
    /// Sessions with GET streams open right now (and how many): the reaper keeps them alive.
    pub open_streams: OpenStreams,
    /// Legacy HTTP+SSE sessions owned here, each with its open stream's queue.
    pub legacy: RefCell<std::collections::HashMap<crate::session::SessionId, Rc<LegacyOut>>>,
    /// HTTP size limits, from the config.
    pub limits: crate::http::Limits,
    /// Replies to this shard's metrics scrapes.
    pub scrape: ScrapeInbox,
    /// What `era = "auto"` upstreams were found to speak (both translation directions).
    pub era_verdicts: EraVerdicts,
    /// Era translation (legacy clients, modern upstreams): translated sessions.
    pub l2m: l2m::L2mState,
    /// Modern clients served by legacy upstreams: pooled sessions, pending MRTR exchanges.
    pub modern_clients: modern::Translator,
    /// Rate limits: the buckets of the principals this shard owns, questions to the others.
    pub rates: RateState,
    /// The audit log's pending lines on this shard, when `[audit]` is set.
    pub audit: Option<crate::audit::AuditLog>,
    /// The tapes this shard records, when `[recording]` is set.
    pub recorder: Option<Rc<crate::record::Recorder>>,
    /// Each TLS listener's current server configuration (replaced on SIGHUP).
    pub tls: Rc<ListenerTlsConfigs>,
    /// Interception: the rule set in force here, the messages paused here.
    pub intercept: intercept::InterceptShard,
    /// Idle links to the other shards, for requests forwarded to their owner.
    pub hop_links: HopLinks,
    /// Per route: its pipeline stages ([`ShardState::stages`]).
    stages: PerRoute<RouteStages>,
    /// Per route: who may use it, when it says ([`ShardState::auth`]).
    auth: PerRoute<Option<Rc<Authenticator>>>,
    /// Per upstream: requests in flight against its `max_in_flight` share.
    slots: PerUpstream<Rc<UpstreamSlots>>,
    /// Per upstream: its OAuth tokens, when it has `oauth` ([`ShardState::upstream_headers`]).
    credentials: PerUpstream<Option<Rc<UpstreamCredentials>>>,
}

impl ShardState {
    /// Builds the shard's state from the config snapshot (cold path, on the shard).
    pub fn build(
        ctx: ShardCtx,
        config: Arc<Config>,
        mesh: Rc<ConnectedMesh<MeshMsg>>,
        io: ShardIo,
    ) -> Rc<Self> {
        let credentials = PerUpstream::build(&config, |(_, u)| UpstreamCredentials::build(&io, u));
        let upstreams = PerUpstream::build(&config, |(id, u)| {
            let credentials = credentials.get(id).as_ref();
            UpstreamRuntime::build(u, &config.limits, (&io, credentials))
        });
        let stages = PerRoute::build(&config, |(_, route)| RouteStages::build(route));
        let auth = PerRoute::build(&config, |(_, route)| Authenticator::new(&io, route));
        let slots = PerUpstream::build(&config, |(_, u)| {
            UpstreamSlots::new(u.max_in_flight, ctx.shard_count)
        });
        Rc::new(ShardState {
            io,
            stages,
            auth,
            slots,
            credentials,
            ring: ctx.ring.clone(),
            sessions: RefCell::new(new_table(config.sessions.ttl)),
            upstreams,
            bufs: BufPool::new(POOLED_BUFFERS_PER_CLASS, config.runtime.buffer_pool_memory),
            metrics: ProxyMetrics::new(),
            inspector: RefCell::new(Inspector::new()),
            shutdown: Latch::default(),
            inflight: shards::gate::Gate::new(),
            scrape: ScrapeInbox::default(),
            era_verdicts: Default::default(),
            l2m: l2m::L2mState::default(),
            modern_clients: modern::Translator::default(),
            rates: RateState::default(),
            audit: config.audit.as_ref().map(crate::audit::AuditLog::new),
            recorder: config
                .recording
                .as_ref()
                .map(|r| Rc::new(crate::record::Recorder::new(r, ctx.id.0))),
            tls: Rc::new(ListenerTlsConfigs::build(&config)),
            intercept: intercept::InterceptShard::new(&config.intercept),
            hop_links: HopLinks::default(),
            open_streams: OpenStreams::default(),
            legacy: RefCell::new(std::collections::HashMap::new()),
            limits: crate::http::Limits {
                max_head_bytes: config.limits.max_head_bytes,
                max_headers: config.limits.max_headers,
                max_body_bytes: config.limits.max_body_bytes as u64,
            },
            ctx,
            config,
            mesh,
        })
    }

    /// This shard's id.
    pub fn id(&self) -> ShardId {
        self.ctx.id
    }

    /// Upstream `id`'s runtime on this shard: its HTTP pool or its links.
    pub fn upstream(&self, id: UpstreamId) -> &UpstreamRuntime {
        self.upstreams.get(id)
    }

    /// The connection pool of upstream `id` when it is a Streamable HTTP upstream.
    pub fn pool(&self, id: UpstreamId) -> Option<&Pool> {
        self.upstream(id).http().map(|http| &http.pool)
    }

    /// The children of upstream `id` when it is a linked (stdio or legacy SSE) upstream.
    pub fn children(&self, id: UpstreamId) -> Option<&Rc<Children>> {
        self.upstream(id).children()
    }

    /// The children of every linked upstream, in config order.
    pub fn all_children(&self) -> impl Iterator<Item = &Rc<Children>> {
        self.upstreams.iter().filter_map(|(_, up)| up.children())
    }

    /// The pipeline stages of route `id`.
    pub fn stages(&self, id: RouteId) -> &RouteStages {
        self.stages.get(id)
    }

    /// The authenticator of route `id`, when it checks credentials.
    pub fn auth(&self, id: RouteId) -> Option<&Rc<Authenticator>> {
        self.auth.get(id).as_ref()
    }

    /// A slot for one more request to upstream `id`.
    ///
    /// # Errors
    /// Every slot of this shard's share of `max_in_flight` is taken.
    #[allow(clippy::result_unit_err, reason = "the only failure is `full`")]
    pub fn upstream_slot(&self, id: UpstreamId) -> Result<Option<Slot>, ()> {
        self.slots.get(id).take()
    }

    /// The header lines every request of `principal` to upstream `id` starts with: the
    /// configured `headers` (borrowed: no cost without `oauth`), or those plus the upstream's
    /// current OAuth token.
    ///
    /// # Errors
    /// The upstream has `oauth` and no valid token for `principal`: the request must not go.
    pub fn upstream_headers(
        &self,
        id: UpstreamId,
        principal: &Principal,
    ) -> Result<HeaderLines<'_>, NoToken> {
        match self.credentials.get(id) {
            None => Ok(HeaderLines::Configured(&self.config.upstream(id).headers)),
            Some(credentials) => credentials
                .headers(principal.presented())
                .map(HeaderLines::Token),
        }
    }

    /// Makes sure a request of `principal` to upstream `id` has its token, when the upstream
    /// exchanges callers' tokens (RFC 8693): the one exchanged for the access token the
    /// principal presented, found in the shard's cache or exchanged now. Called by the request
    /// writers just before [`ShardState::upstream_headers`], so only a request that goes
    /// upstream depends on the authorization server; one `Option` test for other upstreams.
    ///
    /// # Errors
    /// The exchange was refused or the caller has no access token ([`NoToken::Refused`]), or
    /// the authorization server cannot be reached ([`NoToken::Unavailable`]).
    pub async fn exchange_for(&self, id: UpstreamId, principal: &Principal) -> Result<(), NoToken> {
        match self.credentials(id) {
            Some(credentials) if credentials.exchanges() => {
                // Boxed: the rare exchange must not size every request's future (issue 13).
                Box::pin(credentials.exchange(principal.presented())).await
            }
            _ => Ok(()),
        }
    }

    /// Upstream `id` answered a request of `principal` with `status`: a 401 means it refused
    /// the proxy's OAuth token (one early refresh). One comparison on every other answer.
    pub fn upstream_answered(&self, id: UpstreamId, status: u16, principal: &Principal) {
        if status == 401 {
            if let Some(credentials) = self.credentials(id) {
                credentials.rejected(principal.presented());
            }
        }
    }

    /// The OAuth tokens of upstream `id`, when it has `oauth`.
    pub fn credentials(&self, id: UpstreamId) -> Option<&Rc<UpstreamCredentials>> {
        self.credentials.get(id).as_ref()
    }

    /// The OAuth tokens of every upstream with `oauth`.
    pub fn all_credentials(&self) -> impl Iterator<Item = &Rc<UpstreamCredentials>> {
        self.credentials.iter().filter_map(|(_, c)| c.as_ref())
    }

    /// Every route's authenticator.
    pub fn authenticators(&self) -> impl Iterator<Item = &Rc<Authenticator>> {
        self.auth.values().flatten()
    }
}

/// Per-shard mailbox for the replies to this shard's metrics scrapes (the admin module's
/// `scrape.rs` sends the queries and reads the replies).
pub type ScrapeInbox = ReplyInbox<MetricsReport>;
