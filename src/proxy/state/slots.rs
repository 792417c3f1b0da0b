//! [`UpstreamSlots`]: one upstream's requests in flight on this shard, against its share of
//! the upstream's `max_in_flight` (split evenly over the shards, at least one each). A request
//! holds a [`Slot`] from before it goes upstream until its answer is relayed (a streamed
//! answer holds it while it streams); a request finding no free slot gets 503.
//!
//! Not here: where requests take slots (the proxy's post.rs).

use std::cell::Cell;
use std::rc::Rc;

/// Requests in flight to one upstream on this shard.
#[derive(Debug)]
pub struct UpstreamSlots {
    /// This shard's share; `None`: no limit.
    limit: Option<usize>,
    used: Cell<usize>,
}

/// A taken slot, given back on drop.
#[derive(Debug)]
pub struct Slot(Rc<UpstreamSlots>);

impl UpstreamSlots {
    /// The share of `total` (over all shards) one of `shards` shards gets.
    pub fn new(total: Option<usize>, shards: usize) -> Rc<Self> {
        Rc::new(UpstreamSlots {
            limit: total.map(|n| n.div_ceil(shards.max(1)).max(1)),
            used: Cell::new(0),
        })
    }

    /// A slot: `Ok(None)` without a limit, `Err(())` when every slot is taken.
    #[allow(clippy::result_unit_err, reason = "the only failure is `full`")]
    pub fn take(self: &Rc<Self>) -> Result<Option<Slot>, ()> {
        let Some(limit) = self.limit else {
            return Ok(None);
        };
        let used = self.used.get();
        if used >= limit {
            return Err(());
        }
        self.used.set(used + 1);
        Ok(Some(Slot(self.clone())))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.used.set(self.0.used.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_over_shards_and_slots_come_back() {
        let slots = UpstreamSlots::new(Some(3), 2);
        let a = slots.take().unwrap();
        let b = slots.take().unwrap();
        assert!(a.is_some() && b.is_some());
        assert!(slots.take().is_err());
        drop(a);
        assert!(slots.take().unwrap().is_some());
        assert!(UpstreamSlots::new(None, 4).take().unwrap().is_none());
        assert_eq!(UpstreamSlots::new(Some(1), 8).limit, Some(1));
    }
}
