//! The per-shard pool of initialized legacy upstream sessions that serve 2026-07-28 clients:
//! keyed by upstream, principal and the client capabilities the session was initialized with.
//! A request checks a session out exclusively for its whole duration (so ids need no
//! remapping) and checks it back in afterwards; idle sessions expire, and the pool is bounded.
//!
//! Not here: opening or closing sessions upstream (`proxy::modern_client::upstream` does that
//! with what this hands back). Single-shard data: plain `RefCell`-owned, no locks.

use crate::config::UpstreamId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use crate::pipeline::Principal;

/// What a pooled session is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    /// The upstream.
    pub upstream: UpstreamId,
    /// Whose session it is.
    pub principal: Principal,
    /// The SHA-256 of the access token it was opened with (`Principal` equality ignores the
    /// token): with token exchange the session's requests go with the token exchanged for it,
    /// so a request presenting another token of the same principal never reuses it.
    pub token: Option<[u8; 32]>,
    /// The client capabilities it was initialized with (canonical JSON text).
    pub capabilities: Box<str>,
}

/// Idle sessions by key, oldest first within a key.
#[derive(Debug)]
pub struct SessionPool<S> {
    idle: HashMap<PoolKey, Vec<(S, Instant)>>,
    idle_count: usize,
    max_idle: usize,
    idle_ttl: Duration,
}

impl<S> SessionPool<S> {
    /// An empty pool keeping at most `max_idle` sessions, each for at most `idle_ttl`.
    pub fn new(max_idle: usize, idle_ttl: Duration) -> Self {
        Self {
            idle: HashMap::new(),
            idle_count: 0,
            max_idle,
            idle_ttl,
        }
    }

    /// How many sessions sit idle.
    pub fn idle(&self) -> usize {
        self.idle_count
    }

    /// Takes the most recently used idle session for `key` that has not expired; expired
    /// ones met on the way are returned for closing.
    pub fn checkout(&mut self, key: &PoolKey, now: Instant) -> (Option<S>, Vec<S>) {
        let mut expired = Vec::new();
        let Some(list) = self.idle.get_mut(key) else {
            return (None, expired);
        };
        let ttl = self.idle_ttl;
        let before = list.len();
        let mut kept = Vec::with_capacity(before);
        for (session, since) in list.drain(..) {
            if now.saturating_duration_since(since) >= ttl {
                expired.push(session);
            } else {
                kept.push((session, since));
            }
        }
        let taken = kept.pop().map(|(s, _)| s);
        let after = kept.len();
        *list = kept;
        if list.is_empty() {
            self.idle.remove(key);
        }
        self.idle_count -= before - after;
        (taken, expired)
    }

    /// Returns a session after use; gives back what must be closed (the oldest idle session
    /// when the pool is full).
    pub fn checkin(&mut self, key: PoolKey, session: S, now: Instant) -> Option<S> {
        self.idle.entry(key).or_default().push((session, now));
        self.idle_count += 1;
        if self.idle_count <= self.max_idle {
            return None;
        }
        let oldest = self
            .idle
            .iter()
            .filter_map(|(k, list)| list.first().map(|(_, since)| (k.clone(), *since)))
            .min_by_key(|(_, since)| *since)
            .map(|(k, _)| k)?;
        let list = self.idle.get_mut(&oldest)?;
        let (evicted, _) = list.remove(0);
        if list.is_empty() {
            self.idle.remove(&oldest);
        }
        self.idle_count -= 1;
        Some(evicted)
    }

    /// Removes and returns every session idle for longer than the TTL.
    pub fn expire(&mut self, now: Instant) -> Vec<S> {
        let ttl = self.idle_ttl;
        let mut expired = Vec::new();
        self.idle.retain(|_, list| {
            let mut kept = Vec::with_capacity(list.len());
            for (session, since) in list.drain(..) {
                if now.saturating_duration_since(since) >= ttl {
                    expired.push(session);
                } else {
                    kept.push((session, since));
                }
            }
            *list = kept;
            !list.is_empty()
        });
        self.idle_count -= expired.len();
        expired
    }

    /// Removes and returns every idle session of `upstream` (to free what they hold).
    pub fn drain_upstream(&mut self, upstream: UpstreamId) -> Vec<S> {
        let keys: Vec<PoolKey> = self
            .idle
            .keys()
            .filter(|k| k.upstream == upstream)
            .cloned()
            .collect();
        let mut out = Vec::new();
        for key in keys {
            if let Some(list) = self.idle.remove(&key) {
                out.extend(list.into_iter().map(|(s, _)| s));
            }
        }
        self.idle_count -= out.len();
        out
    }

    /// Removes and returns every idle session (shutdown).
    pub fn drain(&mut self) -> Vec<S> {
        self.idle_count = 0;
        self.idle
            .drain()
            .flat_map(|(_, list)| list.into_iter().map(|(s, _)| s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(upstream: UpstreamId, caps: &str) -> PoolKey {
        PoolKey {
            upstream,
            principal: Principal::anonymous(),
            token: None,
            capabilities: caps.into(),
        }
    }

    #[test]
    fn checkout_is_exclusive_and_keyed_by_capabilities_and_principal() {
        let mut pool = SessionPool::new(8, Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(pool.checkin(key(UpstreamId::test(0), "{}"), "a", now), None);
        assert_eq!(
            pool.checkout(&key(UpstreamId::test(0), r#"{"sampling":{}}"#), now)
                .0,
            None
        );
        assert_eq!(pool.checkout(&key(UpstreamId::test(1), "{}"), now).0, None);
        let other = PoolKey {
            principal: Principal::token("https://as.example", "mallory"),
            ..key(UpstreamId::test(0), "{}")
        };
        assert_eq!(pool.checkout(&other, now).0, None);
        let other_token = PoolKey {
            token: Some([7; 32]),
            ..key(UpstreamId::test(0), "{}")
        };
        assert_eq!(pool.checkout(&other_token, now).0, None, "another token");
        assert_eq!(
            pool.checkout(&key(UpstreamId::test(0), "{}"), now).0,
            Some("a")
        );
        assert_eq!(pool.checkout(&key(UpstreamId::test(0), "{}"), now).0, None);
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn bounded_evicts_the_oldest() {
        let mut pool = SessionPool::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(pool.checkin(key(UpstreamId::test(0), "a"), 1, t0), None);
        assert_eq!(
            pool.checkin(
                key(UpstreamId::test(0), "b"),
                2,
                t0 + Duration::from_secs(1)
            ),
            None
        );
        assert_eq!(
            pool.checkin(
                key(UpstreamId::test(0), "b"),
                3,
                t0 + Duration::from_secs(2)
            ),
            Some(1)
        );
        assert_eq!(pool.idle(), 2);
    }

    #[test]
    fn idle_sessions_expire() {
        let mut pool = SessionPool::new(8, Duration::from_secs(10));
        let t0 = Instant::now();
        pool.checkin(key(UpstreamId::test(0), "a"), 1, t0);
        pool.checkin(
            key(UpstreamId::test(0), "a"),
            2,
            t0 + Duration::from_secs(5),
        );
        let (taken, expired) =
            pool.checkout(&key(UpstreamId::test(0), "a"), t0 + Duration::from_secs(11));
        assert_eq!((taken, expired), (Some(2), vec![1]));
        pool.checkin(key(UpstreamId::test(0), "a"), 3, t0);
        assert_eq!(pool.expire(t0 + Duration::from_secs(10)), vec![3]);
        pool.checkin(key(UpstreamId::test(0), "a"), 4, t0);
        pool.checkin(key(UpstreamId::test(1), "a"), 5, t0);
        assert_eq!(pool.drain_upstream(UpstreamId::test(1)), vec![5]);
        assert_eq!(pool.idle(), 1);
        assert_eq!(pool.drain(), vec![4]);
        assert_eq!(pool.idle(), 0);
    }
}
