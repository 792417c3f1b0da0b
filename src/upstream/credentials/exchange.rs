//! [`Exchanged`]: one shard's tokens obtained by RFC 8693 token exchange for one upstream,
//! keyed by the SHA-256 of the caller token each was exchanged for (two clients of one user
//! with different tokens never get each other's), each valid until it expires. Bounded: at
//! [`MAX_EXCHANGED`] entries the expired ones go, then an arbitrary one.
//!
//! Not here: the exchange request (token.rs), when to exchange (mod.rs). Hot path: a lookup is
//! one hash of the digest and an `Rc` clone.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::UpstreamHeaders;

/// Most exchanged tokens a shard keeps per upstream (caller tokens active at once).
pub(super) const MAX_EXCHANGED: usize = 4096;

/// The key of an exchanged token: the SHA-256 of the caller token (never the token itself).
pub(super) type Subject = [u8; 32];

/// One exchanged token.
#[derive(Debug)]
struct Entry {
    /// The upstream's headers with the exchanged token.
    headers: Rc<UpstreamHeaders>,
    /// When it was obtained.
    obtained: Instant,
    /// When the token runs out.
    expires: Instant,
}

/// Caller token digest → exchanged token.
#[derive(Debug, Default)]
pub(super) struct Exchanged {
    entries: HashMap<Subject, Entry>,
}

impl Exchanged {
    /// The headers exchanged for `subject`, while the token is valid at `now`.
    pub(super) fn get(&self, subject: &Subject, now: Instant) -> Option<Rc<UpstreamHeaders>> {
        let entry = self.entries.get(subject)?;
        (entry.expires > now).then(|| entry.headers.clone())
    }

    /// Whether `subject` has a token valid until at least `until`.
    pub(super) fn holds(&self, subject: &Subject, until: Instant) -> bool {
        self.entries.get(subject).is_some_and(|e| e.expires > until)
    }

    /// Remembers `headers` for `subject`, obtained at `now` and valid until `expires`, making
    /// room first when full.
    pub(super) fn insert(
        &mut self,
        subject: Subject,
        headers: Rc<UpstreamHeaders>,
        expires: Instant,
        now: Instant,
    ) {
        if self.entries.len() >= MAX_EXCHANGED && !self.entries.contains_key(&subject) {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= MAX_EXCHANGED {
                let any = self.entries.keys().next().copied();
                if let Some(any) = any {
                    self.entries.remove(&any);
                }
            }
        }
        let entry = Entry {
            headers,
            obtained: now,
            expires,
        };
        self.entries.insert(subject, entry);
    }

    /// Forgets `subject`'s token (the upstream refused it), unless it was obtained less than
    /// `min_age` ago: an upstream refusing every token costs one exchange per `min_age` and
    /// caller token, not one per request. Whether it was forgotten.
    pub(super) fn forget(&mut self, subject: &Subject, min_age: Duration) -> bool {
        let old = self
            .entries
            .get(subject)
            .is_some_and(|e| e.obtained.elapsed() >= min_age);
        if old {
            self.entries.remove(subject);
        }
        old
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> Rc<UpstreamHeaders> {
        Rc::new(UpstreamHeaders::default().with_bearer(token))
    }

    #[test]
    fn entries_live_until_they_expire_under_their_caller_token() {
        let now = Instant::now();
        let mut cache = Exchanged::default();
        let later = now + Duration::from_secs(60);
        cache.insert([1; 32], headers("x"), later, now);
        assert_eq!(
            cache.get(&[1; 32], now).unwrap().lines(),
            b"Authorization: Bearer x\r\n"
        );
        assert!(cache.get(&[2; 32], now).is_none(), "another caller token");
        assert!(cache.get(&[1; 32], later).is_none(), "expired");
        assert!(cache.holds(&[1; 32], now));
        assert!(!cache.holds(&[1; 32], later));
        assert!(
            !cache.forget(&[1; 32], Duration::from_secs(10)),
            "too young"
        );
        assert!(cache.get(&[1; 32], now).is_some());
        assert!(cache.forget(&[1; 32], Duration::ZERO));
        assert!(cache.get(&[1; 32], now).is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_drops_expired_entries_first() {
        let now = Instant::now();
        let mut cache = Exchanged::default();
        let soon = now + Duration::from_secs(1);
        let later = now + Duration::from_secs(60);
        let key = |i: usize| {
            let mut k = [0; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            k
        };
        for i in 0..MAX_EXCHANGED {
            let expires = if i == 7 { soon } else { later };
            cache.insert(key(i), headers("t"), expires, now);
        }
        cache.insert([0xff; 32], headers("t"), later, soon);
        assert_eq!(cache.len(), MAX_EXCHANGED);
        assert!(
            cache.get(&key(7), now).is_none(),
            "the expired one made room"
        );
        cache.insert([0xfe; 32], headers("t"), later, soon);
        assert_eq!(cache.len(), MAX_EXCHANGED);
        assert!(cache.get(&[0xfe; 32], soon).is_some());
    }
}
