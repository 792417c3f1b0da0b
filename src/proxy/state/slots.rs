//! [`UpstreamSlots`]: one upstream's requests in flight on this shard, against its share of
//! the upstream's `max_in_flight` (split evenly over the shards, at least one each). A request
//! holds a [`Slot`] from before it goes upstream until its answer is relayed (a streamed
//! answer holds it while it streams; an answer complete upstream but held by an interception
//! rule gives it back before the hold); a request finding no free slot gets 503.
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

/// A request's slot (`None` inside: no limit, or given back already). Its answer's relay
/// gives it back early once the upstream's answer is complete and only an interception rule's
/// hold keeps it from the client: a paused answer must not hold a slot other sessions need.
pub struct RequestSlot(Cell<Option<Slot>>);

impl RequestSlot {
    /// The slot `slot` (`None`: no limit) as its request holds it.
    pub fn new(slot: Option<Slot>) -> Self {
        RequestSlot(Cell::new(slot))
    }

    /// Gives the slot back now (nothing when it went back already, or without a limit).
    pub fn release(&self) {
        drop(self.0.take());
    }
}

impl std::fmt::Debug for RequestSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestSlot")
    }
}

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
        // A request's slot given back early is given back once.
        let held = RequestSlot::new(slots.take().unwrap());
        assert!(slots.take().is_err());
        held.release();
        held.release();
        let again = slots.take().unwrap();
        assert!(again.is_some() && slots.take().is_err());
        drop(held);
        assert!(slots.take().is_err());
    }
}
