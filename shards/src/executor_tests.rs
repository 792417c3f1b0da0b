//! Tests of [`super::Runtime`]: start, inputs, spec checks, and every way a shard can end: its
//! main future or a task it spawned panicking, a sibling that never ends.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Small io memory so several test runtimes fit an 8 MiB memlock limit at once.
pub(crate) const TEST_IO_MEMORY: usize = 512 * 1024;

/// `shard_count` shards over the usable cores, repeating cores when there are fewer.
pub(crate) fn test_spec(shard_count: usize) -> RuntimeSpec {
    let online = online_cores().unwrap();
    let cores = (0..shard_count).map(|i| online[i % online.len()]).collect();
    RuntimeSpec {
        io_memory: TEST_IO_MEMORY,
        name: String::from("test"),
        ..RuntimeSpec::new(cores)
    }
}

#[test]
fn every_shard_runs_once_with_its_ctx() {
    let spec = test_spec(3);
    let cores = spec.cores.clone();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen_in = seen.clone();
    let runtime = Runtime::start(spec, move |ctx| {
        let seen = seen_in.clone();
        async move {
            // Shard state born on the shard: not Send.
            let local = Rc::new(Cell::new(ctx.id.0));
            glommio::yield_if_needed().await;
            assert_eq!(ctx.shard_count, 3);
            assert_eq!(ctx.ring.shard_count(), 3);
            seen.fetch_add(1 << (8 * local.get()), Ordering::SeqCst);
        }
    })
    .unwrap();
    assert_eq!(runtime.shard_count(), 3);
    runtime.join().unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 0x01_01_01);
    assert_eq!(cores.len(), 3);
}

#[test]
fn start_each_delivers_inputs_by_shard() {
    let got = Arc::new(AtomicUsize::new(0));
    let got_in = got.clone();
    let runtime = Runtime::start_each(test_spec(2), vec![10usize, 20], move |ctx, input| {
        let got = got_in.clone();
        async move {
            assert_eq!(input, 10 * (ctx.id.0 + 1));
            got.fetch_add(input, Ordering::SeqCst);
        }
    })
    .unwrap();
    runtime.join().unwrap();
    assert_eq!(got.load(Ordering::SeqCst), 30);
}

#[test]
fn panicking_shard_is_an_error_not_an_abort() {
    let runtime = Runtime::start(test_spec(2), |ctx| async move {
        if ctx.id == ShardId(1) {
            panic!("shard one gives up");
        }
    })
    .unwrap();
    match runtime.join() {
        Err(Error::ShardPanicked { shard, message, .. }) => {
            assert_eq!(shard, ShardId(1));
            assert_eq!(message, "shard one gives up");
        }
        other => panic!("expected ShardPanicked, got {other:?}"),
    }
}

#[test]
fn until_failure_returns_the_failure() {
    let mut runtime = Runtime::start(test_spec(2), |ctx| async move {
        if ctx.id == ShardId(0) {
            panic!("{} failed", ctx.id);
        }
    })
    .unwrap();
    assert!(matches!(
        runtime.until_failure(),
        Err(Error::ShardPanicked { shard: ShardId(0), ref message, .. }) if message == "0 failed"
    ));
    runtime.join().unwrap();
}

/// Runs `wait` on another thread and returns its result, or panics if it takes longer than
/// `bound`: a join that hangs fails the test instead of hanging it.
fn within<T: Send + 'static>(bound: Duration, wait: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(wait());
    });
    match rx.recv_timeout(bound) {
        Ok(value) => value,
        Err(_) => panic!("still waiting after {bound:?}"),
    }
}

/// A stop signal per shard: the test holds the senders; a shard's `recv` returns `None` when
/// its sender is dropped.
type Stops = Vec<glommio::channels::shared_channel::SharedSender<()>>;
type StopRx = glommio::channels::shared_channel::SharedReceiver<()>;

fn stops(shard_count: usize) -> (Stops, Vec<StopRx>) {
    (0..shard_count)
        .map(|_| glommio::channels::shared_channel::new_bounded(1))
        .unzip()
}

async fn stopped(stop: StopRx) {
    let _ = stop.connect().await.recv().await;
}

/// Starts two shards that run until stopped, shard 0 running `trouble` first, and waits for
/// the first failure.
fn fail_with<Fut>(trouble: fn() -> Fut) -> (Result<(), Error>, Runtime, Stops)
where
    Fut: Future<Output = ()> + 'static,
{
    let (senders, receivers) = stops(2);
    let mut runtime = Runtime::start_each(test_spec(2), receivers, move |ctx, stop| async move {
        if ctx.id == ShardId(0) {
            trouble().await;
        }
        stopped(stop).await;
    })
    .unwrap();
    let (failure, runtime) = within(Duration::from_secs(10), move || {
        (runtime.until_failure(), runtime)
    });
    (failure, runtime, senders)
}

fn assert_panicked(result: Result<(), Error>, text: &str) {
    match result {
        Err(Error::ShardPanicked { shard, message, .. }) => {
            assert_eq!(shard, ShardId(0));
            assert_eq!(message, text);
        }
        other => panic!("expected ShardPanicked, got {other:?}"),
    }
}

#[test]
fn a_panicking_spawned_task_fails_its_shard_at_once() {
    // The main future keeps waiting for its stop signal: only the spawned task panics.
    let (failure, runtime, senders) = fail_with(|| async {
        glommio::spawn_local(async {
            glommio::yield_if_needed().await;
            panic!("connection task panics");
        })
        .detach();
    });
    assert_panicked(failure, "connection task panics");
    drop(senders);
    runtime.join_within(Duration::from_secs(10)).unwrap();
}

#[test]
fn a_panic_the_shard_catches_still_fails_it() {
    // As glommio does around wakers: the panic is caught and the shard goes on, broken.
    let (failure, runtime, senders) = fail_with(|| async {
        let _ = std::panic::catch_unwind(|| panic!("swallowed"));
    });
    assert_panicked(failure, "swallowed");
    drop(senders);
    runtime.join_within(Duration::from_secs(10)).unwrap();
}

#[test]
fn a_sibling_that_never_ends_bounds_the_join() {
    let (wedge_tx, wedge) = mpsc::channel::<()>();
    let inputs = vec![None, Some(wedge)];
    let mut runtime = Runtime::start_each(test_spec(2), inputs, |_ctx, wedge| async move {
        match wedge {
            // Shard 1 blocks its thread, as a shard stuck on a lost mesh reply never ends.
            Some(wedge) => {
                let _ = wedge.recv();
            }
            None => panic!("shard zero dies"),
        }
    })
    .unwrap();
    let failure = runtime.until_failure();
    assert!(matches!(
        failure,
        Err(Error::ShardPanicked {
            shard: ShardId(0),
            ..
        })
    ));
    let bound = Duration::from_millis(300);
    let started = Instant::now();
    match runtime.join_within(bound) {
        Err(Error::ShardsStuck { shards, waited }) => {
            assert_eq!(shards, vec![ShardId(1)]);
            assert_eq!(waited, bound);
        }
        other => panic!("expected ShardsStuck, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // Let the detached thread end.
    drop(wedge_tx);
}

#[test]
fn rejects_bad_specs_before_starting() {
    let noop = |_ctx: ShardCtx| async {};
    assert!(matches!(
        Runtime::start(RuntimeSpec::new(Vec::new()), noop),
        Err(Error::NoCores)
    ));
    assert!(matches!(
        Runtime::start(RuntimeSpec::new(vec![crate::placement::MAX_CORE]), noop),
        Err(Error::NoSuchCore { .. })
    ));
    assert!(matches!(
        Runtime::start_each(test_spec(2), vec![()], |_ctx, ()| async {}),
        Err(Error::InputCountMismatch {
            inputs: 1,
            shards: 2
        })
    ));
    let greedy = RuntimeSpec {
        io_memory: 1 << 40,
        ..test_spec(1)
    };
    if let Ok(crate::MemlockLimit::Bytes(_)) = crate::memlock_limit() {
        assert!(matches!(
            Runtime::start(greedy, noop),
            Err(Error::MemLock { .. })
        ));
    }
}

#[test]
fn panic_message_reads_str_and_string() {
    assert_eq!(panic_message(&"static"), "static");
    assert_eq!(panic_message(&String::from("owned")), "owned");
    assert_eq!(panic_message(&5u8), "<non-string panic payload>");
}
