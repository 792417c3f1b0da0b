//! What one client session maps to, and the per-shard table holding them. Both are generic
//! over `L`, the upstream's handle on a session bound to one child (the proxy uses
//! `Rc<LinkSession>`), so this layer does not import `upstream`.
//!
//! Not here: minting ids (id.rs), expiry policy (the proxy's reaper task).
//! Budget: an idle session must cost ≤ 2 KB including table overhead; the entry itself is
//! kept to a few words (checked at compile time below).

use std::time::Duration;

use crate::config::{RouteId, UpstreamId};
use crate::mcp::ProtocolVersion;

use super::{Principal, SessionId};

/// One client session's state on its owning shard; `L` is the upstream's handle on the
/// child serving it (see the module docs).
#[derive(Debug, Clone)]
pub struct SessionEntry<L> {
    /// The upstream serving the session (2 bytes: the entry stays within its bound).
    pub upstream: UpstreamId,
    /// The route the session was opened on (4 bytes): only that route's requests may use it,
    /// so a session cannot slip past another route's stages (e.g. its tool filter).
    pub route: RouteId,
    /// The upstream's own `Mcp-Session-Id`, when it issued one.
    pub upstream_session: Option<Box<str>>,
    /// Version the client asked for in `initialize` (later requests carry it in a header).
    pub version: Option<ProtocolVersion>,
    /// The stdio child serving the session (stdio upstreams); dropping the last clone ends the
    /// session on the child.
    pub link: Option<L>,
    /// Who opened it: only requests of the same principal may use it (anyone else's get 404,
    /// as for an unknown id: session ids are not bearer credentials).
    pub owner: Principal,
}

impl<L> SessionEntry<L> {
    /// Whether a request on `route` from `principal` may use this session: a session opened on
    /// another route or by someone else is not found there.
    pub fn serves(&self, route: RouteId, principal: &Principal) -> bool {
        self.route == route && self.owner == *principal
    }
}

// The proxy's `L` is one `Rc`: a pointer, like the one checked here; `owner` is one more
// (fat) `Rc` and the thin `Rc` of the access token the session was opened with (the proxy's
// own requests on the session go with the token exchanged for it).
const _: () = assert!(std::mem::size_of::<SessionEntry<std::rc::Rc<()>>>() <= 56);

/// The per-shard session table: client id → entry, idle entries expire after the TTL.
pub type SessionTable<L> = shards::table::Table<SessionId, SessionEntry<L>>;

/// Builds an empty table with the configured idle TTL.
pub fn new_table<L>(ttl: Duration) -> SessionTable<L> {
    shards::table::Table::new(ttl)
}
