//! Per-shard pool of byte buffers in three size classes (4 KiB, 64 KiB, 1 MiB), with stats.
//!
//! Not here: registered io_uring buffers (glommio's io memory), sharing across shards. A
//! [`BufPool`] is not `Sync`: each shard owns one, used through `&self` or an `Rc`.
//! Hot path: [`BufPool::take`] and [`BufPool::give`] pop and push a `Vec` on a free list; they
//! allocate only when the class's free list is empty (or for oversize requests), free only when
//! it is full, and never await.
//!
//! Policy: a request gets a buffer from the smallest class that fits it. A returned buffer goes
//! to the class whose size range its capacity falls in (`[class, next class)`, the largest class
//! up to twice its size), so a buffer that grew while in use is still reused but one that grew
//! huge is freed. Each class keeps at most `max_pooled_per_class` idle buffers, which bounds the
//! pool at `max_pooled_per_class * (4 KiB + 64 KiB + 1 MiB)` plus the growth allowance.

use std::cell::{Cell, RefCell};

/// Buffer sizes the pool hands out, smallest first.
pub const SIZE_CLASSES: [usize; 3] = [4 * 1024, 64 * 1024, 1024 * 1024];

/// Pooled buffers are accepted back up to this multiple of the largest class.
const LARGEST_CLASS_GROWTH: usize = 2;

/// Counters describing a [`BufPool`]'s behaviour since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufStats {
    /// Class buffers allocated because the free list was empty.
    pub allocated: u64,
    /// Requests served from a free list.
    pub reused: u64,
    /// Buffers given back and kept.
    pub returned: u64,
    /// Buffers given back and freed (class full, or capacity outside every class).
    pub dropped: u64,
    /// Idle buffers per class right now, in [`SIZE_CLASSES`] order.
    pub pooled_per_class: [usize; 3],
    /// Requests larger than the largest class, served by a fresh exact-size allocation.
    pub oversize: u64,
}

/// A per-shard buffer pool; see the module docs.
#[derive(Debug)]
pub struct BufPool {
    max_pooled_per_class: usize,
    free: [RefCell<Vec<Vec<u8>>>; 3],
    allocated: Cell<u64>,
    reused: Cell<u64>,
    returned: Cell<u64>,
    dropped: Cell<u64>,
    oversize: Cell<u64>,
}

impl BufPool {
    /// A pool keeping at most `max_pooled_per_class` idle buffers in each class. Allocates only
    /// the free lists' spines (`max_pooled_per_class` pointers-and-lengths per class).
    pub fn new(max_pooled_per_class: usize) -> BufPool {
        let spine = || RefCell::new(Vec::with_capacity(max_pooled_per_class));
        BufPool {
            max_pooled_per_class,
            free: [spine(), spine(), spine()],
            allocated: Cell::new(0),
            reused: Cell::new(0),
            returned: Cell::new(0),
            dropped: Cell::new(0),
            oversize: Cell::new(0),
        }
    }

    /// An empty buffer with capacity at least `min_capacity`.
    ///
    /// Served from the smallest class that fits; a request above the largest class gets a fresh
    /// `Vec` of exactly `min_capacity` (counted as `oversize`).
    pub fn take(&self, min_capacity: usize) -> Vec<u8> {
        let Some((class, &size)) = SIZE_CLASSES
            .iter()
            .enumerate()
            .find(|(_, &size)| size >= min_capacity)
        else {
            bump(&self.oversize);
            return Vec::with_capacity(min_capacity);
        };
        let pooled = self
            .free
            .get(class)
            .and_then(|free| free.borrow_mut().pop());
        match pooled {
            Some(buffer) => {
                bump(&self.reused);
                buffer
            }
            None => {
                bump(&self.allocated);
                Vec::with_capacity(size)
            }
        }
    }

    /// Returns a buffer to the pool: cleared and kept if its class has room, else freed.
    pub fn give(&self, mut buffer: Vec<u8>) {
        let class = class_of_capacity(buffer.capacity());
        if let Some(free) = class.and_then(|class| self.free.get(class)) {
            let mut free = free.borrow_mut();
            if free.len() < self.max_pooled_per_class {
                buffer.clear();
                free.push(buffer);
                bump(&self.returned);
                return;
            }
        }
        bump(&self.dropped);
    }

    /// Counters and current pool sizes.
    pub fn stats(&self) -> BufStats {
        BufStats {
            allocated: self.allocated.get(),
            reused: self.reused.get(),
            returned: self.returned.get(),
            dropped: self.dropped.get(),
            pooled_per_class: self.free.each_ref().map(|free| free.borrow().len()),
            oversize: self.oversize.get(),
        }
    }
}

impl BufPool {
    /// Like [`BufPool::take`], but the buffer goes back to the pool when the lease drops, on
    /// every path out of the caller (early returns and `?` included).
    pub fn lease(&self, min_capacity: usize) -> Lease<'_> {
        Lease {
            pool: self,
            buffer: self.take(min_capacity),
        }
    }
}

/// A pooled buffer returned to its [`BufPool`] on drop. Derefs to `Vec<u8>`.
#[derive(Debug)]
pub struct Lease<'p> {
    pool: &'p BufPool,
    buffer: Vec<u8>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.buffer
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buffer));
    }
}

/// The class a buffer of this capacity is pooled in: the largest class not above it, if the
/// capacity is at most [`LARGEST_CLASS_GROWTH`] times the largest class.
fn class_of_capacity(capacity: usize) -> Option<usize> {
    let largest = *SIZE_CLASSES.last()?;
    if capacity > largest.saturating_mul(LARGEST_CLASS_GROWTH) {
        return None;
    }
    SIZE_CLASSES.iter().rposition(|&size| capacity >= size)
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get().wrapping_add(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    #[test]
    fn lease_returns_its_buffer_on_every_path() {
        let pool = BufPool::new(4);
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
        let pool = BufPool::new(4);
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
        let pool = BufPool::new(4);
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
        let pool = BufPool::new(8);
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
        let pool = BufPool::new(2);
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
        let pool = BufPool::new(4);
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
        let pool = BufPool::new(0);
        pool.give(pool.take(1));
        assert_eq!(pool.stats().dropped, 1);
        assert_eq!(pool.stats().pooled_per_class, [0, 0, 0]);
    }
}
