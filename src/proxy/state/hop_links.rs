//! Links: idle local connections from this shard to the others, kept between requests this
//! shard forwards to the shard owning their session (proxy/hop_forward.rs). A link is one end
//! of a socket pair whose other end the owner serves as an ordinary client connection of one
//! listener (with one client certificate principal, for an mTLS client), so a link is only
//! reused for requests of that same listener and principal.
//!
//! Not here: opening a link or forwarding over it (hop_forward.rs).
//! Hot path: a take or put is a scan of a short vector; a link keeps its read buffer and the
//! answer head it parses into, so a forwarded request allocates nothing once warm.

use std::cell::RefCell;

use shards::io::NetStream;
use shards::slab::BufPool;
use shards::ShardId;

use crate::config::ListenerId;
use crate::http::{HttpConn, ResponseHead};

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

/// One link: its connection and the head its answers are parsed into (reused).
#[derive(Debug)]
pub struct HopLink {
    /// This shard's end of the socket pair.
    pub conn: HttpConn<NetStream>,
    /// The last answer's head.
    pub answer: ResponseHead,
}

impl HopLink {
    /// Closes the link, its read buffer back to `bufs`.
    pub fn close(self, bufs: &BufPool) {
        let (_stream, buf) = self.conn.into_parts();
        bufs.give(buf);
    }
}

/// This shard's idle links, most recently returned last.
#[derive(Debug, Default)]
pub struct HopLinks {
    idle: RefCell<Vec<(HopLinkKey, HopLink)>>,
}

impl HopLinks {
    /// The most recently returned idle link for `key` that is still open (the owner closes a
    /// link idle past its keep-alive timeout, like any client connection); closed ones met on
    /// the way are closed here too.
    pub fn take(&self, key: &HopLinkKey, bufs: &BufPool) -> Option<HopLink> {
        let mut idle = self.idle.borrow_mut();
        while let Some(at) = idle.iter().rposition(|(k, _)| k == key) {
            let (_, link) = idle.remove(at);
            if link.conn.buffered().is_empty() && link.conn.stream_ref().idle_and_open() {
                return Some(link);
            }
            link.close(bufs);
        }
        None
    }

    /// Keeps `link` (its answer read to the end) for the next request to `key`; the oldest idle
    /// link is closed when [`MAX_IDLE_LINKS`] are kept already.
    pub fn put(&self, key: HopLinkKey, link: HopLink, bufs: &BufPool) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= MAX_IDLE_LINKS {
            let (_, oldest) = idle.remove(0);
            oldest.close(bufs);
        }
        idle.push((key, link));
    }
}
