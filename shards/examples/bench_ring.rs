//! Micro-benchmark: ns per `Ring::owner` lookup and per `Ring::build`, for several shard counts.
//!
//! Run with `cargo run --release -p shards --example bench_ring`.

use std::hint::black_box;
use std::time::Instant;

use shards::{Ring, DEFAULT_VNODES};

const LOOKUPS: u64 = 2_000_000;

fn main() {
    for shard_count in [2usize, 4, 16, 64] {
        let started = Instant::now();
        let ring = Ring::build(shard_count, DEFAULT_VNODES);
        let build_ms = started.elapsed().as_secs_f64() * 1e3;
        // 32-byte keys, like hex session ids; varied so lookups don't hit one cache line.
        let mut key = *b"00000000000000000000000000000000";
        let started = Instant::now();
        let mut sum = 0usize;
        for i in 0..LOOKUPS {
            key[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
            sum = sum.wrapping_add(ring.owner(black_box(&key)).0);
        }
        let ns = started.elapsed().as_nanos() as f64 / LOOKUPS as f64;
        black_box(sum);
        println!(
            "ring.owner  shards={shard_count:<3} vnodes={DEFAULT_VNODES}  {ns:7.1} ns/op   (build {build_ms:.2} ms)"
        );
    }
}
