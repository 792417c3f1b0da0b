//! Client-facing session ids: 128 random bits, minted so the ring names the minting shard.
//!
//! Not here: the table of live sessions (table.rs) or what a session maps to (entry.rs).
//! Hot path: `mint` draws from the OS CSPRNG (getrandom) about `shard_count` times; no allocation.

use shards::ring::Ring;
use shards::ShardId;

/// Hex characters in a session id: 16 random bytes, lowercase hex.
pub const SESSION_ID_LEN: usize = 32;

/// Bound on draws before giving up: the chance of missing a shard `64 × shard_count` times
/// in a row is about e^-64, so hitting it means the ring or the CSPRNG is broken.
const DRAWS_PER_SHARD: usize = 64;

/// A client-facing `Mcp-Session-Id`: 32 lowercase hex characters (all in 0x21–0x7E).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; SESSION_ID_LEN]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids are bearer-like capabilities: log only a prefix.
        write!(f, "SessionId({}…)", &self.as_str()[..8])
    }
}

impl SessionId {
    /// Parses a header value; anything but 32 lowercase hex characters is not ours.
    pub fn parse(value: &[u8]) -> Option<SessionId> {
        let bytes: [u8; SESSION_ID_LEN] = value.try_into().ok()?;
        bytes
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .then_some(SessionId(bytes))
    }

    /// The id as it travels in `Mcp-Session-Id`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id as text (always ASCII hex).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Why an id could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The OS random source failed.
    #[error("OS random source failed: {0}")]
    Random(getrandom::Error),
    /// No draw landed on this shard within the bound.
    #[error("no session id hashed to shard {shard} in {draws} draws")]
    Exhausted {
        /// The minting shard.
        shard: usize,
        /// Draws made.
        draws: usize,
    },
}

/// Draws ids until one is owned by `me`, so a fresh session never hops.
pub fn mint(ring: &Ring, me: ShardId, shard_count: usize) -> Result<SessionId, MintError> {
    let draws = DRAWS_PER_SHARD * shard_count.max(1);
    for _ in 0..draws {
        let mut raw = [0u8; SESSION_ID_LEN / 2];
        getrandom::fill(&mut raw).map_err(MintError::Random)?;
        let id = SessionId(hex(&raw));
        if ring.owner(id.as_bytes()) == me {
            return Ok(id);
        }
    }
    Err(MintError::Exhausted { shard: me.0, draws })
}

fn hex(raw: &[u8; SESSION_ID_LEN / 2]) -> [u8; SESSION_ID_LEN] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; SESSION_ID_LEN];
    for (pair, byte) in out.chunks_exact_mut(2).zip(raw) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_belong_to_the_minting_shard() {
        let ring = Ring::build(4, shards::ring::DEFAULT_VNODES);
        for shard in 0..4 {
            for _ in 0..50 {
                let id = mint(&ring, ShardId(shard), 4).unwrap();
                assert_eq!(ring.owner(id.as_bytes()), ShardId(shard));
                assert_eq!(SessionId::parse(id.as_bytes()), Some(id));
            }
        }
    }

    #[test]
    fn ids_are_distinct_and_well_formed() {
        let ring = Ring::build(1, shards::ring::DEFAULT_VNODES);
        let a = mint(&ring, ShardId(0), 1).unwrap();
        let b = mint(&ring, ShardId(0), 1).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn foreign_ids_are_rejected() {
        assert!(SessionId::parse(b"short").is_none());
        assert!(SessionId::parse(&[b'A'; 32]).is_none());
        assert!(SessionId::parse(&[b'a'; 33]).is_none());
    }
}
