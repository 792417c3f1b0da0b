//! Consistent-hash ring with virtual nodes: which shard owns a key (e.g. a session id).
//!
//! Not here: what keys mean, or moving work between shards ([`crate::mesh`]).
//! Hot path: [`Ring::owner`] hashes the key once (xxh3-64) and binary-searches a sorted
//! `Vec`, narrowed to one bucket by an index on the hash's top bits; it allocates nothing, awaits nothing and cannot fail. [`Ring::build`] is cold.
//!
//! Each shard `s` places `vnodes_per_shard` points on a 64-bit circle at
//! `xxh3_64(s as u64 LE ++ v as u64 LE)` for `v in 0..vnodes_per_shard`; a key belongs to the
//! shard of the first point at or after `xxh3_64(key)`, wrapping around. The ring is a pure
//! function of `(shard_count, vnodes_per_shard)`, so every thread and every process (and every
//! node of a future cluster) agrees on owners without talking. Growing from N to N+1 shards
//! moves about 1/(N+1) of the keys, all of them to the new shard.

use xxhash_rust::xxh3::xxh3_64;

use crate::ShardId;

/// Default virtual nodes per shard.
///
/// A shard's share of the circle is the sum of its arcs, with a relative spread of about
/// `1/sqrt(vnodes)`: ketama's 160 leaves shards up to ±15% apart, 1024 up to ±9%, 2048 keeps
/// every shard within about ±7% of even for 2..=16 shards (measured with a million keys). The
/// price is memory, about 20 bytes per point (`shard_count * 2048 * 20` bytes: 640 KiB for 16
/// shards), so build one ring and share it (it is immutable; [`crate::ShardCtx`] carries one).
/// Lookup cost barely depends on it, thanks to the bucket index.
pub const DEFAULT_VNODES: usize = 2048;

/// Most bits of the hash the bucket index uses: caps the index at 16 MiB for huge rings.
const MAX_INDEX_BITS: u32 = 22;

/// One virtual node on the circle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Point {
    hash: u64,
    shard: u32,
}

/// A consistent-hash ring; build once per shard count, query per request.
#[derive(Clone, Debug)]
pub struct Ring {
    /// Vnode points on the circle, ascending by hash (then shard).
    points: Vec<Point>,
    /// `bucket_starts[b]` is the index of the first point whose hash has top bits `>= b`, for
    /// `b in 0..=2^bits`: a lookup binary-searches only its bucket's one or two points instead
    /// of the whole (cache-missing) array.
    bucket_starts: Vec<u32>,
    /// `64 - bits`: shifting a hash right by this gives its bucket.
    bucket_shift: u32,
    shard_count: usize,
    vnodes_per_shard: usize,
}

impl Ring {
    /// Builds the ring for `shard_count` shards with `vnodes_per_shard` points each.
    ///
    /// Both are raised to at least 1 (a ring always has an owner), `shard_count` is capped at
    /// `u32::MAX` and the total point count at `u32::MAX`. Allocates about 20 bytes per point.
    pub fn build(shard_count: usize, vnodes_per_shard: usize) -> Ring {
        let shard_count = shard_count.clamp(1, u32::MAX as usize);
        let vnodes_per_shard = vnodes_per_shard.clamp(1, u32::MAX as usize / shard_count);
        let mut points = Vec::with_capacity(shard_count * vnodes_per_shard);
        for shard in 0..shard_count {
            for vnode in 0..vnodes_per_shard {
                points.push(Point {
                    hash: vnode_point(shard, vnode),
                    shard: u32::try_from(shard).unwrap_or(u32::MAX),
                });
            }
        }
        // Sorting by (hash, shard) makes a (vanishingly unlikely) point collision resolve the
        // same way everywhere: the lower shard comes first and wins.
        points.sort_unstable();
        // About one point per bucket.
        let bits = points
            .len()
            .next_power_of_two()
            .trailing_zeros()
            .clamp(1, MAX_INDEX_BITS);
        let bucket_shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut bucket_starts = Vec::with_capacity(buckets + 1);
        let mut next = 0usize;
        for bucket in 0..=buckets {
            while points
                .get(next)
                .is_some_and(|p| ((p.hash >> bucket_shift) as usize) < bucket)
            {
                next += 1;
            }
            bucket_starts.push(u32::try_from(next).unwrap_or(u32::MAX));
        }
        Ring {
            points,
            bucket_starts,
            bucket_shift,
            shard_count,
            vnodes_per_shard,
        }
    }

    /// The shard that owns `key`. Pure, allocation free.
    #[inline]
    pub fn owner(&self, key: &[u8]) -> ShardId {
        self.owner_of_hash(key_hash(key))
    }

    /// The shard that owns a key whose [`key_hash`] is `hash` (to hash once, route many times).
    #[inline]
    pub fn owner_of_hash(&self, hash: u64) -> ShardId {
        let bucket = (hash >> self.bucket_shift) as usize;
        let start = self.bucket_starts.get(bucket).map_or(0, |&i| i as usize);
        let end = self
            .bucket_starts
            .get(bucket + 1)
            .map_or(self.points.len(), |&i| i as usize);
        let in_bucket = self.points.get(start..end).unwrap_or(&[]);
        let index = start + in_bucket.partition_point(|p| p.hash < hash);
        // Past the last point the circle wraps to the first one.
        let owner = self
            .points
            .get(index)
            .or_else(|| self.points.first())
            .map_or(0, |p| p.shard);
        ShardId(owner as usize)
    }

    /// How many shards the ring spreads keys over.
    pub fn shard_count(&self) -> usize {
        self.shard_count
    }

    /// Virtual nodes per shard.
    pub fn vnodes_per_shard(&self) -> usize {
        self.vnodes_per_shard
    }
}

/// The 64-bit hash the ring routes `key` by (xxh3-64, seed 0). Stable across versions of this
/// crate: changing it would move every session.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

fn vnode_point(shard: usize, vnode: usize) -> u64 {
    let mut bytes = [0u8; 16];
    let (shard_bytes, vnode_bytes) = bytes.split_at_mut(8);
    shard_bytes.copy_from_slice(&(shard as u64).to_le_bytes());
    vnode_bytes.copy_from_slice(&(vnode as u64).to_le_bytes());
    xxh3_64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random keys (splitmix64), so the tests need no RNG crate.
    fn keys(count: usize, seed: u64) -> impl Iterator<Item = [u8; 16]> {
        let mut state = seed;
        (0..count).map(move |_| {
            let mut next = || {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            };
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&next().to_le_bytes());
            key[8..].copy_from_slice(&next().to_le_bytes());
            key
        })
    }

    #[test]
    fn one_shard_owns_everything() {
        let ring = Ring::build(1, DEFAULT_VNODES);
        assert!(keys(1000, 1).all(|k| ring.owner(&k) == ShardId(0)));
        assert_eq!(Ring::build(0, 0).owner(b"x"), ShardId(0));
        assert_eq!(Ring::build(0, 0).shard_count(), 1);
    }

    #[test]
    fn balanced_within_ten_percent_for_2_to_16_shards() {
        const KEYS: usize = 100_000;
        for shard_count in 2..=16 {
            let ring = Ring::build(shard_count, DEFAULT_VNODES);
            let mut counts = vec![0usize; shard_count];
            for key in keys(KEYS, 42) {
                counts[ring.owner(&key).0] += 1;
            }
            let even = KEYS as f64 / shard_count as f64;
            for (shard, &count) in counts.iter().enumerate() {
                let deviation = (count as f64 - even).abs() / even;
                assert!(
                    deviation <= 0.10,
                    "{shard_count} shards: shard {shard} has {count} keys, even is {even:.0}"
                );
            }
        }
    }

    #[test]
    fn growing_four_to_five_moves_a_fifth_only_to_the_new_shard() {
        let four = Ring::build(4, DEFAULT_VNODES);
        let five = Ring::build(5, DEFAULT_VNODES);
        let total = 100_000;
        let mut moved = 0;
        for key in keys(total, 7) {
            let (before, after) = (four.owner(&key), five.owner(&key));
            if before != after {
                assert_eq!(after, ShardId(4), "a moved key must go to the new shard");
                moved += 1;
            }
        }
        let fraction = moved as f64 / total as f64;
        assert!((0.12..=0.30).contains(&fraction), "moved {fraction}");
    }

    #[test]
    fn same_inputs_same_ring_on_every_thread() {
        let here = Ring::build(7, 64);
        let there = std::thread::spawn(|| Ring::build(7, 64)).join().unwrap();
        assert_eq!(here.points, there.points);
        assert_eq!(here.bucket_starts, there.bucket_starts);
    }

    #[test]
    fn points_sorted_and_counted() {
        let ring = Ring::build(3, 10);
        assert_eq!(ring.points.len(), 30);
        assert!(ring.points.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(ring.vnodes_per_shard(), 10);
        for shard in 0..3u32 {
            assert_eq!(ring.points.iter().filter(|p| p.shard == shard).count(), 10);
        }
    }

    /// The owner by a plain binary search over every point, without the bucket index.
    fn naive_owner(ring: &Ring, hash: u64) -> ShardId {
        let index = ring.points.partition_point(|p| p.hash < hash);
        let point = ring.points.get(index).unwrap_or(&ring.points[0]);
        ShardId(point.shard as usize)
    }

    #[test]
    fn bucket_index_agrees_with_full_search() {
        for (shard_count, vnodes) in [(1, 1), (2, 3), (3, 10), (5, 100), (16, DEFAULT_VNODES)] {
            let ring = Ring::build(shard_count, vnodes);
            let mut hashes: Vec<u64> = vec![0, 1, u64::MAX, u64::MAX - 1, 1 << 63];
            for p in &ring.points {
                hashes.extend([p.hash.wrapping_sub(1), p.hash, p.hash.wrapping_add(1)]);
            }
            hashes.extend(keys(10_000, 3).map(|k| key_hash(&k)));
            for hash in hashes {
                assert_eq!(
                    ring.owner_of_hash(hash),
                    naive_owner(&ring, hash),
                    "{hash:#x}"
                );
            }
        }
    }

    #[test]
    fn wraps_past_the_last_point() {
        let ring = Ring::build(3, 10);
        let first_owner = ShardId(ring.points[0].shard as usize);
        assert_eq!(ring.owner_of_hash(u64::MAX), first_owner);
        assert_eq!(ring.owner_of_hash(0), first_owner);
        let last = ring.points.last().unwrap();
        assert_eq!(ring.owner_of_hash(last.hash), ShardId(last.shard as usize));
    }

    /// Frozen outputs: if this fails, the hash or the point layout changed and every deployed
    /// session id would route elsewhere. Change only on purpose.
    #[test]
    fn golden_owners() {
        assert_eq!(key_hash(b""), GOLDEN_EMPTY_HASH);
        assert_eq!(key_hash(b"session-1"), GOLDEN_SESSION_1_HASH);
        let expected: [(&[u8], [usize; 4]); 6] = GOLDEN_OWNERS;
        for (key, owners) in expected {
            let got: Vec<usize> = [2, 3, 4, 16]
                .iter()
                .map(|&n| Ring::build(n, DEFAULT_VNODES).owner(key).0)
                .collect();
            assert_eq!(got, owners, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    /// xxh3-64 of the empty input, as published by the xxHash reference implementation.
    const GOLDEN_EMPTY_HASH: u64 = 0x2d06_8005_38d3_94c2;
    const GOLDEN_SESSION_1_HASH: u64 = 13_870_706_736_031_703_813;
    /// Owners with 2, 3, 4 and 16 shards at [`DEFAULT_VNODES`].
    const GOLDEN_OWNERS: [(&[u8], [usize; 4]); 6] = [
        (b"", [1, 1, 3, 5]),
        (b"session-1", [0, 0, 3, 14]),
        (b"session-2", [1, 2, 2, 14]),
        (b"0123456789abcdef0123456789abcdef", [1, 1, 1, 4]),
        (b"\x00\xff\x10", [1, 2, 2, 6]),
        (b"tenant/42", [1, 1, 1, 5]),
    ];
}
