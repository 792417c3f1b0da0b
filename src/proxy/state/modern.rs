//! Per-shard state of era translation for modern clients (`proxy::modern_client`): the
//! [`Translator`] (pooled legacy upstream sessions, cached `initialize` results, exchanges
//! waiting for an MRTR retry) and the types it holds: [`UpSession`] with its [`Live`] slot,
//! [`Pending`] with the upstream call still being read ([`Source`], [`HttpAnswer`]). Only the
//! data: opening, reading and ending them is `proxy::modern_client`'s (upstream.rs, source.rs,
//! mrtr.rs), so this module imports no feature.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::config::UpstreamId;
use crate::http::{BodyReader, SseParser};
use crate::upstream::link::{Call, LinkSession};
use crate::upstream::pool::Exchange;

use super::modern_pool::{PoolKey, SessionPool};

/// One shard's translation state.
#[derive(Debug)]
pub struct Translator {
    /// Idle upstream sessions.
    pub(in crate::proxy) pool: RefCell<SessionPool<UpSession>>,
    /// The latest `initialize` result per upstream (for `server/discover`).
    pub(in crate::proxy) discovered: RefCell<HashMap<UpstreamId, Rc<serde_json::Value>>>,
    /// Exchanges waiting for a retry, by exchange id.
    pub(in crate::proxy) pending: RefCell<HashMap<u64, Pending>>,
    pub(in crate::proxy) next_exchange: Cell<u64>,
    /// Whether the idle-session reaper task runs on this shard (started on first use).
    pub(in crate::proxy) reaper: Cell<bool>,
    /// Live upstream sessions (see [`upstream::Live`]).
    pub(in crate::proxy) live: Rc<Cell<usize>>,
}

/// An upstream exchange waiting for the client's answers to its `inputRequests`.
#[derive(Debug)]
pub struct Pending {
    /// The call still open upstream.
    pub source: Source,
    /// The session it runs on (checked out).
    pub session: UpSession,
    /// Where the session returns.
    pub key: PoolKey,
    /// The id the upstream knows the call by (the original request's).
    pub upstream_id: crate::mcp::JsonRpcId,
    /// `inputRequests` key → the upstream's request id.
    pub asked: Vec<(String, crate::mcp::JsonRpcId)>,
    /// When it is dropped.
    pub expires: Instant,
}

/// Counts a live upstream session (checked out, idle or pending) while it exists.
#[derive(Debug)]
pub struct Live(Rc<Cell<usize>>);

impl Live {
    /// Takes one of the shard's `max` live-session slots, or `None` when all are taken.
    pub fn take(count: &Rc<Cell<usize>>, max: usize) -> Option<Self> {
        (count.get() < max).then(|| {
            count.set(count.get() + 1);
            Live(count.clone())
        })
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// An initialized legacy upstream session.
#[derive(Debug)]
pub enum UpSession {
    /// A Streamable HTTP session.
    Http {
        /// The upstream.
        upstream: UpstreamId,
        /// The upstream's `Mcp-Session-Id` (a stateless legacy server may send none).
        id: Option<Box<str>>,
        /// The negotiated version (`MCP-Protocol-Version` on every request).
        version: Box<str>,
        /// Its slot among the shard's live sessions.
        live: Live,
        /// Whose session it is (pools are per principal): its requests carry this
        /// principal's OAuth token when the upstream has `oauth`.
        owner: crate::session::Principal,
    },
    /// A session on a stdio child or legacy SSE link (and its live-session slot).
    Link(Rc<LinkSession>, Live),
}

/// An upstream call being read.
#[derive(Debug)]
pub enum Source {
    /// A POST's answer: JSON (one message) or SSE (events until the body ends).
    Http(Box<HttpAnswer>),
    /// A link call's deliveries.
    Link(Call),
}

/// A POST answer read message by message.
#[derive(Debug)]
pub struct HttpAnswer {
    pub(in crate::proxy) ex: Exchange,
    pub(in crate::proxy) reader: BodyReader,
    pub(in crate::proxy) parser: Option<SseParser>,
    pub(in crate::proxy) carry: Vec<u8>,
    pub(in crate::proxy) done: bool,
}
