//! A shard's rate-limit state ([`RateState`]): the token buckets of the principals it owns and
//! its questions to other shards; and one [`Bucket`]'s arithmetic: `burst` tokens at most,
//! refilled at the rate's pace, pure arithmetic on an `Instant` the caller passes (testable
//! without sleeping).
//!
//! Not here: which buckets a request draws from and who decides (`proxy::rates`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use glommio::channels::local_channel::LocalSender;

use crate::config::{Rate, RouteId};

/// One draw: the bucket (0: the principal's; 1 + i: `per_tool[i]`) and how many tokens.
pub type Draw = (u16, u32);

/// One principal's buckets: per route and bucket index (0: the principal's; 1 + i: tool i).
pub type PrincipalBuckets = Vec<(RouteId, u16, Bucket)>;

/// A shard's buckets (of the principals it owns) and its questions to other shards.
#[derive(Debug, Default)]
pub struct RateState {
    /// Principal (unique spelling) → its buckets per route and bucket index.
    pub buckets: RefCell<HashMap<Box<str>, PrincipalBuckets>>,
    /// Questions to other shards awaiting an answer (milliseconds to wait, 0: admitted).
    pub pending: RefCell<HashMap<u64, LocalSender<u32>>>,
    /// The last question's number.
    pub seq: Cell<u64>,
    /// When full buckets were last forgotten.
    pub swept: Cell<Option<Instant>>,
}

/// A bucket's state.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// A full bucket of `rate`.
    pub fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate.burst),
            updated: now,
        }
    }

    /// Refills for the time since the last look.
    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second()).min(f64::from(rate.burst));
        self.updated = now;
    }

    /// How long until `cost` tokens are there (zero: now).
    pub fn wait(&mut self, rate: Rate, cost: u32, now: Instant) -> Duration {
        self.refill(rate, now);
        let missing = f64::from(cost) - self.tokens;
        if missing <= 0.0 {
            return Duration::ZERO;
        }
        if cost > rate.burst {
            // Never fits: as long as a whole bucket takes to fill.
            return Duration::from_secs_f64(f64::from(rate.burst) / rate.per_second());
        }
        Duration::from_secs_f64(missing / rate.per_second())
    }

    /// Takes `cost` tokens (after [`Bucket::wait`] said zero).
    pub fn take(&mut self, cost: u32) {
        self.tokens -= f64::from(cost);
    }

    /// Whether it would be full at `now` (it can be forgotten: a new one would be the same).
    /// Looks only: the bucket is not refilled.
    pub fn full_at(&self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * rate.per_second() >= f64::from(rate.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_burst_then_the_rate() {
        let rate = Rate::parse("10/s").unwrap().with_burst(3);
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        for _ in 0..3 {
            assert_eq!(b.wait(rate, 1, t0), Duration::ZERO);
            b.take(1);
        }
        let wait = b.wait(rate, 1, t0);
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        let later = t0 + Duration::from_millis(250);
        assert_eq!(b.wait(rate, 2, later), Duration::ZERO);
        b.take(2);
        assert!(!b.full_at(rate, later));
        assert!(b.full_at(rate, later + Duration::from_secs(1)));
        // A cost beyond the burst never fits.
        assert!(b.wait(rate, 4, later) > Duration::ZERO);
    }
}
