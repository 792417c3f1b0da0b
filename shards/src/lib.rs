//! `shards`: the thread-per-core runtime under shadowcat. Knows nothing about the application
//! protocol it carries: no network protocol, wire format or configuration format is named here.
//!
//! Not here: request handling, sockets, parsing, exposition formats. Those live in the application
//! crate, which builds its per-shard state inside the closure given to [`Runtime::start`].
//!
//! # Main types and how they connect
//!
//! - [`core_list`] is the core-list syntax (`0-7,16-23`), a leaf; [`placement`] turns a user's choice (`--shards N` / a core list such as `0-7,16-23`) into a
//!   list of cores: [`select_cores`], [`parse_core_list`], [`online_cores`].
//! - [`memlock`] checks `RLIMIT_MEMLOCK` before any thread starts and says how to raise it:
//!   [`check_memlock`], [`DEFAULT_IO_MEMORY`].
//! - [`executor`] starts one glommio `LocalExecutor` per core ([`Runtime::start`] /
//!   [`Runtime::start_each`]) and hands each one a [`ShardCtx`]. The future the closure returns is
//!   not `Send`: shard state is born on its shard and lives in `Rc`/`RefCell`/`Cell`.
//! - [`ring`] maps a key (e.g. a session id) to the shard that owns it: [`Ring::build`] is cold,
//!   [`Ring::owner`] is hot, pure and allocation free, identical on every thread and process.
//!   The runtime builds one and shares it read-only through [`ShardCtx::ring`].
//! - [`mesh`] is the only way shards talk: one bounded channel per ordered pair of shards, built
//!   on the launching thread ([`Mesh::build`]) and connected on each shard
//!   ([`MeshEndpoint::connect`]). A local target never crosses the mesh.
//! - [`io`] is the per-shard socket interface the application uses ([`ShardIo`], [`NetStream`],
//!   [`NetListener`]) over either I/O path: glommio's sockets or [`uring`].
//! - [`uring`] is the per-shard io_uring socket path ([`Uring`], [`UringStream`],
//!   [`UringListener`]) with a kernel probe for the `--io uring|glommio` choice; all of its
//!   `unsafe` stays inside that module.
//! - [`slab`] ([`BufPool`]), [`table`] ([`Table`]) and [`metrics`] ([`Metrics`]) are per-shard
//!   building blocks: size-classed buffers, a TTL table driven by an injected clock, and counters
//!   plus histograms whose [`Snapshot`]s merge across shards.
//!
//! # Example
//!
//! Two shards, each owning a ring and one end of the mesh; shard 0 sends its id to shard 1.
//!
//! ```
//! use shards::{Mesh, Runtime, RuntimeSpec, ShardId};
//!
//! # fn main() -> Result<(), shards::Error> {
//! let cores = shards::online_cores()?;
//! let first = cores.first().copied().unwrap_or(0);
//! // Two shards, even on a one-core machine: `start` accepts a repeated core.
//! let spec = RuntimeSpec {
//!     io_memory: 512 * 1024,
//!     ..RuntimeSpec::new(vec![first, first])
//! };
//! let endpoints = Mesh::<usize>::build(2, 16);
//! let runtime = Runtime::start_each(spec, endpoints, |ctx, endpoint| async move {
//!     // Routing is a pure function: every shard computes the same owner.
//!     let _owner: ShardId = ctx.ring.owner(b"some-key");
//!     let mesh = endpoint.connect().await;
//!     if ctx.id == ShardId(0) {
//!         // A failed send gives the payload back; here the peer is alive.
//!         let _ = mesh.send_to(ShardId(1), 7).await;
//!     } else {
//!         let mut receivers = mesh.take_receivers();
//!         if let Some((from, receiver)) = receivers.pop() {
//!             assert_eq!((from, receiver.recv().await), (ShardId(0), Some(7)));
//!         }
//!     }
//! })?;
//! runtime.join()?;
//! # Ok(())
//! # }
//! ```

use std::fmt;

pub mod core_list;
pub mod error;
pub mod executor;
mod exits;
pub mod gate;
pub mod io;
pub mod latch;
pub mod listener;
pub mod memlock;
pub mod memtrim;
pub mod mesh;
pub mod metrics;
pub mod placement;
pub mod ring;
pub mod scoped;
pub mod slab;
pub mod table;
pub mod timeout;
#[allow(
    unsafe_code,
    reason = "io_uring: shared ring memory, provided buffers, raw fds; each block has a SAFETY comment"
)]
pub mod uring;

pub use error::{CoreListError, Error};
pub use executor::{Runtime, RuntimeSpec, ShardCtx};
pub use io::{NetListener, NetStream, ShardIo};
pub use memlock::{
    check_memlock, largest_io_memory, memlock_limit, memlock_need, MemlockLimit, DEFAULT_IO_MEMORY,
    EXECUTOR_BASE_MEMLOCK,
};
pub use mesh::{ConnectedMesh, Dispatch, Mesh, MeshEndpoint, TrySendError};
pub use metrics::{Metrics, Snapshot};
pub use placement::{format_core_list, online_cores, parse_core_list, select_cores};
pub use ring::{Ring, DEFAULT_VNODES};
pub use slab::{BufPool, BufStats, SIZE_CLASSES};
pub use table::Table;
pub use uring::{IoBackend, Uring, UringConfig, UringListener, UringStream};

/// Index of a shard: `0..shard_count`, in the order of the core list the runtime was started with.
///
/// The same index names the same shard in the [`Ring`], the [`Mesh`] and the [`Runtime`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ShardId(pub usize);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
