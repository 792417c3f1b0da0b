//! Per-shard counters and latency histograms, and owned snapshots that merge across shards.
//!
//! Not here: exposition formats, metric help text, labels, scraping. The application names its
//! metrics once (static string slices) and indexes them by position on the hot path.
//! Hot path: [`Metrics::incr`] and [`Metrics::record`] are a `Cell` update and a bucket
//! increment; no strings, no allocation, no await. [`Metrics::snapshot`] is cold: it copies.
//!
//! Histograms are `histogram` 0.11 with grouping power [`GROUPING_POWER`] (relative error under
//! 1%) and max value power [`MAX_VALUE_POWER`]: values up to 2^32 - 1 (in microseconds, about
//! 71 minutes); larger values are recorded as that maximum. Each histogram is 3,328 buckets
//! (26 KiB).

use std::cell::{Cell, RefCell};

use histogram::Histogram;

/// Histogram grouping power: 2^7 buckets per power of two, under 1% relative error.
pub const GROUPING_POWER: u8 = 7;
/// Histogram max value power: values up to 2^32 - 1.
pub const MAX_VALUE_POWER: u8 = 32;
/// Largest recordable value; larger ones are clamped to it.
pub const MAX_VALUE: u64 = (1 << MAX_VALUE_POWER) - 1;

// The histogram constructor's only failure is invalid parameters; rule that out at compile time.
const _: () = assert!(GROUPING_POWER < MAX_VALUE_POWER && MAX_VALUE_POWER <= 64);

fn empty_histogram() -> Histogram {
    match Histogram::new(GROUPING_POWER, MAX_VALUE_POWER) {
        Ok(histogram) => histogram,
        Err(_) => unreachable!("histogram parameters are checked at compile time"),
    }
}

/// One shard's metrics; used through `&self` (interior mutability), not `Sync`.
#[derive(Debug)]
pub struct Metrics {
    counter_names: &'static [&'static str],
    histogram_names: &'static [&'static str],
    counters: Box<[Cell<u64>]>,
    histograms: Box<[RefCell<Histogram>]>,
    /// Sum of recorded values per histogram (for averages and exposition sums).
    sums: Box<[Cell<u64>]>,
}

impl Metrics {
    /// Metrics with these counters and histograms, all zero. Index `i` of a name list is the
    /// `idx` to pass to [`incr`](Metrics::incr) / [`record`](Metrics::record).
    pub fn new(
        counter_names: &'static [&'static str],
        histogram_names: &'static [&'static str],
    ) -> Metrics {
        Metrics {
            counter_names,
            histogram_names,
            counters: counter_names.iter().map(|_| Cell::new(0)).collect(),
            histograms: histogram_names
                .iter()
                .map(|_| RefCell::new(empty_histogram()))
                .collect(),
            sums: histogram_names.iter().map(|_| Cell::new(0)).collect(),
        }
    }

    /// Adds `n` to counter `idx`. An out-of-range index is ignored (a bug, caught in debug
    /// builds).
    #[inline]
    pub fn incr(&self, idx: usize, n: u64) {
        debug_assert!(
            idx < self.counters.len(),
            "counter index {idx} out of range"
        );
        if let Some(counter) = self.counters.get(idx) {
            counter.set(counter.get().wrapping_add(n));
        }
    }

    /// Records `value_us` (microseconds, or any unit the histogram stands for) in histogram
    /// `idx`, clamped to [`MAX_VALUE`]. An out-of-range index is ignored (caught in debug).
    #[inline]
    pub fn record(&self, idx: usize, value_us: u64) {
        debug_assert!(
            idx < self.histograms.len(),
            "histogram index {idx} out of range"
        );
        let value = value_us.min(MAX_VALUE);
        if let (Some(histogram), Some(sum)) = (self.histograms.get(idx), self.sums.get(idx)) {
            // Cannot fail: the value is clamped into range.
            let _ = histogram.borrow_mut().increment(value);
            sum.set(sum.get().wrapping_add(value));
        }
    }

    /// Current value of counter `idx` (0 for an out-of-range index).
    pub fn counter(&self, idx: usize) -> u64 {
        self.counters.get(idx).map_or(0, Cell::get)
    }

    /// The counter names given at construction.
    pub fn counter_names(&self) -> &'static [&'static str] {
        self.counter_names
    }

    /// The histogram names given at construction.
    pub fn histogram_names(&self) -> &'static [&'static str] {
        self.histogram_names
    }

    /// An owned, `Send` copy of everything, to ship to whoever merges and exposes it.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            counter_names: self.counter_names.to_vec(),
            counters: self.counters.iter().map(Cell::get).collect(),
            histogram_names: self.histogram_names.to_vec(),
            histograms: self.histograms.iter().map(|h| h.borrow().clone()).collect(),
            sums: self.sums.iter().map(Cell::get).collect(),
        }
    }
}

/// A point-in-time copy of one or more shards' [`Metrics`]; merge shards' snapshots by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    counter_names: Vec<&'static str>,
    counters: Vec<u64>,
    histogram_names: Vec<&'static str>,
    histograms: Vec<Histogram>,
    sums: Vec<u64>,
}

impl Snapshot {
    /// Adds `other` into `self`: counters and histograms with the same name are summed, names
    /// only `other` has are appended. Start from `Snapshot::default()` to merge all shards.
    pub fn merge(&mut self, other: &Snapshot) {
        for (&name, &value) in other.counter_names.iter().zip(&other.counters) {
            match self.counter_position(name) {
                Some(at) => {
                    if let Some(mine) = self.counters.get_mut(at) {
                        *mine = mine.wrapping_add(value);
                    }
                }
                None => {
                    self.counter_names.push(name);
                    self.counters.push(value);
                }
            }
        }
        let theirs = other.histogram_names.iter().zip(&other.histograms);
        for ((&name, histogram), &sum) in theirs.zip(&other.sums) {
            match self.histogram_position(name) {
                Some(at) => {
                    if let Some(mine) = self.histograms.get_mut(at) {
                        // Same parameters everywhere (module constants), so this cannot fail.
                        if let Ok(merged) = mine.wrapping_add(histogram) {
                            *mine = merged;
                        }
                    }
                    if let Some(mine) = self.sums.get_mut(at) {
                        *mine = mine.wrapping_add(sum);
                    }
                }
                None => {
                    self.histogram_names.push(name);
                    self.histograms.push(histogram.clone());
                    self.sums.push(sum);
                }
            }
        }
    }

    fn counter_position(&self, name: &str) -> Option<usize> {
        self.counter_names.iter().position(|&n| n == name)
    }

    fn histogram_position(&self, name: &str) -> Option<usize> {
        self.histogram_names.iter().position(|&n| n == name)
    }

    /// The counter called `name`, if there is one.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters.get(self.counter_position(name)?).copied()
    }

    /// All counters, in order.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counter_names
            .iter()
            .copied()
            .zip(self.counters.iter().copied())
    }

    /// The histogram called `name`, if there is one.
    pub fn histogram(&self, name: &str) -> Option<&Histogram> {
        self.histograms.get(self.histogram_position(name)?)
    }

    /// All histograms with their value sums, in order.
    pub fn histograms(&self) -> impl Iterator<Item = (&'static str, &Histogram, u64)> + '_ {
        self.histogram_names
            .iter()
            .copied()
            .zip(&self.histograms)
            .zip(self.sums.iter().copied())
            .map(|((name, histogram), sum)| (name, histogram, sum))
    }

    /// Upper bound of the bucket holding percentile `p` (`0.0..=100.0`, e.g. 99.0) of histogram
    /// `name`; `None` if there is no such histogram, it is empty, or `p` is out of range.
    pub fn percentile(&self, name: &str, p: f64) -> Option<u64> {
        let bucket = self.histogram(name)?.percentile(p).ok()??;
        Some(bucket.end())
    }

    /// How many values histogram `name` holds.
    pub fn count(&self, name: &str) -> Option<u64> {
        Some(self.histogram(name)?.as_slice().iter().sum())
    }

    /// Sum of the values recorded in histogram `name` (clamped values count as clamped).
    pub fn sum(&self, name: &str) -> Option<u64> {
        self.sums.get(self.histogram_position(name)?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTERS: &[&str] = &["requests", "errors"];
    const HISTOGRAMS: &[&str] = &["latency_us"];
    const REQUESTS: usize = 0;
    const ERRORS: usize = 1;
    const LATENCY: usize = 0;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn counts_and_records_through_shared_ref() {
        let metrics = std::rc::Rc::new(Metrics::new(COUNTERS, HISTOGRAMS));
        let alias = metrics.clone();
        metrics.incr(REQUESTS, 2);
        alias.incr(REQUESTS, 3);
        alias.incr(ERRORS, 1);
        for v in 1..=100 {
            metrics.record(LATENCY, v);
        }
        assert_eq!(metrics.counter(REQUESTS), 5);
        assert_eq!(metrics.counter(99), 0);
        let snap = metrics.snapshot();
        assert_send(&snap);
        assert_eq!(snap.counter("requests"), Some(5));
        assert_eq!(snap.counter("errors"), Some(1));
        assert_eq!(snap.counter("nope"), None);
        assert_eq!(snap.count("latency_us"), Some(100));
        assert_eq!(snap.sum("latency_us"), Some(5050));
        assert_eq!(snap.percentile("latency_us", 50.0), Some(50));
        assert_eq!(snap.percentile("latency_us", 100.0), Some(100));
        assert_eq!(snap.percentile("latency_us", 101.0), None);
        assert_eq!(snap.percentile("nope", 50.0), None);
    }

    #[test]
    fn empty_histogram_has_no_percentile() {
        let snap = Metrics::new(COUNTERS, HISTOGRAMS).snapshot();
        assert_eq!(snap.count("latency_us"), Some(0));
        assert_eq!(snap.percentile("latency_us", 50.0), None);
    }

    #[test]
    fn huge_values_clamp() {
        let metrics = Metrics::new(&[], HISTOGRAMS);
        metrics.record(LATENCY, u64::MAX);
        let snap = metrics.snapshot();
        assert_eq!(snap.count("latency_us"), Some(1));
        assert_eq!(snap.percentile("latency_us", 50.0), Some(MAX_VALUE));
    }

    #[test]
    fn merge_sums_counters_and_histograms() {
        let shard_a = Metrics::new(COUNTERS, HISTOGRAMS);
        let shard_b = Metrics::new(COUNTERS, HISTOGRAMS);
        shard_a.incr(REQUESTS, 10);
        shard_b.incr(REQUESTS, 5);
        shard_b.incr(ERRORS, 2);
        // Shard a saw only fast requests, shard b only slow ones.
        for _ in 0..90 {
            shard_a.record(LATENCY, 100);
        }
        for _ in 0..10 {
            shard_b.record(LATENCY, 10_000);
        }
        let mut total = Snapshot::default();
        total.merge(&shard_a.snapshot());
        total.merge(&shard_b.snapshot());
        assert_eq!(total.counter("requests"), Some(15));
        assert_eq!(total.counter("errors"), Some(2));
        assert_eq!(total.count("latency_us"), Some(100));
        assert_eq!(total.sum("latency_us"), Some(90 * 100 + 10 * 10_000));
        assert_eq!(total.percentile("latency_us", 50.0), Some(100));
        assert_eq!(total.percentile("latency_us", 90.0), Some(100));
        let p99 = total.percentile("latency_us", 99.0).unwrap();
        assert!((10_000..=10_100).contains(&p99), "p99 {p99}");
        assert_eq!(
            total.counters().collect::<Vec<_>>(),
            vec![("requests", 15), ("errors", 2)]
        );
        assert_eq!(total.histograms().count(), 1);
    }

    #[test]
    fn merge_appends_unknown_names() {
        let a = Metrics::new(&["a"], &[]);
        let b = Metrics::new(&["b"], &["h"]);
        a.incr(0, 1);
        b.incr(0, 2);
        b.record(0, 7);
        let mut merged = a.snapshot();
        merged.merge(&b.snapshot());
        assert_eq!(merged.counter("a"), Some(1));
        assert_eq!(merged.counter("b"), Some(2));
        assert_eq!(merged.count("h"), Some(1));
    }
}
