//! Starting, pinning and joining the shards: one glommio `LocalExecutor` thread per core.
//!
//! Not here: choosing cores ([`crate::placement`]), application state or logic. Cold: runs at
//! startup and shutdown only; nothing here is on a request path.
//!
//! Start-up is all or nothing. The memlock limit and the cores are checked first; then every
//! executor thread is spawned but held at a gate before it calls the per-shard closure. Only when
//! all threads exist are they released; if one fails to spawn, the others are told to return
//! without running the closure, joined, and the spawn error is returned. So a caller never ends
//! up with half a runtime serving traffic.
//!
//! A shard that panics unwinds its thread; [`Runtime::join`] reports it as
//! [`Error::ShardPanicked`] instead of aborting the process.

use std::any::Any;
use std::future::Future;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::{
    BuilderErrorKind, DefaultStallDetectionHandler, ExecutorJoinHandle, GlommioError,
    LocalExecutorBuilder, Placement,
};

use crate::error::Error;
use crate::memlock::{check_memlock, DEFAULT_IO_MEMORY};
use crate::placement::online_cores;
use crate::ring::{Ring, DEFAULT_VNODES};
use crate::ShardId;

/// What to start: one shard per entry of `cores`, and how to build each executor.
#[derive(Debug, Clone)]
pub struct RuntimeSpec {
    /// Core of each shard: shard `i` is pinned to `cores[i]`. Use
    /// [`crate::select_cores`] to build it from user input; a core may repeat here (tests run
    /// more shards than cores), but every core must be usable by this process.
    pub cores: Vec<usize>,
    /// Bytes of io_uring registered buffers per shard; see [`crate::DEFAULT_IO_MEMORY`].
    pub io_memory: usize,
    /// Thread name prefix; shard `i`'s thread is named `{name}{i}` (glommio appends an id).
    pub name: String,
    /// Busy-poll this long before parking an idle executor: lower wake-up latency for a core
    /// burnt while idle. `None` parks at once.
    pub spin_before_park: Option<Duration>,
    /// Enable glommio's stall detector: a task running more than 10 ms past its slice gets its
    /// backtrace logged (through the `log` crate, signal `SIGUSR1`).
    pub detect_stalls: bool,
    /// Virtual nodes per shard of the [`Ring`] every [`ShardCtx`] carries.
    pub vnodes_per_shard: usize,
}

impl RuntimeSpec {
    /// A spec for these cores with default io memory, name `shard`, no spinning, no stall
    /// detection, [`DEFAULT_VNODES`] ring points per shard.
    pub fn new(cores: Vec<usize>) -> Self {
        Self {
            cores,
            io_memory: DEFAULT_IO_MEMORY,
            name: String::from("shard"),
            spin_before_park: None,
            detect_stalls: false,
            vnodes_per_shard: DEFAULT_VNODES,
        }
    }
}

/// What a shard knows about itself; handed to the per-shard closure. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShardCtx {
    /// This shard's index.
    pub id: ShardId,
    /// How many shards the runtime has.
    pub shard_count: usize,
    /// The core this shard is pinned to.
    pub core: usize,
    /// The ring over all shards, built once at start and shared read-only (an `Arc` touched
    /// only when cloned; lookups are plain reads).
    pub ring: Arc<Ring>,
}

/// One running shard, as the launching thread sees it.
#[derive(Debug)]
struct ShardHandle {
    id: ShardId,
    core: usize,
    thread: ExecutorJoinHandle<()>,
}

/// Running shards; [`Runtime::join`] waits for them.
#[derive(Debug)]
#[must_use = "shards run until joined; dropping the Runtime detaches them"]
pub struct Runtime {
    shards: Vec<ShardHandle>,
    /// Each shard sends its index here when its future ends, returns or unwinds.
    exits: mpsc::Receiver<usize>,
}

/// Sends the shard's index when dropped: on completion, on panic unwinding, or when the
/// shard is told not to run.
struct ExitNotice {
    shard: usize,
    exits: mpsc::Sender<usize>,
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        // The receiver is gone only when the Runtime was dropped; nobody is waiting then.
        let _ = self.exits.send(self.shard);
    }
}

impl Runtime {
    /// Starts one shard per core in `spec` and runs `per_shard(ctx)` on each.
    ///
    /// The closure is cloned to every shard thread and called there, so the future it returns
    /// need not be `Send`: build `Rc`/`RefCell` state inside it. The shard's executor ends when
    /// that future completes (tasks it spawned and did not await are dropped).
    ///
    /// # Errors
    /// [`Error::NoCores`], [`Error::NoSuchCore`], [`Error::MemLock`]/[`Error::MemLockQuery`],
    /// [`Error::OnlineCoresUnknown`], or [`Error::Spawn`] for the first shard that could not
    /// start (no shard runs the closure then).
    pub fn start<F, Fut>(spec: RuntimeSpec, per_shard: F) -> Result<Runtime, Error>
    where
        F: Fn(ShardCtx) -> Fut + Send + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let inputs = vec![(); spec.cores.len()];
        Self::start_each(spec, inputs, move |ctx, ()| per_shard(ctx))
    }

    /// Like [`Runtime::start`], but shard `i` also receives `inputs[i]` by value: the way to
    /// move per-shard things such as a [`crate::MeshEndpoint`] onto their shard without a lock.
    ///
    /// # Errors
    /// As [`Runtime::start`], plus [`Error::InputCountMismatch`] when `inputs.len()` differs
    /// from the number of cores.
    pub fn start_each<S, F, Fut>(
        spec: RuntimeSpec,
        inputs: Vec<S>,
        per_shard: F,
    ) -> Result<Runtime, Error>
    where
        S: Send + 'static,
        F: Fn(ShardCtx, S) -> Fut + Send + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let shard_count = spec.cores.len();
        if shard_count == 0 {
            return Err(Error::NoCores);
        }
        if inputs.len() != shard_count {
            return Err(Error::InputCountMismatch {
                inputs: inputs.len(),
                shards: shard_count,
            });
        }
        let online = online_cores()?;
        if let Some(&core) = spec.cores.iter().find(|core| !online.contains(core)) {
            return Err(Error::NoSuchCore { core, online });
        }
        check_memlock(shard_count, spec.io_memory)?;

        let ring = Arc::new(Ring::build(shard_count, spec.vnodes_per_shard));
        let (exit_tx, exits) = mpsc::channel();
        let mut shards = Vec::with_capacity(shard_count);
        let mut gates = Vec::with_capacity(shard_count);
        for ((index, &core), input) in spec.cores.iter().enumerate().zip(inputs) {
            let ctx = ShardCtx {
                id: ShardId(index),
                shard_count,
                core,
                ring: Arc::clone(&ring),
            };
            let (gate_tx, gate) = mpsc::channel::<bool>();
            let notice = ExitNotice {
                shard: index,
                exits: exit_tx.clone(),
            };
            let per_shard = per_shard.clone();
            let spawned = builder(&spec, index, core).spawn(move || {
                let notice = notice;
                async move {
                    let _notice = notice;
                    // Blocks this new thread only until every shard exists (see module docs).
                    if gate.recv() == Ok(true) {
                        per_shard(ctx, input).await;
                    }
                }
            });
            match spawned {
                Ok(thread) => {
                    shards.push(ShardHandle {
                        id: ShardId(index),
                        core,
                        thread,
                    });
                    gates.push(gate_tx);
                }
                Err(err) => {
                    // Dropping the gates makes every started shard return without running.
                    drop(gates);
                    let runtime = Runtime { shards, exits };
                    let _ = runtime.join();
                    return Err(Error::Spawn {
                        shard: ShardId(index),
                        core,
                        source: err.into(),
                    });
                }
            }
        }
        for gate in gates {
            // A shard whose thread already died cannot be released; join reports it.
            let _ = gate.send(true);
        }
        Ok(Runtime { shards, exits })
    }

    /// How many shards this runtime started.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Waits until every shard has ended.
    ///
    /// Shards are joined in the order they end; the first failure seen is returned after all
    /// of them are joined.
    ///
    /// # Errors
    /// [`Error::ShardPanicked`] for a shard that panicked, [`Error::ShardFailed`] for an
    /// executor that failed to set up on its thread (CPU binding, io_uring).
    pub fn join(mut self) -> Result<(), Error> {
        let mut first_error = None;
        while let Some(result) = self.join_next() {
            if let Err(err) = result {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Waits until every shard has ended or one has failed, whichever comes first.
    ///
    /// For servers whose shards run until shutdown: a failed shard returns at once so the caller
    /// can exit the process, instead of waiting on healthy shards forever. The other shards keep
    /// running (they are detached when the process ends).
    ///
    /// # Errors
    /// As [`Runtime::join`], for the first shard that fails.
    pub fn join_until_failure(mut self) -> Result<(), Error> {
        while let Some(result) = self.join_next() {
            result?;
        }
        Ok(())
    }

    /// Joins the next shard to end; `None` when all are joined.
    fn join_next(&mut self) -> Option<Result<(), Error>> {
        if self.shards.is_empty() {
            return None;
        }
        // Every shard sends exactly one notice (a shard that failed to spawn sends one too, for
        // an index no longer listed: skip those). A receive error means no notice is left
        // to wait for; then join whichever shard is first.
        let position = loop {
            match self.exits.recv() {
                Ok(index) => match self.shards.iter().position(|s| s.id.0 == index) {
                    Some(position) => break position,
                    None => continue,
                },
                Err(mpsc::RecvError) => break 0,
            }
        };
        let shard = self.shards.swap_remove(position);
        Some(shard_result(shard))
    }
}

fn builder(spec: &RuntimeSpec, index: usize, core: usize) -> LocalExecutorBuilder {
    let mut builder = LocalExecutorBuilder::new(Placement::Fixed(core))
        .name(&format!("{}{index}", spec.name))
        .io_memory(spec.io_memory);
    if let Some(spin) = spec.spin_before_park {
        builder = builder.spin_before_park(spin);
    }
    if spec.detect_stalls {
        builder = builder.detect_stalls(Some(Box::new(DefaultStallDetectionHandler {})));
    }
    builder
}

fn shard_result(shard: ShardHandle) -> Result<(), Error> {
    let ShardHandle { id, core, thread } = shard;
    match thread.join() {
        Ok(()) => Ok(()),
        Err(GlommioError::BuilderError(BuilderErrorKind::ThreadPanic(payload))) => {
            Err(Error::ShardPanicked {
                shard: id,
                core,
                message: panic_message(payload.as_ref()),
            })
        }
        Err(err) => Err(Error::ShardFailed {
            shard: id,
            core,
            source: err.into(),
        }),
    }
}

/// The text of a panic payload: `panic!` produces `&str` or `String`.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        String::from("<non-string panic payload>")
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
    fn join_until_failure_returns_the_failure() {
        let runtime = Runtime::start(test_spec(2), |ctx| async move {
            if ctx.id == ShardId(0) {
                panic!("{} failed", ctx.id);
            }
        })
        .unwrap();
        assert!(matches!(
            runtime.join_until_failure(),
            Err(Error::ShardPanicked { shard: ShardId(0), ref message, .. }) if message == "0 failed"
        ));
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
}
