//! Per-run secrets that belong to the configuration snapshot: [`SealKey`], the key that seals
//! 2026-07-28 `requestState` handles. Drawn once by `app::start` (not by resolution: a config
//! loaded twice stays equal) and read by every shard through its `Arc<Config>`, so a handle
//! sealed on one shard opens on any other.
//!
//! Not here: sealing itself (`proxy::modern_client::seal`).

use std::fmt;

/// A 256-bit XChaCha20-Poly1305 key. Its `Debug` output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// A key from the OS random source; `None` when there is none.
    pub fn random() -> Option<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).ok().map(|()| SealKey(key))
    }

    /// A fixed key (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SealKey(bytes)
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key_and_random_keys_differ() {
        let key = SealKey::from_bytes([7; 32]);
        assert_eq!(format!("{key:?}"), "SealKey(..)");
        assert_ne!(SealKey::random(), SealKey::random());
    }
}
