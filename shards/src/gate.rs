//! A gate counting work in flight on one executor: `enter` while open, `closed` waits until
//! everything that entered has left.
//!
//! Not here: what the work is (the owner decides). Unlike `glommio::sync::Gate`, waiting is
//! cancel-safe: dropping the `closed` future (say, on a shutdown timeout) before the last pass
//! leaves is fine (glommio's panics when the last pass then leaves).

use std::cell::Cell;

use crate::latch::Latch;

/// Counts passes; once closed, refuses new ones and fires when the count reaches zero.
#[derive(Debug, Default)]
pub struct Gate {
    count: Cell<usize>,
    closing: Cell<bool>,
    idle: Latch,
}

/// Proof of being inside the gate; leaving is dropping it.
#[derive(Debug)]
pub struct Pass<'a> {
    gate: &'a Gate,
}

impl Gate {
    /// An open gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pass, unless the gate is closed.
    pub fn enter(&self) -> Option<Pass<'_>> {
        if self.closing.get() {
            return None;
        }
        self.count.set(self.count.get() + 1);
        Some(Pass { gate: self })
    }

    /// Passes out now.
    pub fn inside(&self) -> usize {
        self.count.get()
    }

    /// Closes the gate and resolves once every pass has left. Safe to drop before then.
    pub async fn closed(&self) {
        self.closing.set(true);
        if self.count.get() == 0 {
            self.idle.fire();
        }
        self.idle.wait().await;
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let left = self.gate.count.get().saturating_sub(1);
        self.gate.count.set(left);
        if left == 0 && self.gate.closing.get() {
            self.gate.idle.fire();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_waits_for_passes_and_a_dropped_wait_is_harmless() {
        glommio::LocalExecutor::default().run(async {
            let gate = Gate::new();
            let pass = gate.enter().unwrap();
            {
                // A wait dropped before the pass leaves (a shutdown timeout) must not panic.
                let wait = gate.closed();
                let _ = futures_lite::future::poll_once(wait).await;
            }
            assert!(gate.enter().is_none(), "closed gates refuse");
            assert_eq!(gate.inside(), 1);
            drop(pass);
            gate.closed().await;
            assert_eq!(gate.inside(), 0);
        });
    }
}
