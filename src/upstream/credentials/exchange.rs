//! [`Exchanged`]: one shard's tokens obtained by RFC 8693 token exchange for one upstream,
//! keyed by the caller's principal, each remembering which caller token it was exchanged for
//! (a new token of the same principal is exchanged again) and valid until it expires. Bounded:
//! at [`MAX_EXCHANGED`] entries the expired ones go, then an arbitrary one.
//!
//! Not here: the exchange request (token.rs), when to exchange (mod.rs). Hot path: a lookup is
//! one hash of the principal and an `Rc` clone.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::config::UpstreamHeaders;

/// Most exchanged tokens a shard keeps per upstream (principals active at once).
pub(super) const MAX_EXCHANGED: usize = 4096;

/// One principal's exchanged token.
#[derive(Debug)]
struct Entry {
    /// Hash of the caller's token it was exchanged for.
    subject: u64,
    /// The upstream's headers with the exchanged token.
    headers: Rc<UpstreamHeaders>,
    /// When the token runs out.
    expires: Instant,
}

/// Principal (its unique spelling) → exchanged token.
#[derive(Debug, Default)]
pub(super) struct Exchanged {
    entries: HashMap<Box<str>, Entry>,
}

/// The key under which a caller token is remembered (never the token itself).
pub(super) fn subject_tag(token: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(token.as_bytes())
}

impl Exchanged {
    /// The headers for `principal`, while its exchanged token is valid at `now`.
    pub(super) fn get(&self, principal: &str, now: Instant) -> Option<Rc<UpstreamHeaders>> {
        let entry = self.entries.get(principal)?;
        (entry.expires > now).then(|| entry.headers.clone())
    }

    /// Whether `principal` has a token exchanged for the caller token tagged `subject`, valid
    /// until at least `until`.
    pub(super) fn holds(&self, principal: &str, subject: u64, until: Instant) -> bool {
        self.entries
            .get(principal)
            .is_some_and(|e| e.subject == subject && e.expires > until)
    }

    /// Remembers `headers` for `principal` (exchanged for the caller token tagged `subject`)
    /// until `expires`, making room first when full (at `now`).
    pub(super) fn insert(
        &mut self,
        principal: &str,
        (subject, headers): (u64, Rc<UpstreamHeaders>),
        expires: Instant,
        now: Instant,
    ) {
        if self.entries.len() >= MAX_EXCHANGED && !self.entries.contains_key(principal) {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= MAX_EXCHANGED {
                let any = self.entries.keys().next().cloned();
                if let Some(any) = any {
                    self.entries.remove(&any);
                }
            }
        }
        let entry = Entry {
            subject,
            headers,
            expires,
        };
        self.entries.insert(principal.into(), entry);
    }

    /// Forgets `principal`'s token (the upstream refused it).
    pub(super) fn forget(&mut self, principal: &str) {
        self.entries.remove(principal);
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
    use std::time::Duration;

    fn headers(token: &str) -> Rc<UpstreamHeaders> {
        Rc::new(UpstreamHeaders::default().with_bearer(token))
    }

    #[test]
    fn entries_live_until_they_expire_and_name_their_subject_token() {
        let now = Instant::now();
        let mut cache = Exchanged::default();
        let later = now + Duration::from_secs(60);
        cache.insert("alice", (subject_tag("A"), headers("x")), later, now);
        assert_eq!(
            cache.get("alice", now).unwrap().lines(),
            b"Authorization: Bearer x\r\n"
        );
        assert!(cache.get("bob", now).is_none());
        assert!(cache.get("alice", later).is_none(), "expired");
        assert!(cache.holds("alice", subject_tag("A"), now));
        assert!(
            !cache.holds("alice", subject_tag("B"), now),
            "another token"
        );
        assert!(!cache.holds("alice", subject_tag("A"), later));
        cache.forget("alice");
        assert!(cache.get("alice", now).is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_drops_expired_entries_first() {
        let now = Instant::now();
        let mut cache = Exchanged::default();
        let soon = now + Duration::from_secs(1);
        let later = now + Duration::from_secs(60);
        for i in 0..MAX_EXCHANGED {
            let expires = if i == 7 { soon } else { later };
            cache.insert(&format!("p{i}"), (1, headers("t")), expires, now);
        }
        cache.insert("new", (1, headers("t")), later, soon);
        assert_eq!(cache.len(), MAX_EXCHANGED);
        assert!(cache.get("p7", now).is_none(), "the expired one made room");
        cache.insert("newer", (1, headers("t")), later, soon);
        assert_eq!(cache.len(), MAX_EXCHANGED);
        assert!(cache.get("newer", soon).is_some());
    }
}
