//! The reactor's park and wake: an idle shard parks again and again without an eventfd wake, and
//! a recv starved of buffers resumes when another connection returns them.

use super::*;

/// glommio keeps a waker clone per poll of a pending read and counts a task's references in an
/// `i16`: a reactor that polled its eventfd read on every park panicked its shard after 32 767
/// parks without an eventfd wake (an idle shard's 5 ms rescues: about 164 s).
#[test]
fn an_idle_reactor_parks_again_and_again_without_dying() {
    run(|| async {
        let uring = Uring::new(&small()).expect("ring");
        for _ in 0..40_000 {
            until(|| uring.stats().reactor_parked).await;
            uring.notify_reactor();
        }
        until(|| uring.stats().reactor_parked).await;
        // Still serving: a connection echoes through the ring after all those parks.
        let (lfd, addr) = listener();
        let mut listener = uring.listener(lfd);
        let mut client = StdStream::from(connect(addr));
        let mut server = listener.accept().await.expect("accept");
        client.write_all(b"ping").expect("send");
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"ping");
    });
}

/// The stall of a busy shard: one connection holds every buffer, another one's recv runs dry
/// (ENOBUFS) and its reader parks; when the first reader returns its buffers, the starved recv
/// must be re-armed even though nothing else happens on the ring (the reactor is parked).
#[test]
fn starved_connection_resumes_when_another_returns_buffers() {
    run(|| async {
        let (uring, mut listener, addr) = starved_ring();
        // Plain sockets on the client side, so the only ring activity is the servers'.
        let mut hog_client = StdStream::from(connect(addr));
        let mut hog = listener.accept().await.expect("accept");
        let mut starved_client = StdStream::from(connect(addr));
        let mut starved = listener.accept().await.expect("accept");
        let data: Vec<u8> = (0..256u32).map(|i| (i % 249) as u8).collect();
        hog_client.write_all(&data).expect("send");
        until(|| uring.stats().buffers_in_kernel == 0).await;
        starved_client.write_all(b"hello").expect("send");
        until(|| uring.stats().enobufs > 0).await;
        // The completions so far woke the reactor through the eventfd; once it parks on a fresh
        // eventfd read, only a notification or a new completion can wake it.
        until(|| {
            let stats = uring.stats();
            stats.eventfd_wakes > 0 && stats.reactor_parked
        })
        .await;
        let reader = glommio::spawn_local(async move {
            let mut buf = [0u8; 5];
            starved.read_exact(&mut buf).await.map(|()| buf)
        });
        // Let the starved reader park before the buffers come back.
        for _ in 0..10 {
            futures_lite::future::yield_now().await;
        }
        let mut got = vec![0u8; data.len()];
        hog.read_exact(&mut got).await.expect("read");
        assert_eq!(got, data);
        let resumed = crate::timeout::within(Duration::from_secs(5), reader).await;
        let hello = resumed
            .expect("the starved connection resumed")
            .expect("read");
        assert_eq!(&hello, b"hello");
        assert_eq!(uring.stats().buffer_violations, 0);
    });
}

/// With `spin`, an out-of-work reactor looks at the ring's flags instead of parking: answers a
/// peer thread sends while the shard waits are reaped without the eventfd round trip; without
/// it, the reactor parks and the eventfd (or the rescue) wakes it.
#[test]
fn a_spinning_reactor_reaps_without_parking() {
    const ROUNDS: u8 = 20;
    for spin in [None, Some(Duration::from_secs(30))] {
        run(move || async move {
            let uring = Uring::new(&UringConfig { spin, ..small() }).expect("ring");
            let (lfd, addr) = listener();
            let mut listener = uring.listener(lfd);
            let mut peer = StdStream::from(connect(addr));
            let mut server = listener.accept().await.expect("accept");
            // The peer answers every byte on its own thread, 2 ms later (a slow upstream: the
            // shard runs out of work before the answer comes), while the shard waits.
            let echo = std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                for _ in 0..ROUNDS {
                    std::io::Read::read_exact(&mut peer, &mut byte).expect("peer read");
                    std::thread::park_timeout(Duration::from_millis(2));
                    std::io::Write::write_all(&mut peer, &byte).expect("peer write");
                }
            });
            let before = uring.stats();
            for round in 0..ROUNDS {
                server.write_all(&[round]).await.expect("send");
                server.flush().await.expect("flush");
                let mut got = [0u8; 1];
                server.read_exact(&mut got).await.expect("read");
                assert_eq!(got[0], round);
            }
            let after = uring.stats();
            let parked_wakes = (after.eventfd_wakes + after.lost_wakes)
                - (before.eventfd_wakes + before.lost_wakes);
            match spin {
                Some(_) => assert_eq!(parked_wakes, 0, "the spinning reactor parked"),
                None => assert!(parked_wakes > 0, "the reactor never parked: nothing tested"),
            }
            // The peer has written its last answer: it ends without waiting on the shard.
            echo.join().expect("echo thread");
        });
    }
}
