//! Micro-benchmark: ns per `Table::get` (hit and miss) and per `insert` + `remove`, with
//! 16-byte keys as session ids would be.
//!
//! Run with `cargo run --release -p shards --example bench_table`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shards::Table;

const ENTRIES: u128 = 100_000;
const LOOKUPS: u128 = 2_000_000;

fn key(i: u128) -> u128 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
}

fn main() {
    let now = Instant::now();
    let mut table: Table<u128, [u64; 8]> = Table::new(Duration::from_secs(300));
    for i in 0..ENTRIES {
        table.insert(key(i), [0; 8], now);
    }
    let started = Instant::now();
    let mut found = 0u64;
    for i in 0..LOOKUPS {
        found += u64::from(table.get(&key(black_box(i % ENTRIES)), now).is_some());
    }
    let hit = started.elapsed().as_nanos() as f64 / LOOKUPS as f64;
    let started = Instant::now();
    for i in 0..LOOKUPS {
        found += u64::from(table.get(&key(black_box(ENTRIES + i)), now).is_some());
    }
    let miss = started.elapsed().as_nanos() as f64 / LOOKUPS as f64;
    let started = Instant::now();
    for i in 0..LOOKUPS {
        let k = key(ENTRIES + i);
        table.insert(k, [1; 8], now);
        black_box(table.remove(&k));
    }
    let churn = started.elapsed().as_nanos() as f64 / LOOKUPS as f64;
    black_box(found);
    println!("table.get hit   entries={ENTRIES}  {hit:6.1} ns/op");
    println!("table.get miss  entries={ENTRIES}  {miss:6.1} ns/op");
    println!("table insert+remove            {churn:6.1} ns/op");
    println!(
        "entry budget: Table::<u128, [u64; 8]>::ENTRY_BYTES = {}",
        Table::<u128, [u64; 8]>::ENTRY_BYTES
    );
}
