//! Per-shard pool of byte buffers in three size classes (4 KiB, 64 KiB, 1 MiB), with stats.
//!
//! Not here: registered io_uring buffers (glommio's io memory), sharing across shards. A
//! [`BufPool`] is not `Sync`: each shard owns one, used through `&self` or an `Rc`.
//! Hot path: [`BufPool::take`] and [`BufPool::give`] pop and push a `Vec` on a free list; they
//! allocate only when the class's free list is empty (or for oversize requests), free only when
//! the class or the byte cap is full (at most two buffers per call), and never await.
//!
//! Policy: a request gets a buffer from the smallest class that fits it. A returned buffer goes
//! to the class whose size range its capacity falls in (`[class, next class)`, the largest class
//! up to twice its size), so a buffer that grew while in use is still reused but one that grew
//! huge is freed. Each class keeps at most `max_pooled_per_class` idle buffers, and the idle
//! buffers together hold at most `max_pooled_bytes` of capacity (a running counter, so the check
//! is O(1)): a burst of large bodies leaves at most that much behind, not hundreds of MiB.
//! When a returned buffer does not fit under the byte cap, idle buffers of a larger class make
//! room (largest class first): any one of them is at least as big as the returned buffer, so at
//! most one is freed, and the small buffers of the steady state keep being reused after a burst
//! of large ones. Otherwise the returned buffer is freed. [`BufStats::freed_bytes`] counts the
//! capacity freed, for whoever decides when to hand freed memory back to the OS.

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
    /// Buffers freed by the pool: given back when their class was full, the byte cap reached or
    /// their capacity outside every class, or idle ones freed to make room for a smaller one.
    pub dropped: u64,
    /// Idle buffers per class right now, in [`SIZE_CLASSES`] order.
    pub pooled_per_class: [usize; 3],
    /// Capacity of all idle buffers right now, in bytes (at most `max_pooled_bytes`).
    pub pooled_bytes: usize,
    /// Capacity of the buffers counted in `dropped`, in bytes, since the pool was made.
    pub freed_bytes: u64,
    /// Requests larger than the largest class, served by a fresh exact-size allocation.
    pub oversize: u64,
}

/// A per-shard buffer pool; see the module docs.
#[derive(Debug)]
pub struct BufPool {
    max_pooled_per_class: usize,
    max_pooled_bytes: usize,
    free: [RefCell<Vec<Vec<u8>>>; 3],
    /// Sum of the capacities in `free`; never above `max_pooled_bytes`.
    pooled_bytes: Cell<usize>,
    allocated: Cell<u64>,
    reused: Cell<u64>,
    returned: Cell<u64>,
    dropped: Cell<u64>,
    freed_bytes: Cell<u64>,
    oversize: Cell<u64>,
}

impl BufPool {
    /// A pool keeping at most `max_pooled_per_class` idle buffers in each class and at most
    /// `max_pooled_bytes` of idle capacity in all. Allocates only the free lists' spines
    /// (`max_pooled_per_class` pointers-and-lengths per class).
    pub fn new(max_pooled_per_class: usize, max_pooled_bytes: usize) -> BufPool {
        let spine = || RefCell::new(Vec::with_capacity(max_pooled_per_class));
        BufPool {
            max_pooled_per_class,
            max_pooled_bytes,
            free: [spine(), spine(), spine()],
            pooled_bytes: Cell::new(0),
            allocated: Cell::new(0),
            reused: Cell::new(0),
            returned: Cell::new(0),
            dropped: Cell::new(0),
            freed_bytes: Cell::new(0),
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
                self.pooled_bytes
                    .set(self.pooled_bytes.get().saturating_sub(buffer.capacity()));
                buffer
            }
            None => {
                bump(&self.allocated);
                Vec::with_capacity(size)
            }
        }
    }

    /// Returns a buffer to the pool: cleared and kept if its class has room and its capacity
    /// fits under the byte cap (after freeing at most one idle buffer of a larger class), else
    /// freed.
    pub fn give(&self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        let class = class_of_capacity(capacity);
        if let Some((class, free)) = class.and_then(|c| Some((c, self.free.get(c)?))) {
            let has_room = free.borrow().len() < self.max_pooled_per_class;
            if has_room && self.make_room(class, capacity) {
                buffer.clear();
                free.borrow_mut().push(buffer);
                self.pooled_bytes.set(self.pooled_bytes.get() + capacity);
                bump(&self.returned);
                return;
            }
        }
        self.count_freed(capacity);
    }

    /// Whether `capacity` more idle bytes fit under the cap, freeing idle buffers of classes
    /// above `class` (largest first) until they do. Any buffer of a larger class holds at least
    /// as much as one of `class` (capacities stay below the next class), so this frees at most
    /// one buffer.
    fn make_room(&self, class: usize, capacity: usize) -> bool {
        let fits = |pool: &BufPool| {
            pool.pooled_bytes
                .get()
                .checked_add(capacity)
                .is_some_and(|total| total <= pool.max_pooled_bytes)
        };
        for larger in self.free.iter().skip(class + 1).rev() {
            while !fits(self) {
                let Some(evicted) = larger.borrow_mut().pop() else {
                    break;
                };
                self.pooled_bytes
                    .set(self.pooled_bytes.get().saturating_sub(evicted.capacity()));
                self.count_freed(evicted.capacity());
            }
        }
        fits(self)
    }

    /// Counts a buffer of this capacity as freed (the caller drops it).
    fn count_freed(&self, capacity: usize) {
        bump(&self.dropped);
        let freed = self.freed_bytes.get();
        self.freed_bytes
            .set(freed.wrapping_add(u64::try_from(capacity).unwrap_or(u64::MAX)));
    }

    /// Counters and current pool sizes.
    pub fn stats(&self) -> BufStats {
        BufStats {
            allocated: self.allocated.get(),
            reused: self.reused.get(),
            returned: self.returned.get(),
            dropped: self.dropped.get(),
            pooled_per_class: self.free.each_ref().map(|free| free.borrow().len()),
            pooled_bytes: self.pooled_bytes.get(),
            freed_bytes: self.freed_bytes.get(),
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
#[path = "slab_tests.rs"]
mod tests;
