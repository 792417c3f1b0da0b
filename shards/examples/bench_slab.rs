//! Micro-benchmark: ns per `BufPool::take` + `give` pair in steady state, per size class, and
//! against a plain `Vec::with_capacity` + drop for comparison.
//!
//! Run with `cargo run --release -p shards --example bench_slab`.

use std::hint::black_box;
use std::time::Instant;

use shards::BufPool;

const ROUNDS: u32 = 2_000_000;

fn main() {
    // The proxy's default byte cap (8 MiB): one buffer of each class fits.
    let pool = BufPool::new(64, 8 * 1024 * 1024);
    for size in [1024usize, 16 * 1024, 512 * 1024] {
        // Warm the class so the loop measures reuse.
        pool.give(pool.take(size));
        let started = Instant::now();
        for _ in 0..ROUNDS {
            let mut buffer = pool.take(black_box(size));
            buffer.push(1);
            pool.give(black_box(buffer));
        }
        let pooled = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        let started = Instant::now();
        for _ in 0..ROUNDS {
            let mut buffer: Vec<u8> = Vec::with_capacity(black_box(size));
            buffer.push(1);
            drop(black_box(buffer));
        }
        let fresh = started.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
        println!(
            "slab take+give size={size:<7} {pooled:6.1} ns/op   (Vec alloc+free {fresh:6.1} ns/op)"
        );
    }
    let stats = pool.stats();
    println!(
        "allocated={} reused={} dropped={}",
        stats.allocated, stats.reused, stats.dropped
    );
}
