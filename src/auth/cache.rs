//! [`TokenCache`]: tokens this shard verified, kept until they expire, so a client sending the
//! same token on every request pays for one signature check, not one per request. Bounded:
//! when full it starts over (a flood of distinct valid tokens costs checks, never memory).
//!
//! Only tokens that passed every check, scopes included, are kept, with the caller they name
//! and their expiry. Not here: the checks (mod.rs, jwt.rs).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use std::rc::Rc;

use crate::pipeline::Caller;

/// Most tokens kept per route and shard.
const MAX_TOKENS: usize = 1024;

/// Verified tokens → their principal and `exp`.
#[derive(Debug, Default)]
pub(super) struct TokenCache {
    /// Token → its caller, `exp` and the key-set generation it was verified under.
    tokens: HashMap<Box<str>, (Rc<Caller>, u64, u64)>,
}

impl TokenCache {
    /// The caller `token` names, when it was verified under key-set `generation` (a refetched
    /// set may have dropped its key) and has not expired.
    pub(super) fn get(&mut self, token: &str, generation: u64) -> Option<Rc<Caller>> {
        let (caller, expires, verified) = self.tokens.get(token)?;
        if now() < *expires && *verified == generation {
            return Some(caller.clone());
        }
        self.tokens.remove(token);
        None
    }

    /// Keeps `token`, verified under key-set `generation`, until `expires` (seconds since the
    /// epoch).
    pub(super) fn insert(
        &mut self,
        token: &str,
        caller: Rc<Caller>,
        (expires, generation): (u64, u64),
    ) {
        if self.tokens.len() >= MAX_TOKENS {
            self.tokens.clear();
        }
        self.tokens
            .insert(token.into(), (caller, expires, generation));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::session::Principal;

    fn caller(name: &str) -> Rc<Caller> {
        Rc::new(Caller {
            principal: Principal::token("https://as.example", name),
            scopes: Vec::new(),
            claims: serde_json::Map::new(),
        })
    }

    #[test]
    fn keeps_until_expiry_and_stays_bounded() {
        let mut cache = TokenCache::default();
        cache.insert("a", caller("alice"), (now() + 60, 1));
        cache.insert("old", caller("bob"), (now().saturating_sub(1), 1));
        assert_eq!(cache.get("a", 1), Some(caller("alice")));
        assert_eq!(cache.get("old", 1), None);
        assert_eq!(cache.get("b", 1), None);
        // Keys fetched again since: verified again.
        assert_eq!(cache.get("a", 2), None);
        for n in 0..MAX_TOKENS + 1 {
            cache.insert(&n.to_string(), caller("x"), (now() + 60, 1));
        }
        assert!(cache.tokens.len() <= MAX_TOKENS);
    }
}
