//! HopLinks: idle local connections from this shard to the others, kept between requests this
//! shard forwards to the shard owning their session (proxy/hop_forward.rs). A link is one end
//! of a socket pair whose other end the owner serves as an ordinary client connection of one
//! listener (with one client certificate principal, for a relayed mTLS client), so a link is
//! only reused for requests of that same listener and principal.
//!
//! Not here: opening a link or forwarding over it (hop_forward.rs).
//! Hot path: a take or put is a scan of a short vector, no allocation once it has grown.

use std::cell::RefCell;

use shards::io::NetStream;
use shards::ShardId;

use crate::config::ListenerId;
use crate::http::HttpConn;

/// Most idle links a shard keeps (all owners together); beyond it a returned link is closed.
/// Each idle link holds two descriptors (one on each shard) and a read buffer.
const MAX_IDLE_LINKS: usize = 64;

/// Who a link serves: its owner shard, the listener its requests came to, the principal of
/// the client certificate they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopLinkKey {
    /// The shard serving the link's other end.
    pub owner: ShardId,
    /// The listener whose routes the owner applies.
    pub listener: ListenerId,
    /// The client certificate principal the owner applies (`None` for most connections).
    pub peer: Option<Box<str>>,
}

/// This shard's idle links, most recently returned last.
#[derive(Debug, Default)]
pub struct HopLinks {
    idle: RefCell<Vec<(HopLinkKey, HttpConn<NetStream>)>>,
}

impl HopLinks {
    /// The most recently returned idle link for `key` that is still open (the owner closes a
    /// link idle past its keep-alive timeout, like any client connection); closed ones met on
    /// the way are dropped.
    pub fn take(&self, key: &HopLinkKey) -> Option<HttpConn<NetStream>> {
        let mut idle = self.idle.borrow_mut();
        while let Some(at) = idle.iter().rposition(|(k, _)| k == key) {
            let (_, link) = idle.remove(at);
            if link.buffered().is_empty() && link.stream_ref().idle_and_open() {
                return Some(link);
            }
        }
        None
    }

    /// Keeps `link` (its answer read to the end) for the next request to `key`; the oldest idle
    /// link is closed when [`MAX_IDLE_LINKS`] are kept already.
    pub fn put(&self, key: HopLinkKey, link: HttpConn<NetStream>) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= MAX_IDLE_LINKS {
            idle.remove(0);
        }
        idle.push((key, link));
    }
}
