//! What each `era = "auto"` upstream was found to speak, per shard, for [`VERDICT_TTL`]: one
//! cache for both translation directions. A legacy client's `server/discover` probe (l2m) and a
//! modern request refused the legacy way (modern_client) both write it; both read it, so
//! whichever client meets the upstream first spares the other its failed try.
//!
//! Not here: how a verdict is reached (`proxy::l2m::detect`, `proxy::modern_client::probe`),
//! what is done with it (`proxy::l2m::detect::may_translate`, `proxy::modern_client::translates`). Single-shard data:
//! a `RefCell`, no locks.

use crate::config::UpstreamId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a verdict holds before the upstream is probed again (a redeployed upstream may have
/// changed era).
pub const VERDICT_TTL: Duration = Duration::from_secs(600);

/// The eras an upstream was found to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    /// 2026-07-28 only: legacy clients are translated, modern ones pass through.
    Modern,
    /// Both: everyone passes through.
    Dual,
    /// Sessions only: modern clients are translated, legacy ones pass through.
    Legacy,
}

/// One shard's verdicts, by upstream.
#[derive(Debug, Default)]
pub struct EraVerdicts {
    found: RefCell<HashMap<UpstreamId, (Speaks, Instant)>>,
}

impl EraVerdicts {
    /// The verdict for `upstream`, when still fresh at `now`.
    pub fn get(&self, upstream: UpstreamId, now: Instant) -> Option<Speaks> {
        self.found
            .borrow()
            .get(&upstream)
            .filter(|(_, at)| now.saturating_duration_since(*at) < VERDICT_TTL)
            .map(|(speaks, _)| *speaks)
    }

    /// Records what `upstream` speaks, as of now.
    pub fn learn(&self, upstream: UpstreamId, speaks: Speaks) {
        let previous = self
            .found
            .borrow_mut()
            .insert(upstream, (speaks, Instant::now()));
        if previous.map(|(was, _)| was) != Some(speaks) {
            tracing::info!(
                upstream = upstream.compact(),
                ?speaks,
                "era = \"auto\": upstream era found"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_holds_for_its_ttl_then_is_forgotten() {
        let verdicts = EraVerdicts::default();
        let now = Instant::now();
        assert_eq!(verdicts.get(UpstreamId::test(0), now), None);
        verdicts.learn(UpstreamId::test(0), Speaks::Legacy);
        assert_eq!(
            verdicts.get(UpstreamId::test(0), Instant::now()),
            Some(Speaks::Legacy)
        );
        assert_eq!(verdicts.get(UpstreamId::test(1), Instant::now()), None);
        assert_eq!(
            verdicts.get(UpstreamId::test(0), Instant::now() + VERDICT_TTL),
            None
        );
        verdicts.learn(UpstreamId::test(0), Speaks::Modern);
        assert_eq!(
            verdicts.get(UpstreamId::test(0), Instant::now()),
            Some(Speaks::Modern)
        );
    }
}
