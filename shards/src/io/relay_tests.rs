//! Unit tests of [`relay`] over local socket pairs, on both I/O paths.

use std::future::Future;
use std::io;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::relay;
use crate::io::{NetStream, ShardIo};
use crate::uring::IoBackend;

fn run<F, Fut>(backend: IoBackend, f: F)
where
    F: FnOnce(ShardIo) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .io_memory(512 * 1024)
        .spawn(move || async move {
            let (io, _) = ShardIo::start(backend, None);
            let done = crate::timeout::within(Duration::from_secs(30), f(io)).await;
            assert!(done.is_some(), "test timed out");
        })
        .expect("spawn executor")
        .join()
        .expect("executor thread");
}

/// Both paths where the kernel has io_uring, glommio's otherwise.
fn backends() -> Vec<IoBackend> {
    if crate::uring::probe().usable() {
        vec![IoBackend::Glommio, IoBackend::Uring]
    } else {
        vec![IoBackend::Glommio]
    }
}

/// Two pairs: the client's end and the relay's end of one, the relay's end and the server's
/// end of the other.
fn two_pairs(io: &ShardIo) -> [NetStream; 4] {
    let (near, client) = io.pair().expect("pair");
    let (far, server) = io.pair().expect("pair");
    [io.stream(client), near, far, io.stream(server)]
}

/// Relays `a` and `b` on a task of its own (8-byte buffers: many rounds per message).
fn spawn_relay(mut a: NetStream, mut b: NetStream, stall: Duration) -> Relaying {
    glommio::spawn_local(async move {
        let bufs = (Vec::with_capacity(8), Vec::with_capacity(8));
        relay(&mut a, &mut b, bufs, stall).await.0
    })
}

/// The relay's result, awaited.
type Relaying = glommio::Task<io::Result<()>>;

/// Runs `test` on both paths with a client and a server whose bytes a relay (a `stall` limit)
/// carries.
fn relayed<Fut>(stall: Duration, test: fn(NetStream, NetStream, Relaying) -> Fut)
where
    Fut: Future<Output = ()> + 'static,
{
    for backend in backends() {
        run(backend, move |io| async move {
            let [client, near, far, server] = two_pairs(&io);
            test(client, server, spawn_relay(near, far, stall)).await;
        });
    }
}

#[test]
fn bytes_pass_both_ways_until_one_side_closes() {
    relayed(
        Duration::from_secs(10),
        |mut client, mut server, relaying| async move {
            let request = b"a request longer than one buffer";
            client.write_all(request).await.expect("write");
            client.flush().await.expect("flush");
            let mut got = vec![0u8; request.len()];
            server.read_exact(&mut got).await.expect("relayed");
            assert_eq!(got, request);
            for event in [&b"data: one\n\n"[..], b"data: two, a longer event\n\n"] {
                server.write_all(event).await.expect("write");
                server.flush().await.expect("flush");
                let mut got = vec![0u8; event.len()];
                client.read_exact(&mut got).await.expect("relayed back");
                assert_eq!(got, event, "each event as it comes");
            }
            drop(server);
            relaying.await.expect("the server's close ends the relay");
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.expect("EOF");
            assert!(rest.is_empty(), "the client's side is closed with it");
        },
    );
}

/// Writes `bytes` on `from` and shuts its write side down; `to` reads them, then EOF.
async fn send_then_close(from: &mut NetStream, to: &mut NetStream, bytes: &[u8]) {
    from.write_all(bytes).await.expect("write");
    from.close().await.expect("shut down writing");
    let mut got = Vec::new();
    to.read_to_end(&mut got).await.expect("the bytes, then EOF");
    assert_eq!(got, bytes);
}

#[test]
fn a_client_that_half_closes_still_gets_the_answer() {
    relayed(
        Duration::from_secs(10),
        |mut client, mut server, relaying| async move {
            // The request, then the client's half-close: the server sees both.
            send_then_close(&mut client, &mut server, b"request").await;
            send_then_close(&mut server, &mut client, b"the answer").await;
            relaying.await.expect("the server's close ends the relay");
        },
    );
}

#[test]
fn a_peer_that_stops_reading_ends_the_relay_after_the_stall_limit() {
    relayed(
        Duration::from_millis(100),
        |mut client, server, relaying| async move {
            // Kept open and never read.
            let _server = server;
            // The server never reads: its socket buffers fill, then the relay's, then the
            // client's writes wait too.
            glommio::spawn_local(async move {
                let chunk = vec![7u8; 64 * 1024];
                while client.write_all(&chunk).await.is_ok() {}
            })
            .detach();
            let err = relaying.await.expect_err("the stall ends it");
            assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        },
    );
}
