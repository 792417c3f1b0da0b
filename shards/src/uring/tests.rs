//! Unit tests and the loopback stress test of the io_uring path.

use std::future::Future;
use std::io::Write as _;
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::OwnedFd;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::probe::parse_release;
use super::*;

#[path = "park_tests.rs"]
mod park;

fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .io_memory(512 * 1024)
        .spawn(move || async move {
            let done = crate::timeout::within(Duration::from_secs(60), f()).await;
            assert!(done.is_some(), "test timed out");
        })
        .expect("spawn executor")
        .join()
        .expect("executor thread");
}

fn listener() -> (OwnedFd, SocketAddr) {
    let l = StdListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    (OwnedFd::from(l), addr)
}

/// A connected client socket: loopback connect completes at once against a listening socket.
fn connect(addr: SocketAddr) -> OwnedFd {
    let s = StdStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    OwnedFd::from(s)
}

/// Await a condition without sleeping: yield to the executor (and so to the reactor) until
/// it holds.
async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        futures_lite::future::yield_now().await;
    }
}

/// A ring with 4 buffers of 64 bytes (recvs run dry at once) and a listener on it.
fn starved_ring() -> (Uring, UringListener, SocketAddr) {
    let uring = Uring::new(&UringConfig {
        buf_count: 4,
        buf_size: 64,
        ..small()
    })
    .expect("ring");
    let (lfd, addr) = listener();
    let listener = uring.listener(lfd);
    (uring, listener, addr)
}

/// A connection accepted on `uring` and its peer, a plain std socket.
async fn accepted_with_std_peer(uring: &Uring) -> (UringStream, StdStream) {
    let (lfd, addr) = listener();
    let mut listener = uring.listener(lfd);
    let client = StdStream::connect(addr).expect("connect");
    let server = listener.accept().await.expect("accept");
    (server, client)
}

fn small() -> UringConfig {
    UringConfig {
        sq_entries: 64,
        buf_count: 64,
        buf_size: 512,
        fixed_files: 256,
        max_tx_queued: 64 * 1024,
        max_rx_buffers: 32,
        defer_taskrun: false,
        spin: None,
    }
}

#[test]
fn release_strings_parse() {
    assert_eq!(parse_release("6.18.44-fc-v1252"), Some((6, 18)));
    assert_eq!(parse_release("5.4.0"), Some((5, 4)));
    assert_eq!(parse_release("garbage"), None);
}

#[test]
fn probe_reports_mode_and_backend_choice() {
    let support = probe();
    println!("{}", support.summary());
    if support.usable() {
        assert!(support.mode.is_some());
        for asked in [Some(IoBackend::Uring), None] {
            assert_eq!(select_backend(asked), (IoBackend::Uring, None));
        }
    } else {
        for asked in [Some(IoBackend::Uring), None] {
            let (backend, why) = select_backend(asked);
            assert_eq!(backend, IoBackend::Glommio);
            assert!(why.is_some_and(|w| w.contains("falling back")));
        }
    }
    assert_eq!(
        select_backend(Some(IoBackend::Glommio)),
        (IoBackend::Glommio, None)
    );
}

#[test]
fn echo_one_connection_through_accept_and_fixed_slots() {
    run(|| async {
        let uring = Uring::new(&small()).expect("ring");
        println!("setup: {}", uring.mode());
        let (lfd, addr) = listener();
        let mut listener = uring.listener(lfd);
        let mut client = uring.stream(connect(addr));
        let mut server = listener.accept().await.expect("accept");
        assert!(server.fixed_slot().is_some(), "registered slot");
        client.write_all(b"hello ").await.expect("queue");
        client.write_all(b"uring").await.expect("queue");
        client.flush().await.expect("flush");
        let mut got = Vec::new();
        let mut buf = [0u8; 3];
        while got.len() < 11 {
            let n = server.read(&mut buf).await.expect("read");
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"hello uring");
        server.write_all(&got).await.expect("echo");
        server.shutdown(Shutdown::Write).await.expect("shutdown");
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.expect("read to end");
        assert_eq!(back, b"hello uring");
        drop(client);
        drop(server);
        drop(listener);
        until(|| uring.stats().conns == 0 && uring.stats().fixed_slots_used == 0).await;
        let stats = uring.stats();
        assert_eq!(stats.buffer_violations, 0);
        assert_eq!(stats.buffers_in_kernel, 64);
        assert!(stats.enters > 0 && stats.accepts == 1);
    });
}

/// What a pooled connection's reuse check relies on instead of a `MSG_PEEK` syscall.
#[test]
fn an_armed_recv_shows_unsolicited_bytes_and_a_peer_close() {
    run(|| async {
        let uring = Uring::new(&small()).expect("ring");
        let (mut server, mut client) = accepted_with_std_peer(&uring).await;
        client.write_all(b"ping").expect("send");
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.expect("read");
        assert!(server.rx_watched(), "the recv stays armed after a read");
        assert!(!server.rx_pending(), "all read: clean");
        client.write_all(b"x").expect("send");
        until(|| server.rx_pending()).await;
        server.read_exact(&mut buf[..1]).await.expect("read");
        assert!(!server.rx_pending());
        drop(client);
        until(|| server.rx_pending()).await;
        assert!(!server.rx_watched(), "a closed stream's recv is over");
    });
}

#[test]
fn recv_lends_buffers_and_they_come_back() {
    run(|| async {
        let uring = Uring::new(&small()).expect("ring");
        let (mut server, mut client) = accepted_with_std_peer(&uring).await;
        std::io::Write::write_all(&mut client, &[7u8; 100]).expect("send");
        let buf = server.recv().await.expect("recv").expect("data");
        assert!(buf.iter().all(|&b| b == 7) && !buf.is_empty());
        assert!(
            uring.stats().buffers_in_kernel < 64,
            "lent buffer left the kernel's set"
        );
        drop(buf);
        drop(client);
        while let Some(buf) = server.recv().await.expect("recv") {
            assert!(buf.iter().all(|&b| b == 7));
        }
        assert_eq!(uring.stats().buffers_in_kernel, 64);
        assert_eq!(uring.stats().buffer_violations, 0);
    });
}

#[test]
fn starved_recv_resumes_when_buffers_return() {
    run(|| async {
        // 4 buffers of 64 bytes for 4 KiB of data: the multishot recv runs dry many times.
        let (uring, mut listener, addr) = starved_ring();
        let mut client = uring.stream(connect(addr));
        let mut server = listener.accept().await.expect("accept");
        let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&data).await.expect("queue");
        client.shutdown(Shutdown::Write).await.expect("shutdown");
        // Let the kernel fill every buffer before reading anything.
        until(|| uring.stats().enobufs > 0).await;
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, data);
        let stats = uring.stats();
        assert!(stats.enobufs > 0);
        assert_eq!(stats.buffer_violations, 0);
        assert_eq!(stats.buffers_in_kernel, 4);
    });
}

#[test]
fn slow_reader_is_paused_and_others_keep_buffers() {
    run(|| async {
        let uring = Uring::new(&UringConfig {
            buf_count: 64,
            buf_size: 256,
            max_rx_buffers: 8,
            ..small()
        })
        .expect("ring");
        let (lfd, addr) = listener();
        let mut listener = uring.listener(lfd);
        let mut slow_client = uring.stream(connect(addr));
        let mut slow = listener.accept().await.expect("accept");
        let data: Vec<u8> = (0..32 * 1024u32).map(|i| (i % 253) as u8).collect();
        // A steady stream (one flushed piece at a time) that nobody reads: the recv pauses
        // after 8 buffers and the rest waits in the socket, not in the pool. (A burst already
        // in the socket can still fill more buffers in one kernel pass before the pause.)
        for piece in data.chunks(200) {
            slow_client.write_all(piece).await.expect("queue");
            slow_client.flush().await.expect("flush");
        }
        assert!(uring.stats().rx_pauses > 0);
        let held = 64 - uring.stats().buffers_in_kernel;
        assert!(held <= 16, "a paused reader holds {held} of 64 buffers");
        // Another connection still echoes.
        let mut other_client = uring.stream(connect(addr));
        let mut other = listener.accept().await.expect("accept");
        other_client.write_all(b"ping").await.expect("queue");
        let mut buf = [0u8; 4];
        other.read(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");
        // The slow reader drains and gets everything, in order.
        slow_client
            .shutdown(Shutdown::Write)
            .await
            .expect("shutdown");
        let mut got = Vec::new();
        slow.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, data);
        assert_eq!(uring.stats().buffer_violations, 0);
    });
}

#[test]
fn handoff_moves_fd_and_unread_bytes_to_another_ring() {
    run(|| async {
        let here = Uring::new(&small()).expect("ring");
        let there = Uring::new(&small()).expect("second ring");
        let (lfd, addr) = listener();
        let mut listener = here.listener(lfd);
        let mut client = StdStream::connect(addr).expect("connect");
        let mut server = listener.accept().await.expect("accept");
        std::io::Write::write_all(&mut client, b"GET / HTTP/1.1\r\n\r\nPOST").expect("send");
        let mut first = [0u8; 4];
        server.read(&mut first).await.expect("read");
        assert_eq!(&first, b"GET ");
        until(|| here.stats().recv_bytes >= 22).await;
        let slots_before = here.stats().fixed_slots_used;
        let (fd, rest) = server.into_owned_fd().await.expect("handoff");
        assert_eq!(rest, b"/ HTTP/1.1\r\n\r\nPOST");
        assert_eq!(
            here.stats().fixed_slots_used,
            slots_before - 1,
            "slot left this ring's table"
        );
        let mut moved = there.stream(fd);
        assert!(moved.fixed_slot().is_some());
        std::io::Write::write_all(&mut client, b" more").expect("send");
        let mut buf = [0u8; 5];
        let n = moved.read(&mut buf).await.expect("read on new ring");
        assert_eq!(&buf[..n], &b" more"[..n]);
        moved.write_all(b"ok").await.expect("queue");
        moved.flush().await.expect("flush");
        let mut reply = [0u8; 2];
        std::io::Read::read_exact(&mut client, &mut reply).expect("reply");
        assert_eq!(&reply, b"ok");
        assert_eq!(
            here.stats().buffer_violations + there.stats().buffer_violations,
            0
        );
    });
}

#[test]
fn handoff_crosses_to_another_shard_thread() {
    let (handoff_tx, handoff_rx) = std::sync::mpsc::channel::<(OwnedFd, Vec<u8>)>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let owner = std::thread::spawn(move || {
        run(move || async move {
            // The owner shard: takes the fd into its own ring and serves the rest.
            let uring = Uring::new(&small()).expect("owner ring");
            let (fd, already_read) = handoff_rx.recv().expect("handoff");
            let mut stream = uring.stream(fd);
            assert!(stream.fixed_slot().is_some());
            let mut request = already_read;
            while !request.ends_with(b"\r\n\r\n") {
                let mut buf = [0u8; 64];
                let n = stream.read(&mut buf).await.expect("read");
                assert!(n > 0, "client closed early");
                request.extend_from_slice(&buf[..n]);
            }
            assert_eq!(request, b"GET /owned HTTP/1.1\r\n\r\n");
            stream.write_all(b"served by owner").await.expect("queue");
            stream.close().await.expect("close");
        });
    });
    let client = std::thread::spawn(move || {
        let addr = addr_rx.recv().expect("addr");
        let mut client = StdStream::connect(addr).expect("connect");
        std::io::Write::write_all(&mut client, b"GET /own").expect("send");
        // The rest goes out after the handoff has started: no byte may be lost either way.
        std::io::Write::write_all(&mut client, b"ed HTTP/1.1\r\n\r\n").expect("send");
        let mut reply = Vec::new();
        std::io::Read::read_to_end(&mut client, &mut reply).expect("reply");
        assert_eq!(reply, b"served by owner");
    });
    run(move || async move {
        // The shard the connection landed on.
        let uring = Uring::new(&small()).expect("ring");
        let (lfd, addr) = listener();
        let mut listener = uring.listener(lfd);
        addr_tx.send(addr).expect("addr");
        let mut stream = listener.accept().await.expect("accept");
        let mut first = [0u8; 4];
        let n = stream.read(&mut first).await.expect("read");
        assert!(n > 0);
        let (fd, mut rest) = stream.into_owned_fd().await.expect("handoff");
        let mut already_read = first[..n].to_vec();
        already_read.append(&mut rest);
        handoff_tx.send((fd, already_read)).expect("send to owner");
        until(|| uring.stats().conns == 0).await;
        assert_eq!(uring.stats().buffer_violations, 0);
    });
    owner.join().expect("owner shard");
    client.join().expect("client");
}

#[test]
fn dropped_stream_still_sends_what_was_queued() {
    run(|| async {
        let uring = Uring::new(&small()).expect("ring");
        let (lfd, addr) = listener();
        let mut listener = uring.listener(lfd);
        let mut client = uring.stream(connect(addr));
        let mut server = listener.accept().await.expect("accept");
        let data = vec![42u8; 200_000];
        server.write_all(&data).await.expect("queue");
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("read");
        assert_eq!(got.len(), data.len());
        drop(client);
        until(|| uring.stats().conns == 0).await;
    });
}

/// xorshift64*: deterministic per seed, printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Echo server task on the uring stream: reads with random-sized buffers (or borrows the
/// provided buffer), writes back split at random points, sometimes drops the connection early.
async fn echo_server(mut stream: UringStream, seed: u64) {
    let mut rng = Rng(seed | 1);
    let close_after = if rng.below(8) == 0 {
        Some(rng.below(20_000))
    } else {
        None
    };
    let mut echoed = 0usize;
    let mut buf = vec![0u8; 8192];
    loop {
        if close_after.is_some_and(|limit| echoed >= limit) {
            return; // drop: closed at random by the server
        }
        let data: Vec<u8> = if rng.below(2) == 0 {
            let want = 1 + rng.below(buf.len() - 1);
            match stream.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf[..n].to_vec(),
            }
        } else {
            match stream.recv().await {
                Ok(Some(b)) => b.to_vec(),
                Ok(None) | Err(_) => break,
            }
        };
        let mut at = 0;
        while at < data.len() {
            let cut = at + 1 + rng.below(data.len() - at);
            if stream.write_all(&data[at..cut]).await.is_err() {
                return;
            }
            at = cut;
        }
        echoed += data.len();
        if rng.below(4) == 0 && stream.flush().await.is_err() {
            return;
        }
    }
    let _ = stream.shutdown(Shutdown::Write).await;
}

/// Client on glommio's own TcpStream (an independent implementation to check against): sends
/// a random message in random pieces while reading the echo, sometimes closing early.
/// Returns whether the whole message came back.
async fn echo_client(addr: SocketAddr, seed: u64) -> bool {
    let mut rng = Rng(seed | 1);
    let len = 1 + rng.below(64 * 1024);
    let msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    let close_early = rng.below(8) == 0;
    let stream = glommio::net::TcpStream::connect(addr)
        .await
        .expect("connect");
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    let reading = async {
        let mut got = Vec::with_capacity(len);
        let mut buf = vec![0u8; 4096];
        loop {
            let want = 1 + rng_local(&mut got, buf.len());
            match reader.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if close_early && got.len() > len / 3 {
                break;
            }
        }
        got
    };
    let msg_w = msg.clone();
    let mut wrng = Rng(seed.rotate_left(17) | 1);
    let writing = async move {
        let mut at = 0;
        while at < msg_w.len() {
            let cut = at + 1 + wrng.below((msg_w.len() - at).min(9000));
            if writer.write_all(&msg_w[at..cut]).await.is_err() {
                return;
            }
            at = cut;
        }
        let _ = writer.close().await;
    };
    let (got, ()) = futures_lite::future::zip(reading, writing).await;
    assert!(
        msg.starts_with(&got),
        "echo is not a prefix of what was sent (seed {seed})"
    );
    got.len() == msg.len()
}

/// Read sizes vary with what has arrived so far (cheap, deterministic).
fn rng_local(got: &mut [u8], max: usize) -> usize {
    (got.len().wrapping_mul(2_654_435_761) >> 7) % max
}

#[test]
fn stress_many_connections_random_splits_and_closes() {
    stress(false);
}

/// The same with `DEFER_TASKRUN` (slower wakes under glommio, see `UringConfig`): correctness
/// must not depend on the setup mode.
#[test]
fn stress_with_defer_taskrun() {
    stress(true);
}

fn stress(defer_taskrun: bool) {
    let seed = std::env::var("URING_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    println!("stress seed {seed} (URING_STRESS_SEED to replay)");
    run(move || async move {
        // Few, small buffers: recvs run dry and buffers cycle through the kernel constantly.
        let uring = Uring::new(&UringConfig {
            buf_count: 64,
            buf_size: 1024,
            fixed_files: 32, // fewer slots than open connections: some use plain fds
            defer_taskrun,
            ..small()
        })
        .expect("ring");
        let (lfd, addr) = listener();
        let mut listener = uring.listener(lfd);
        const CONNS: usize = 200;
        const PARALLEL: usize = 50;
        let acceptor = {
            glommio::spawn_local(async move {
                let mut servers = Vec::new();
                for i in 0..CONNS {
                    let stream = listener.accept_now().await;
                    servers.push(glommio::spawn_local(echo_server(
                        stream,
                        seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    )));
                }
                drop(listener);
                for s in servers {
                    s.await;
                }
            })
        };
        let mut complete = 0;
        for batch in 0..CONNS / PARALLEL {
            let clients: Vec<_> = (0..PARALLEL)
                .map(|i| {
                    let s = seed.wrapping_add((batch * PARALLEL + i) as u64 * 7919);
                    glommio::spawn_local(echo_client(addr, s))
                })
                .collect();
            for c in clients {
                complete += usize::from(c.await);
            }
        }
        acceptor.await;
        until(|| uring.stats().conns == 0 && uring.stats().fixed_slots_used == 0).await;
        let stats = uring.stats();
        println!(
            "{}: {complete}/{CONNS} complete echoes; {stats:?}",
            uring.mode()
        );
        assert!(complete > CONNS / 2, "most connections echo fully");
        assert_eq!(
            stats.buffer_violations, 0,
            "a buffer was reused while the kernel owned it"
        );
        assert_eq!(
            stats.buffers_in_kernel, 64,
            "every buffer went back to the kernel"
        );
        assert!(stats.unfixed_fds > 0 && stats.accepts == CONNS as u64);
        assert_eq!(stats.fixed_slots_used, 0);
    });
}

impl UringListener {
    /// Test helper: accept, retrying transient errors.
    async fn accept_now(&mut self) -> UringStream {
        loop {
            if let Ok(s) = self.accept().await {
                return s;
            }
        }
    }
}
