//! Checks a presented API key against a route's key file: the key's SHA-256 is compared with
//! every stored digest in constant time (no early exit, no lookup whose timing depends on the
//! key), so response times say nothing about how close a guess was.
//!
//! Not here: reading the file (`config::ApiKeys`), SIGHUP reloads (keys.rs holds the current
//! set per shard).

use subtle::ConstantTimeEq;

use crate::config::{ApiKey, ApiKeys};

/// The key whose digest matches `presented`, if any.
pub(super) fn find<'k>(keys: &'k ApiKeys, presented: &str) -> Option<&'k ApiKey> {
    let digest = ring::digest::digest(&ring::digest::SHA256, presented.as_bytes());
    let mut found = None;
    for key in &keys.keys {
        let equal: bool = key.sha256.ct_eq(digest.as_ref()).into();
        if equal {
            found = Some(key);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        let digest = |text: &str| {
            let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
            let mut out = [0u8; 32];
            out.copy_from_slice(d.as_ref());
            out
        };
        ApiKeys {
            file: "keys.toml".into(),
            keys: vec![
                ApiKey {
                    name: "alice".into(),
                    sha256: digest("alice-key"),
                    scopes: vec![],
                },
                ApiKey {
                    name: "bob".into(),
                    sha256: digest("bob-key"),
                    scopes: vec!["s".into()],
                },
            ],
        }
    }

    #[test]
    fn finds_the_key_by_digest() {
        let keys = keys();
        assert_eq!(find(&keys, "bob-key").map(|k| k.name.as_str()), Some("bob"));
        assert_eq!(
            find(&keys, "alice-key").map(|k| k.name.as_str()),
            Some("alice")
        );
        assert!(find(&keys, "alice-kez").is_none());
        assert!(find(&keys, "").is_none());
    }
}
