//! [`IssuerKeys`]: one shard's copy of an issuer's signing keys. A background task fetches
//! the JWK Set at start and again before its `max-age` runs out (15 minutes without one);
//! a token naming an unknown `kid` asks for one early refresh, at most every
//! [`MIN_REFRESH`] (so a flood of forged `kid`s cannot turn into a flood of fetches; the
//! scheduled fetches do not count against it, so a key rotated in just after one is still
//! picked up), and waits for a refresh already under way instead of starting another. A failed fetch keeps
//! the last good keys and logs; the JWKS URL is the configured one or the issuer's metadata's
//! `jwks_uri` (RFC 8414, then OpenID Connect discovery), found again after a failure.
//!
//! Each shard fetches for itself: no key set is shared across threads, and one shard's
//! outage does not hold the others. Not here: verifying tokens (jwt.rs).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shards::io::ShardIo;
use shards::latch::Latch;

use super::jwks::KeySet;
use crate::upstream::fetch;
use crate::upstream::refresh::keep_fresh;

/// Shortest time between two fetches caused by unknown key ids.
pub(super) const MIN_REFRESH: Duration = Duration::from_secs(10);
/// Deadline of one fetch (connect, TLS, request and body).
const FETCH_DEADLINE: Duration = Duration::from_secs(5);
/// Refresh interval when the server sets no `max-age`.
const DEFAULT_REFRESH: Duration = Duration::from_secs(15 * 60);
/// Bounds of the refresh interval taken from `max-age`.
const REFRESH_BOUNDS: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(3600));
/// Retry delay after a failed fetch (doubling up to the default interval).
const RETRY: Duration = Duration::from_secs(5);

/// An issuer's keys on one shard.
#[derive(Debug)]
pub(super) struct IssuerKeys {
    io: ShardIo,
    issuer: String,
    /// The configured JWKS URL, or the one discovery found (`None`: discover first).
    jwks_url: RefCell<Option<String>>,
    configured: bool,
    keys: RefCell<Rc<KeySet>>,
    /// When the last fetch asked for by an unknown key id began.
    last_on_demand: Cell<Option<Instant>>,
    /// Fired when the fetch under way ends (`None`: none under way).
    under_way: RefCell<Option<Rc<Latch>>>,
    /// Counts the key sets fetched: tokens verified under an older set are checked again.
    generation: Cell<u64>,
}

/// Clears the "fetch under way" mark and wakes its waiters however the fetch ends (also when
/// the future running it is dropped).
struct UnderWay<'k>(&'k IssuerKeys, Rc<Latch>);

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        let mut current = self.0.under_way.borrow_mut();
        if current.as_ref().is_some_and(|l| Rc::ptr_eq(l, &self.1)) {
            *current = None;
        }
        self.1.fire();
    }
}

impl IssuerKeys {
    /// No keys yet; `jwks` is the configured JWK Set URL, if any.
    pub(super) fn new(io: ShardIo, issuer: &str, jwks: Option<&str>) -> Self {
        IssuerKeys {
            io,
            issuer: issuer.to_owned(),
            jwks_url: RefCell::new(jwks.map(str::to_owned)),
            configured: jwks.is_some(),
            keys: RefCell::new(Rc::new(KeySet::default())),
            last_on_demand: Cell::new(None),
            under_way: RefCell::new(None),
            generation: Cell::new(0),
        }
    }

    /// Which key set [`IssuerKeys::current`] is (it changes with every successful fetch).
    pub(super) fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// The keys known now.
    pub(super) fn current(&self) -> Rc<KeySet> {
        self.keys.borrow().clone()
    }

    /// A token named a key we do not have: wait for the fetch under way, if any; else fetch
    /// now, unless the last fetch for an unknown key began less than [`MIN_REFRESH`] ago.
    pub(super) async fn refresh_for_unknown_key(&self) {
        let under_way = self.under_way.borrow().clone();
        if let Some(latch) = under_way {
            latch.wait().await;
            return;
        }
        let recent = self
            .last_on_demand
            .get()
            .is_some_and(|at| at.elapsed() < MIN_REFRESH);
        if !recent {
            self.last_on_demand.set(Some(Instant::now()));
            let _ = self.refresh().await;
        }
    }

    /// Keeps the keys fresh until `stop` fires.
    pub(super) async fn maintain(self: Rc<Self>, stop: &Latch) {
        let retry = (RETRY, DEFAULT_REFRESH);
        keep_fresh(stop, retry, async || (self.refresh().await, None)).await;
    }

    /// One fetch (discovering the JWKS URL first when needed); on success the new keys
    /// replace the old and the interval until the next refresh is returned.
    async fn refresh(&self) -> Result<Duration, ()> {
        let latch = Rc::new(Latch::default());
        *self.under_way.borrow_mut() = Some(latch.clone());
        let guard = UnderWay(self, latch);
        let result = self.fetch().await;
        match result {
            Ok((keys, max_age)) => {
                tracing::debug!(issuer = %self.issuer, keys = keys.len(), "signing keys fetched");
                *self.keys.borrow_mut() = Rc::new(keys);
                self.generation.set(self.generation.get() + 1);
                drop(guard);
                // Clamped before scaling: a huge `max-age` must not overflow.
                Ok(max_age.map_or(DEFAULT_REFRESH, |age| {
                    (age.min(REFRESH_BOUNDS.1 * 2) * 4 / 5)
                        .clamp(REFRESH_BOUNDS.0, REFRESH_BOUNDS.1)
                }))
            }
            Err(reason) => {
                drop(guard);
                if !self.configured {
                    // Perhaps the metadata moved the set: find it again next time.
                    *self.jwks_url.borrow_mut() = None;
                }
                tracing::warn!(
                    issuer = %self.issuer,
                    keys = self.keys.borrow().len(),
                    error = %reason,
                    "cannot fetch the authorization server's signing keys; keeping the last good ones"
                );
                Err(())
            }
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Option<Duration>), String> {
        let known = self.jwks_url.borrow().clone();
        let url = match known {
            Some(url) => url,
            None => {
                let url =
                    super::discovery::jwks_uri(&self.io, &self.issuer, FETCH_DEADLINE).await?;
                *self.jwks_url.borrow_mut() = Some(url.clone());
                url
            }
        };
        let doc = fetch::get(&self.io, &url, FETCH_DEADLINE).await?;
        let keys = KeySet::parse(&doc.body).map_err(|e| format!("{url}: {e}"))?;
        if keys.is_empty() {
            return Err(format!("{url}: no usable signing key in the set"));
        }
        Ok((keys, doc.max_age))
    }
}
