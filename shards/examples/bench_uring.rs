//! Micro-benchmark: a minimal HTTP/1.1 keep-alive responder (fixed `200` to any request) on
//! (a) glommio's `TcpStream` and (b) `shards::uring`, one after the other in one run, each on
//! one pinned core and driven by `wrk -t1 -c32 -d5s` pinned to another core. A third row runs
//! (b) with `UringConfig::defer_taskrun` for comparison, and a fourth nginx (`return 200`, one
//! worker on the server core) when `nginx` is on the PATH (Debian `nginx-light`).
//! Prints req/s and server CPU-µs per request (utime+stime deltas of the server thread from
//! `/proc/self/task/TID/stat`, and of the whole process from `/proc/self/stat`).
//!
//! Run with `cargo run --release -p shards --example bench_uring -- [SERVER_CORE] [WRK_CORE]
//! [SECONDS] [ROUNDS]` (defaults 0 1 5 1). Needs `wrk` and `taskset` on the PATH.
//! `BENCH_URING_CONNS=1` runs a closed loop on one connection (latency, idle→busy cost);
//! `BENCH_URING_STATS=1` prints the driver's counters after each uring run.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::{LocalExecutorBuilder, Placement};
use shards::uring::{Uring, UringConfig};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

/// Counts request ends (`\r\n\r\n`) across reads; GET requests from wrk carry no body.
#[derive(Default)]
struct Heads {
    matched: usize,
}

impl Heads {
    fn feed(&mut self, bytes: &[u8]) -> usize {
        const END: &[u8] = b"\r\n\r\n";
        let mut done = 0;
        for &b in bytes {
            if b == END[self.matched] {
                self.matched += 1;
                if self.matched == END.len() {
                    done += 1;
                    self.matched = 0;
                }
            } else {
                self.matched = usize::from(b == b'\r');
            }
        }
        done
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Glommio,
    Uring,
    UringDefer,
    /// nginx `return 200`, one worker pinned to the server core (skipped without nginx).
    Nginx,
}

async fn serve_glommio(listener: glommio::net::TcpListener) {
    loop {
        let Ok(mut stream) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        glommio::spawn_local(async move {
            let mut heads = Heads::default();
            let mut buf = vec![0u8; 4096];
            let mut out = Vec::with_capacity(4096);
            loop {
                let n = match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                out.clear();
                for _ in 0..heads.feed(&buf[..n]) {
                    out.extend_from_slice(RESPONSE);
                }
                if !out.is_empty() && stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
}

async fn serve_uring(listener: std::net::TcpListener, defer_taskrun: bool) {
    let cfg = UringConfig {
        defer_taskrun,
        ..UringConfig::default()
    };
    let uring = match Uring::new(&cfg) {
        Ok(uring) => uring,
        Err(e) => {
            eprintln!("uring setup failed: {e}");
            return;
        }
    };
    eprintln!("uring setup: {}", uring.mode());
    LAST.with(|l| *l.borrow_mut() = Some(uring.clone()));
    let mut listener = uring.listener(OwnedFd::from(listener));
    loop {
        let Ok(mut stream) = listener.accept().await else {
            continue;
        };
        let _ = socket2::SockRef::from(&stream).set_nodelay(true);
        glommio::spawn_local(async move {
            let mut heads = Heads::default();
            let mut out = Vec::with_capacity(4096);
            loop {
                let requests = match stream.recv().await {
                    Ok(Some(buf)) => heads.feed(&buf),
                    Ok(None) | Err(_) => return,
                };
                out.clear();
                for _ in 0..requests {
                    out.extend_from_slice(RESPONSE);
                }
                if !out.is_empty() && stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
}

thread_local! {
    static LAST: std::cell::RefCell<Option<Uring>> = const { std::cell::RefCell::new(None) };
}

/// utime + stime in clock ticks from a `stat` file.
fn cpu_ticks(path: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0;
    };
    // Fields after the `(comm)`; utime and stime are fields 14 and 15 (1-based).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

struct Outcome {
    rps: f64,
    p50: String,
    requests: u64,
    thread_us_per_req: f64,
    process_us_per_req: f64,
}

/// The pid of `master`'s first child (the worker), from `/proc/*/stat`.
fn child_of(master: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == master).then_some(pid)
    })
}

fn run_nginx(server_core: usize, wrk_core: usize, secs: u64) -> Option<Outcome> {
    let dir = std::env::temp_dir().join(format!("bench_uring_nginx_{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let conf = format!(
        "worker_processes 1;\nworker_cpu_affinity {mask:b};\ndaemon off;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log;\nevents {{ worker_connections 1024; }}\nhttp {{\n\
         access_log off;\nkeepalive_requests 1000000;\nserver {{ listen 127.0.0.1:{port}; \
         location / {{ return 200 \"ok\"; }} }}\n}}\n",
        mask = 1u64 << server_core,
        dir = dir.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).ok()?;
    let mut master = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    // Wait (bounded, no sleep: connect fails fast until nginx listens) for the worker.
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() && started.elapsed() < Duration::from_secs(5)
    {
        std::hint::spin_loop();
    }
    let _ = wrk(wrk_core, addr, 1);
    let outcome = child_of(master.id()).and_then(|pid| {
        let stat = format!("/proc/{pid}/stat");
        let t0 = cpu_ticks(&stat);
        let out = wrk(wrk_core, addr, secs);
        let t1 = cpu_ticks(&stat);
        let (rps, requests, p50) = out?;
        let per_req = (t1 - t0) as f64 * 1_000_000.0 / clk_tck() as f64 / requests.max(1) as f64;
        Some(Outcome {
            rps,
            p50,
            requests,
            thread_us_per_req: per_req,
            process_us_per_req: per_req,
        })
    });
    // `-s stop` makes the master stop its worker too (a killed master would orphan it).
    let _ = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(&dir)
        .args(["-s", "stop"])
        .stderr(std::process::Stdio::null())
        .status();
    let _ = master.wait();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn run_variant(
    variant: Variant,
    server_core: usize,
    wrk_core: usize,
    secs: u64,
) -> Option<Outcome> {
    if variant == Variant::Nginx {
        return run_nginx(server_core, wrk_core, secs);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (tid_tx, tid_rx) = mpsc::channel();
    let stop_server = stop.clone();
    let handle = LocalExecutorBuilder::new(Placement::Fixed(server_core))
        .io_memory(512 * 1024)
        .name("bench-server")
        .spawn(move || async move {
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
            let server = async move {
                match variant {
                    Variant::Glommio => {
                        let Ok(listener) = glommio::net::TcpListener::bind("127.0.0.1:0") else {
                            return;
                        };
                        let _ = tid_tx.send((tid, listener.local_addr().ok()));
                        serve_glommio(listener).await
                    }
                    Variant::Nginx => {}
                    Variant::Uring | Variant::UringDefer => {
                        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
                            return;
                        };
                        let _ = tid_tx.send((tid, listener.local_addr().ok()));
                        serve_uring(listener, variant == Variant::UringDefer).await
                    }
                }
            };
            let stopper = async move {
                while !stop_server.load(Ordering::Relaxed) {
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                }
            };
            futures_lite::future::or(server, stopper).await;
            if std::env::var_os("BENCH_URING_STATS").is_some() {
                LAST.with(|l| {
                    if let Some(u) = l.borrow_mut().take() {
                        eprintln!("{:?}", u.stats());
                        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
                            for t in dir.flatten() {
                                let p = t.path();
                                let comm =
                                    std::fs::read_to_string(p.join("comm")).unwrap_or_default();
                                let ticks = cpu_ticks(&p.join("stat").to_string_lossy());
                                eprintln!("  thread {} {} ticks", comm.trim(), ticks);
                            }
                        }
                    }
                });
            }
        })
        .ok()?;
    let (tid, addr) = tid_rx.recv().ok()?;
    let (tid, addr): (String, SocketAddr) = (tid?, addr?);
    let thread_stat = format!("/proc/self/task/{tid}/stat");
    // Warm-up: one short run so connections, buffers and caches are in steady state.
    let _ = wrk(wrk_core, addr, 1);
    let (t0, p0) = (cpu_ticks(&thread_stat), cpu_ticks("/proc/self/stat"));
    let out = wrk(wrk_core, addr, secs);
    let (t1, p1) = (cpu_ticks(&thread_stat), cpu_ticks("/proc/self/stat"));
    stop.store(true, Ordering::Relaxed);
    let _ = handle.join();
    let (rps, requests, p50) = out?;
    let us_per_tick = 1_000_000.0 / clk_tck() as f64;
    let per_req = |ticks: u64| ticks as f64 * us_per_tick / requests.max(1) as f64;
    Some(Outcome {
        rps,
        p50,
        requests,
        thread_us_per_req: per_req(t1 - t0),
        process_us_per_req: per_req(p1 - p0),
    })
}

/// wrk connections: `BENCH_URING_CONNS` (default 32).
fn conns() -> u32 {
    std::env::var("BENCH_URING_CONNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(32)
}

/// Runs wrk; returns (req/s, total requests, p50 latency as wrk prints it).
fn wrk(core: usize, addr: SocketAddr, secs: u64) -> Option<(f64, u64, String)> {
    let out = Command::new("taskset")
        .args(["-c", &core.to_string(), "wrk", "-t1", "--latency"])
        .arg(format!("-c{}", conns()))
        .arg(format!("-d{secs}s"))
        .arg(format!("http://{addr}/"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())?;
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("wrk reported errors:\n{text}");
    }
    let p50 = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("50%"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    Some((rps, requests, p50))
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let server_core = args.first().copied().unwrap_or(0) as usize;
    let wrk_core = args.get(1).copied().unwrap_or(1) as usize;
    let secs = args.get(2).copied().unwrap_or(5);
    let rounds = args.get(3).copied().unwrap_or(1);
    println!(
        "server on core {server_core}, wrk -t1 -c{} -d{secs}s on core {wrk_core}, {rounds} round(s)",
        conns()
    );
    println!(
        "{:<11} {:>5} {:>12} {:>10} {:>9} {:>16} {:>17}",
        "variant", "round", "req/s", "requests", "p50", "thread µs/req", "process µs/req"
    );
    for round in 1..=rounds {
        let nginx = Command::new("nginx").arg("-v").output().is_ok();
        let mut variants = vec![Variant::Glommio, Variant::Uring, Variant::UringDefer];
        if nginx {
            variants.push(Variant::Nginx);
        }
        for variant in variants {
            match run_variant(variant, server_core, wrk_core, secs) {
                Some(o) => println!(
                    "{:<11} {:>5} {:>12.0} {:>10} {:>9} {:>16.2} {:>17.2}",
                    format!("{variant:?}").to_lowercase(),
                    round,
                    o.rps,
                    o.requests,
                    o.p50,
                    o.thread_us_per_req,
                    o.process_us_per_req
                ),
                None => println!("{variant:?}: run failed (is wrk installed?)"),
            }
        }
    }
}
