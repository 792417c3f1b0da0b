//! Micro-benchmark: cross-shard round trip over the mesh (shard 0 sends, shard 1 echoes back),
//! in ns per round trip, plus one-way throughput with a pipelined window.
//!
//! Run with `cargo run --release -p shards --example bench_mesh`. Uses two shards on the first
//! two usable cores (or one core twice).

use std::time::{Duration, Instant};

use glommio::channels::shared_channel::ConnectedReceiver;
use shards::{online_cores, ConnectedMesh, Error, Mesh, Runtime, RuntimeSpec, ShardId};

const ROUND_TRIPS: u64 = 20_000;
const ONE_WAY: u64 = 1_000_000;

/// Shard 0: times round trips, then pipelined one-way sends. `None` if the peer went away.
async fn measure(mesh: &ConnectedMesh<u64>, inbox: &ConnectedReceiver<u64>) -> Option<()> {
    let peer = ShardId(1);
    let started = Instant::now();
    for i in 0..ROUND_TRIPS {
        mesh.send_to(peer, i).await.ok()?;
        inbox.recv().await?;
    }
    let rtt = started.elapsed().as_nanos() as f64 / ROUND_TRIPS as f64;
    println!("mesh round trip          {rtt:8.1} ns/op");
    let started = Instant::now();
    for i in 0..ONE_WAY {
        mesh.send_to(peer, i).await.ok()?;
    }
    // The final echo says everything arrived.
    inbox.recv().await?;
    let one_way = started.elapsed().as_nanos() as f64 / ONE_WAY as f64;
    println!("mesh one-way pipelined   {one_way:8.1} ns/op");
    Some(())
}

/// Shard 1: echoes the round trips, swallows the one-way stream, then acknowledges.
async fn echo(mesh: &ConnectedMesh<u64>, inbox: &ConnectedReceiver<u64>) -> Option<()> {
    let peer = ShardId(0);
    for _ in 0..ROUND_TRIPS {
        let n = inbox.recv().await?;
        mesh.send_to(peer, n).await.ok()?;
    }
    for _ in 0..ONE_WAY {
        inbox.recv().await?;
    }
    mesh.send_to(peer, 0).await.ok()
}

fn main() -> Result<(), Error> {
    let online = online_cores()?;
    let first = online.first().copied().ok_or(Error::NoCores)?;
    let second = online.get(1).copied().unwrap_or(first);
    for spin in [None, Some(Duration::from_micros(100))] {
        println!("spin_before_park: {spin:?}");
        run(vec![first, second], spin)?;
    }
    Ok(())
}

fn run(cores: Vec<usize>, spin_before_park: Option<Duration>) -> Result<(), Error> {
    let spec = RuntimeSpec {
        io_memory: 512 * 1024,
        spin_before_park,
        ..RuntimeSpec::new(cores)
    };
    let endpoints = Mesh::<u64>::build(2, 1024);
    let runtime = Runtime::start_each(spec, endpoints, |ctx, endpoint| async move {
        let mesh = endpoint.connect().await;
        let Some((_, inbox)) = mesh.take_receivers().pop() else {
            return;
        };
        let done = if ctx.id == ShardId(0) {
            measure(&mesh, &inbox).await
        } else {
            echo(&mesh, &inbox).await
        };
        if done.is_none() {
            eprintln!("shard {}: peer went away", ctx.id);
        }
    })?;
    runtime.join()
}
