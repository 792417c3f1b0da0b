//! The provided-buffer ring: `count` buffers of `size` bytes in one anonymous mapping, handed to
//! the kernel through a registered `io_uring_buf` ring (buffer group 0).
//!
//! Ownership is tracked per buffer id: a buffer is either the kernel's (published in the ring,
//! the kernel may write into it at any time) or the user's (its id came back in a completion and
//! it has not been recycled yet). Every transition is checked: taking a buffer the kernel does not
//! own, or recycling one it already owns, counts a violation (and trips a debug assertion), so a
//! reuse bug is caught, not remembered. Debug builds also poison a buffer when it goes back to
//! the kernel, so a reader that kept a stale slice sees garbage rather than plausible bytes.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The buffer group id used for every recv of a driver.
pub(crate) const BGID: u16 = 0;

/// One anonymous private mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping with no address hint touches no existing memory;
        // the result is checked against MAP_FAILED before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(ptr.cast::<u8>())
            .map(|ptr| Mapping { ptr, len })
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned and nothing else unmaps them; the
        // owner (BufRing) only drops its mappings once the kernel can no longer touch them (the
        // driver leaks the BufRing instead when it cannot prove that).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// The provided-buffer ring and the buffers it hands out.
#[derive(Debug)]
pub(crate) struct BufRing {
    ring: Mapping,
    mem: Mapping,
    entries: u16,
    size: u32,
    /// Local copy of the tail published to the kernel.
    tail: u16,
    /// `true` while the kernel owns the buffer.
    in_kernel: Vec<bool>,
    kernel_owned: usize,
    violations: u64,
}

impl BufRing {
    /// Maps `count` buffers of `size` bytes plus the ring, registers the ring as group [`BGID`]
    /// on `ring` and publishes every buffer to the kernel. `count` must be a power of two
    /// (≤ 32768).
    pub(crate) fn register(uring: &IoUring, count: u16, size: u32) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer count must be a power of two ≤ 32768 and size > 0",
            ));
        }
        let ring = Mapping::new(usize::from(count) * std::mem::size_of::<BufRingEntry>())?;
        let mem = Mapping::new(usize::from(count) * size as usize)?;
        // SAFETY: `ring` is a page-aligned mapping of `count` entries that this BufRing keeps
        // alive for as long as the io_uring exists (the driver drops the ring before the BufRing,
        // or leaks the BufRing).
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                ring.ptr.as_ptr() as u64,
                count,
                BGID,
                0,
            )?;
        }
        let mut bufs = BufRing {
            ring,
            mem,
            entries: count,
            size,
            tail: 0,
            in_kernel: vec![false; usize::from(count)],
            kernel_owned: 0,
            violations: 0,
        };
        for bid in 0..count {
            bufs.push(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// Buffers the kernel owns right now.
    pub(crate) fn kernel_owned(&self) -> usize {
        self.kernel_owned
    }

    /// Ownership violations seen so far (should stay 0).
    pub(crate) fn violations(&self) -> u64 {
        self.violations
    }

    /// Marks `bid` as handed to user space by a completion. Returns `false` (and counts a
    /// violation) if the kernel did not own it.
    pub(crate) fn take(&mut self, bid: u16) -> bool {
        match self.in_kernel.get_mut(usize::from(bid)) {
            Some(owned) if *owned => {
                *owned = false;
                self.kernel_owned -= 1;
                true
            }
            _ => {
                self.violations += 1;
                debug_assert!(
                    false,
                    "buffer {bid} completed but the kernel did not own it"
                );
                false
            }
        }
    }

    /// Gives `bid` back to the kernel. Counts a violation (and does nothing) if the kernel
    /// already owns it.
    pub(crate) fn recycle(&mut self, bid: u16) {
        match self.in_kernel.get(usize::from(bid)) {
            Some(false) => {}
            _ => {
                self.violations += 1;
                debug_assert!(false, "buffer {bid} recycled twice");
                return;
            }
        }
        if cfg!(debug_assertions) {
            let size = self.size as usize;
            // SAFETY: the buffer is user-owned (checked above), inside `mem`, and no slice of it
            // is alive: RecvBuf guards recycle only on drop, reads copy out before recycling.
            unsafe {
                std::ptr::write_bytes(self.buf_ptr(bid), 0xA5, size);
            }
        }
        self.push(bid);
        self.publish();
    }

    /// The bytes `off..off+len` of buffer `bid`.
    ///
    /// # Safety
    /// `bid` must be user-owned (taken and not recycled) for the whole life of the returned
    /// slice, and `off + len ≤ size`.
    pub(crate) unsafe fn slice(&self, bid: u16, off: u32, len: u32) -> &[u8] {
        // SAFETY: per the contract the range is inside the mapping and the kernel will not write
        // to it while the slice lives.
        unsafe { std::slice::from_raw_parts(self.buf_ptr(bid).add(off as usize), len as usize) }
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: `bid < entries`, so the offset stays inside the `count * size` mapping.
        unsafe {
            self.mem
                .ptr
                .as_ptr()
                .add(usize::from(bid) * self.size as usize)
        }
    }

    fn push(&mut self, bid: u16) {
        let mask = self.entries - 1;
        let idx = usize::from(self.tail & mask);
        let addr = self.buf_ptr(bid) as u64;
        // SAFETY: `idx < entries`; the slot at the (unpublished) tail is not read by the kernel
        // until `publish` moves the tail past it.
        unsafe {
            let entry = &mut *self.ring.ptr.as_ptr().cast::<BufRingEntry>().add(idx);
            entry.set_addr(addr);
            entry.set_len(self.size);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        if let Some(owned) = self.in_kernel.get_mut(usize::from(bid)) {
            *owned = true;
        }
        self.kernel_owned += 1;
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the mapped ring, is 2-byte aligned
        // and is shared with the kernel, hence the atomic release store (entries first, then
        // the tail).
        unsafe {
            let tail = BufRingEntry::tail(self.ring.ptr.as_ptr().cast::<BufRingEntry>());
            (*tail.cast::<AtomicU16>()).store(self.tail, Ordering::Release);
        }
    }
}
