//! Test helpers shared by the upstream modules' real-process tests.

use std::future::Future;

use glommio::{LocalExecutorBuilder, Placement};

/// Runs `fut` on a fresh glommio executor on this thread (children die when it exits).
pub(crate) fn run<T>(fut: impl Future<Output = T>) -> T {
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(1 << 20)
        .make()
        .unwrap();
    executor.run(fut)
}
