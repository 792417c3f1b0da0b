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
//! A panic anywhere on a shard thread (its main future, a task it spawned, a waker glommio
//! calls under `catch_unwind`) is reported to the launcher the moment it happens ([`crate::exits`]
//! has how); [`Runtime::join`] and [`Runtime::until_failure`] turn it into
//! [`Error::ShardPanicked`] instead of aborting the process or waiting on the dead shard, and
//! [`Runtime::join_within`] bounds the wait for shards that never end.

use std::future::Future;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use glommio::{
    BuilderErrorKind, DefaultStallDetectionHandler, ExecutorJoinHandle, GlommioError,
    LocalExecutorBuilder, Placement,
};

use crate::error::Error;
use crate::exits::{adopt, panic_message, Exit, ExitNotice};
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
    /// Set when the shard panicked: its error, already reported or to report.
    panicked: Option<String>,
}

impl ShardHandle {
    fn panic_error(&self, message: String) -> Error {
        Error::ShardPanicked {
            shard: self.id,
            core: self.core,
            message,
        }
    }
}

/// Running shards; [`Runtime::join`] waits for them.
#[derive(Debug)]
#[must_use = "shards run until joined; dropping the Runtime detaches them"]
pub struct Runtime {
    /// Shards whose thread has not been seen to end.
    shards: Vec<ShardHandle>,
    /// Each shard sends [`Exit::Ended`] once when its thread ends, and [`Exit::Panicked`] when
    /// it panics.
    exits: mpsc::Receiver<Exit>,
}

/// What one wait on the exit channel saw.
enum Event {
    /// A shard failed (first report of its failure).
    Failed(Error),
    /// A shard ended without failing.
    Ended,
    /// Every shard has ended.
    AllEnded,
    /// The deadline passed first.
    TimedOut,
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
            // Dropped with the closure if the executor never starts; else owned by the thread.
            let notice = ExitNotice::new(index, exit_tx.clone());
            let per_shard = per_shard.clone();
            let spawned = builder(&spec, index, core).spawn(move || {
                adopt(notice);
                async move {
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
                        panicked: None,
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
    /// of them are joined. Unbounded: a shard that never ends (a panicked one stuck unwinding,
    /// a healthy one never told to stop) keeps it waiting; see [`Runtime::join_within`].
    ///
    /// # Errors
    /// [`Error::ShardPanicked`] for a shard that panicked, [`Error::ShardFailed`] for an
    /// executor that failed to set up on its thread (CPU binding, io_uring).
    pub fn join(mut self) -> Result<(), Error> {
        self.join_until(None)
    }

    /// Like [`Runtime::join`], but gives up at `bound` from now: the shards still running are
    /// detached (they end with the process) and named in the error.
    ///
    /// # Errors
    /// As [`Runtime::join`]; a shard's failure is reported before shards that did not end, then
    /// [`Error::ShardsStuck`].
    pub fn join_within(mut self, bound: Duration) -> Result<(), Error> {
        self.join_until(Some(bound))
    }

    /// Waits until every shard has ended or one has failed, whichever comes first.
    ///
    /// For servers whose shards run until shutdown: a shard that panics is reported at once,
    /// even while its thread is still unwinding or will never end, so the caller can tell the
    /// others to stop and then [`Runtime::join_within`] a bound. Shards not yet ended stay in
    /// `self`.
    ///
    /// # Errors
    /// As [`Runtime::join`], for the first shard that fails.
    pub fn until_failure(&mut self) -> Result<(), Error> {
        loop {
            match self.next_event(None) {
                Event::Failed(err) => return Err(err),
                Event::Ended => {}
                Event::AllEnded | Event::TimedOut => return Ok(()),
            }
        }
    }

    fn join_until(&mut self, bound: Option<Duration>) -> Result<(), Error> {
        let deadline = bound.map(|bound| Instant::now() + bound);
        let mut first_error = None;
        loop {
            match self.next_event(deadline) {
                Event::Failed(err) => {
                    first_error.get_or_insert(err);
                }
                Event::Ended => {}
                Event::AllEnded => break,
                Event::TimedOut => {
                    let stuck = Error::ShardsStuck {
                        shards: self.shards.iter().map(|s| s.id).collect(),
                        waited: bound.unwrap_or_default(),
                    };
                    // Dropping the handles detaches the threads.
                    self.shards.clear();
                    first_error.get_or_insert(stuck);
                    break;
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Waits for the next thing a shard reports, until `deadline` if any.
    fn next_event(&mut self, deadline: Option<Instant>) -> Event {
        loop {
            if self.shards.is_empty() {
                return Event::AllEnded;
            }
            let exit = match deadline {
                None => self
                    .exits
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(deadline) => self
                    .exits
                    .recv_timeout(deadline.saturating_duration_since(Instant::now())),
            };
            match exit {
                Ok(Exit::Panicked { shard, message }) => {
                    let Some(handle) = self.shards.iter_mut().find(|s| s.id.0 == shard) else {
                        continue;
                    };
                    if handle.panicked.is_some() {
                        // A later panic of a shard already reported (e.g. while unwinding).
                        continue;
                    }
                    handle.panicked = Some(message.clone());
                    return Event::Failed(handle.panic_error(message));
                }
                Ok(Exit::Ended(shard)) => {
                    // A shard that failed to spawn sends one for an index no longer listed.
                    let Some(position) = self.shards.iter().position(|s| s.id.0 == shard) else {
                        continue;
                    };
                    return joined(self.shards.swap_remove(position));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return Event::TimedOut,
                // Every notice was sent: join whatever is left in order.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return joined(self.shards.swap_remove(0))
                }
            }
        }
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

/// Joins a shard whose thread ended: its failure, unless already returned when it panicked.
fn joined(handle: ShardHandle) -> Event {
    let reported = handle.panicked.is_some();
    match shard_result(handle) {
        Err(err) if !reported => Event::Failed(err),
        _ => Event::Ended,
    }
}

fn shard_result(shard: ShardHandle) -> Result<(), Error> {
    let ShardHandle {
        id, core, thread, ..
    } = shard;
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

#[cfg(test)]
#[path = "executor_tests.rs"]
pub(crate) mod tests;
