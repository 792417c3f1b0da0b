//! Per-shard keyed table whose entries expire after a fixed idle time (TTL), on an injected clock.
//!
//! Not here: timers or a reaper task (the caller calls [`Table::reap`] from its own timer),
//! sharing across shards, knowing what the entries are. Not `Sync`; one table per shard.
//! Hot path: [`Table::get`]/[`Table::get_mut`]/[`Table::peek`] hash the key once and never
//! allocate; [`Table::insert`] allocates only when the slab or the index grows; nothing awaits.
//!
//! Time is always passed in as `now`, so expiry is exact and tests need no sleeps. An entry is
//! expired when it has been idle (not inserted, `get` or `get_mut`) for longer than the TTL:
//! alive at exactly `last_used + ttl`, expired one tick later. Lookups already treat expired
//! entries as absent; [`Table::reap`] frees them and hands them back for cleanup.
//!
//! # Memory per entry
//! Entries live in a [`slab::Slab`] (slots are reused after removal) and a `HashMap<K, usize>`
//! indexes them, so the key is stored twice. Per entry that is about
//! [`Table::ENTRY_BYTES`] `= size_of::<(K, V, Instant)>() + 8` for the slab slot (the 8 is an
//! upper bound on slab's vacant/occupied tag) plus `size_of::<(K, usize)>() + 1` for the index
//! bucket, divided by the index's 7/8 maximum load. For a 16-byte key and a 200-byte value:
//! 240 + 8 + (24 + 1) / 0.875, under 280 bytes. Check a budget at compile time with
//! `const _: () = assert!(Table::<K, V>::ENTRY_BYTES <= 2048);`.

use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hash;
use std::mem::size_of;
use std::time::{Duration, Instant};

use slab::Slab;

/// One slab slot.
#[derive(Debug)]
struct Entry<K, V> {
    key: K,
    value: V,
    /// A `Cell` so that `get(&self)` can touch it.
    last_used: Cell<Instant>,
}

impl<K, V> Entry<K, V> {
    fn is_expired(&self, now: Instant, ttl: Duration) -> bool {
        now.saturating_duration_since(self.last_used.get()) > ttl
    }
}

/// A per-shard TTL table; see the module docs.
#[derive(Debug)]
pub struct Table<K, V> {
    ttl: Duration,
    entries: Slab<Entry<K, V>>,
    index: HashMap<K, usize>,
    /// Next slot [`Table::reap_some`] looks at.
    reap_cursor: usize,
    /// Slots found expired by [`Table::reap`]; kept to avoid allocating on every reap.
    scratch: Vec<usize>,
}

impl<K: Hash + Eq + Clone, V> Table<K, V> {
    /// Upper bound on the bytes one entry costs, before the index's load-factor slack; see the
    /// module docs.
    pub const ENTRY_BYTES: usize = size_of::<Entry<K, V>>() + 8 + size_of::<(K, usize)>() + 1;

    /// An empty table whose entries expire after `ttl` of idleness.
    pub fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, 0)
    }

    /// An empty table with room for `capacity` entries before it reallocates.
    pub fn with_capacity(ttl: Duration, capacity: usize) -> Self {
        Table {
            ttl,
            entries: Slab::with_capacity(capacity),
            index: HashMap::with_capacity(capacity),
            reap_cursor: 0,
            scratch: Vec::new(),
        }
    }

    /// The idle time after which entries expire.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Inserts or replaces the value for `key`, marking it used at `now`. Returns the value it
    /// replaced, even if that one had expired (so the caller can clean it up).
    pub fn insert(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        if let Some(entry) = self
            .index
            .get(&key)
            .and_then(|&slot| self.entries.get_mut(slot))
        {
            entry.last_used.set(now);
            return Some(std::mem::replace(&mut entry.value, value));
        }
        let slot = self.entries.insert(Entry {
            key: key.clone(),
            value,
            last_used: Cell::new(now),
        });
        self.index.insert(key, slot);
        None
    }

    fn entry<Q>(&self, key: &Q) -> Option<&Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.get(key).and_then(|&slot| self.entries.get(slot))
    }

    /// The live value for `key`, marking it used at `now`. `None` if absent or expired.
    pub fn get<Q>(&self, key: &Q, now: Instant) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entry(key)?;
        if entry.is_expired(now, self.ttl) {
            return None;
        }
        entry.last_used.set(now);
        Some(&entry.value)
    }

    /// Like [`Table::get`], mutable.
    pub fn get_mut<Q>(&mut self, key: &Q, now: Instant) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = *self.index.get(key)?;
        let entry = self.entries.get_mut(slot)?;
        if entry.is_expired(now, self.ttl) {
            return None;
        }
        entry.last_used.set(now);
        Some(&mut entry.value)
    }

    /// The value for `key` without marking it used, whether or not it has expired (for
    /// inspection, e.g. listing sessions).
    pub fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entry(key).map(|entry| &entry.value)
    }

    /// How long `key` has been idle at `now`, whether or not it has expired.
    pub fn idle<Q>(&self, key: &Q, now: Instant) -> Option<Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entry(key)
            .map(|entry| now.saturating_duration_since(entry.last_used.get()))
    }

    /// Removes `key` and returns its value, expired or not.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.index.remove(key)?;
        self.entries.try_remove(slot).map(|entry| entry.value)
    }

    /// Entries held, including expired ones not yet reaped.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the table holds no entries.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// How many entries have expired at `now` (a full scan).
    pub fn expired(&self, now: Instant) -> usize {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.is_expired(now, self.ttl))
            .count()
    }

    /// Every entry with its idle time at `now`, in slot order; nothing is touched.
    pub fn iter(&self, now: Instant) -> impl Iterator<Item = (&K, &V, Duration)> + '_ {
        self.entries.iter().map(move |(_, entry)| {
            let idle = now.saturating_duration_since(entry.last_used.get());
            (&entry.key, &entry.value, idle)
        })
    }

    /// Removes every entry expired at `now`, appending them to `out`; returns how many.
    ///
    /// A full scan; allocates only if `out` or the internal scratch list must grow.
    pub fn reap(&mut self, now: Instant, out: &mut Vec<(K, V)>) -> usize {
        let ttl = self.ttl;
        self.scratch.clear();
        self.scratch.extend(
            self.entries
                .iter()
                .filter(|(_, entry)| entry.is_expired(now, ttl))
                .map(|(slot, _)| slot),
        );
        let mut scratch = std::mem::take(&mut self.scratch);
        for &slot in &scratch {
            self.remove_slot(slot, out);
        }
        let removed = scratch.len();
        scratch.clear();
        self.scratch = scratch;
        removed
    }

    /// Bounded-work reaping: looks at up to `max_slots` slots, continuing where the last call
    /// stopped and wrapping around, and removes the expired ones into `out`; returns how many.
    /// Calling it from a periodic timer spreads a large table's reaping over many turns.
    pub fn reap_some(&mut self, now: Instant, max_slots: usize, out: &mut Vec<(K, V)>) -> usize {
        let slots = self.entries.capacity();
        if slots == 0 {
            return 0;
        }
        let mut removed = 0;
        for _ in 0..max_slots.min(slots) {
            let slot = self.reap_cursor % slots;
            self.reap_cursor = (slot + 1) % slots;
            let expired = self
                .entries
                .get(slot)
                .is_some_and(|entry| entry.is_expired(now, self.ttl));
            if expired && self.remove_slot(slot, out) {
                removed += 1;
            }
        }
        removed
    }

    fn remove_slot(&mut self, slot: usize, out: &mut Vec<(K, V)>) -> bool {
        match self.entries.try_remove(slot) {
            Some(entry) => {
                self.index.remove(&entry.key);
                out.push((entry.key, entry.value));
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
