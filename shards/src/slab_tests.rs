//! Tests of the per-shard buffer pool (`slab.rs`): class choice, reuse, the count and byte caps.

use super::*;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// A byte cap no test reaches: for the tests of the other rules.
const UNCAPPED: usize = usize::MAX;

#[test]
fn lease_returns_its_buffer_on_every_path() {
    let pool = BufPool::new(4, UNCAPPED);
    let early = |fail: bool| -> Result<usize, ()> {
        let mut lease = pool.lease(100);
        lease.extend_from_slice(b"abc");
        if fail {
            return Err(());
        }
        Ok(lease.len())
    };
    assert_eq!(early(false), Ok(3));
    assert_eq!(early(true), Err(()));
    let stats = pool.stats();
    assert_eq!(stats.allocated, 1, "{stats:?}");
    assert_eq!(stats.returned, 2, "{stats:?}");
    assert!(
        pool.lease(10).is_empty(),
        "a returned buffer comes back cleared"
    );
}

#[test]
fn take_picks_smallest_fitting_class() {
    let pool = BufPool::new(4, UNCAPPED);
    for (want, cap) in [
        (0, 4 * KIB),
        (1, 4 * KIB),
        (4 * KIB, 4 * KIB),
        (4 * KIB + 1, 64 * KIB),
        (64 * KIB, 64 * KIB),
        (1024 * KIB, 1024 * KIB),
    ] {
        let buffer = pool.take(want);
        assert!(buffer.is_empty());
        assert_eq!(buffer.capacity(), cap, "take({want})");
    }
    assert_eq!(pool.stats().allocated, 6);
    assert_eq!(pool.stats().oversize, 0);
}

#[test]
fn oversize_is_exact_and_counted() {
    let pool = BufPool::new(4, UNCAPPED);
    let big = pool.take(3 * 1024 * KIB);
    assert_eq!(big.capacity(), 3 * 1024 * KIB);
    let stats = pool.stats();
    assert_eq!((stats.oversize, stats.allocated), (1, 0));
    pool.give(big);
    assert_eq!(pool.stats().dropped, 1);
    assert_eq!(pool.stats().pooled_per_class, [0, 0, 0]);
}

#[test]
fn steady_take_give_stops_allocating() {
    let pool = BufPool::new(8, UNCAPPED);
    let mut allocated_after = Vec::new();
    for _ in 0..100 {
        // Three buffers in flight per iteration, of two classes.
        let a = pool.take(100);
        let mut b = pool.take(2000);
        let c = pool.take(10 * KIB);
        b.extend_from_slice(b"payload");
        pool.give(a);
        pool.give(b);
        pool.give(c);
        allocated_after.push(pool.stats().allocated);
    }
    assert_eq!(allocated_after[0], 3);
    assert!(
        allocated_after.iter().all(|&n| n == 3),
        "{allocated_after:?}"
    );
    let stats = pool.stats();
    assert_eq!(stats.reused, 297);
    assert_eq!(stats.returned, 300);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.pooled_per_class, [2, 1, 0]);
    // Reused buffers come back empty.
    assert!(pool.take(1).is_empty());
}

#[test]
fn cap_per_class_is_respected() {
    let pool = BufPool::new(2, UNCAPPED);
    let buffers: Vec<_> = (0..5).map(|_| pool.take(64 * KIB)).collect();
    for buffer in buffers {
        pool.give(buffer);
    }
    let stats = pool.stats();
    assert_eq!(stats.pooled_per_class, [0, 2, 0]);
    assert_eq!((stats.returned, stats.dropped), (2, 3));
}

#[test]
fn grown_buffers_land_in_the_class_they_now_fit() {
    let pool = BufPool::new(4, UNCAPPED);
    let mut grown = pool.take(1);
    grown.resize(5 * KIB, 0);
    assert!(grown.capacity() >= 5 * KIB && grown.capacity() < 64 * KIB);
    pool.give(grown);
    assert_eq!(pool.stats().pooled_per_class, [1, 0, 0]);
    pool.give(Vec::with_capacity(100));
    pool.give(Vec::with_capacity(2 * 1024 * KIB));
    pool.give(Vec::with_capacity(2 * 1024 * KIB + 1));
    let stats = pool.stats();
    assert_eq!(stats.pooled_per_class, [1, 0, 1]);
    assert_eq!(stats.dropped, 2);
}

#[test]
fn zero_cap_pool_never_keeps() {
    let pool = BufPool::new(0, UNCAPPED);
    pool.give(pool.take(1));
    assert_eq!(pool.stats().dropped, 1);
    assert_eq!(pool.stats().pooled_per_class, [0, 0, 0]);
}

#[test]
fn zero_byte_cap_never_keeps() {
    let pool = BufPool::new(4, 0);
    pool.give(pool.take(1));
    let stats = pool.stats();
    assert_eq!((stats.returned, stats.dropped), (0, 1));
    assert_eq!((stats.pooled_bytes, stats.freed_bytes), (0, 4 * KIB as u64));
}

#[test]
fn returning_beyond_the_byte_cap_frees() {
    // Room for three 64 KiB buffers; five come back.
    let pool = BufPool::new(256, 3 * 64 * KIB);
    let buffers: Vec<_> = (0..5).map(|_| pool.take(64 * KIB)).collect();
    for buffer in buffers {
        pool.give(buffer);
    }
    let stats = pool.stats();
    assert_eq!(stats.pooled_per_class, [0, 3, 0]);
    assert_eq!(stats.pooled_bytes, 3 * 64 * KIB);
    assert_eq!((stats.returned, stats.dropped), (3, 2));
    assert_eq!(stats.freed_bytes, 2 * 64 * KIB as u64);
    // A buffer larger than the whole cap is never kept.
    pool.give(pool.take(MIB));
    let stats = pool.stats();
    assert_eq!(stats.pooled_per_class, [0, 3, 0]);
    assert_eq!(stats.dropped, 3);
}

#[test]
fn a_burst_of_large_buffers_leaves_at_most_the_cap() {
    let cap = 8 * MIB;
    let pool = BufPool::new(256, cap);
    // 256 bodies that grew past the largest class while being read (capacity up to 2 MiB).
    let burst: Vec<_> = (0..256)
        .map(|_| {
            let mut body = pool.take(4 * KIB);
            body.reserve(MIB + 100);
            body
        })
        .collect();
    for body in burst {
        pool.give(body);
    }
    let stats = pool.stats();
    assert!(stats.pooled_bytes <= cap, "{stats:?}");
    assert!(
        stats.pooled_bytes > cap / 2,
        "the pool still keeps some: {stats:?}"
    );
    assert_eq!(stats.returned + stats.dropped, 256);
    assert_eq!(stats.pooled_per_class[2] as u64, stats.returned);
}

#[test]
fn byte_counter_stays_right_under_mixed_sizes() {
    let pool = BufPool::new(256, 3 * MIB);
    // Deterministic mix of requested sizes and growth, with takes and gives interleaved.
    let mut held: Vec<Vec<u8>> = Vec::new();
    let mut seed = 0x2545_f491_u32;
    for step in 0..600_u32 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let want = match seed % 4 {
            0 => 100,
            1 => 5 * KIB,
            2 => 70 * KIB,
            _ => MIB + (seed as usize % (MIB / 2)),
        };
        let mut buffer = pool.take(want);
        if seed.is_multiple_of(3) {
            buffer.reserve(want * 2);
        }
        held.push(buffer);
        if !step.is_multiple_of(3) || held.len() > 40 {
            let index = seed as usize % held.len();
            pool.give(held.swap_remove(index));
        }
        let stats = pool.stats();
        let idle: usize = pool
            .free
            .iter()
            .map(|free| free.borrow().iter().map(Vec::capacity).sum::<usize>())
            .sum();
        assert_eq!(stats.pooled_bytes, idle, "step {step}");
        assert!(stats.pooled_bytes <= 3 * MIB, "step {step}: {stats:?}");
    }
    for buffer in held.drain(..) {
        pool.give(buffer);
    }
    let stats = pool.stats();
    assert!(stats.pooled_bytes <= 3 * MIB);
    // Every buffer made is idle now or was freed once (on return, or evicted later).
    let idle: usize = stats.pooled_per_class.iter().sum();
    assert_eq!(
        stats.allocated + stats.oversize,
        idle as u64 + stats.dropped
    );
}

#[test]
fn small_buffers_evict_large_idle_ones_when_full() {
    let pool = BufPool::new(256, 2 * MIB);
    let large: Vec<_> = (0..2).map(|_| pool.take(MIB)).collect();
    for buffer in large {
        pool.give(buffer);
    }
    assert_eq!(pool.stats().pooled_per_class, [0, 0, 2]);
    // The pool is full of large buffers; a small one still gets in, freeing one large one.
    pool.give(pool.take(100));
    let stats = pool.stats();
    assert_eq!(stats.pooled_per_class, [1, 0, 1]);
    assert_eq!(stats.pooled_bytes, MIB + 4 * KIB);
    assert_eq!(stats.freed_bytes, MIB as u64);
    // Small buffers keep being reused: no new allocation for them.
    for _ in 0..100 {
        pool.give(pool.take(100));
    }
    assert_eq!(pool.stats().allocated, 3);
    // A large buffer does not evict small ones: it is freed when it does not fit.
    pool.give(Vec::with_capacity(MIB));
    let stats = pool.stats();
    assert_eq!(stats.pooled_per_class, [1, 0, 1]);
    assert_eq!(stats.freed_bytes, 2 * MIB as u64);
}

#[test]
fn pool_reuses_within_the_byte_cap() {
    let pool = BufPool::new(256, 8 * MIB);
    for _ in 0..50 {
        let bodies: Vec<_> = (0..4).map(|_| pool.take(MIB)).collect();
        let heads: Vec<_> = (0..16).map(|_| pool.take(KIB)).collect();
        for buffer in bodies.into_iter().chain(heads) {
            pool.give(buffer);
        }
    }
    let stats = pool.stats();
    assert_eq!(stats.allocated, 20, "{stats:?}");
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.pooled_bytes, 4 * MIB + 16 * 4 * KIB);
    assert_eq!(stats.freed_bytes, 0);
}
