//! Per-shard state of era translation for legacy clients (`proxy::l2m`): the translated
//! sessions owned here (their state is `session::l2m`), shareable `server/discover` results,
//! and the tools' `x-mcp-header` annotations per upstream ([`ToolCache`], with the fetch under
//! way, [`Flight`]). Only the data: its behaviour is in `proxy::l2m` (tools.rs and listing.rs
//! keep the caches, params.rs reads [`ToolParams`]), so this module imports no feature.
//!
//! Not here: the session table itself (crate::session; a translated session has a normal
//! entry there, which owns its lifetime: this side table is cleaned whenever the entry goes).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use shards::latch::Latch;

use crate::config::UpstreamId;
use crate::session::l2m::{Discovered, L2mSession};
use crate::session::SessionId;

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
