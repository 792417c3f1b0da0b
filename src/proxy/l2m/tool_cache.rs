//! What a shard knows of one translated upstream's tools (the [`ToolCache`] data lives in
//! `proxy::state::l2m`): a tool known, absent or unknown; pages learned from relayed answers;
//! fetched listings merged; everything forgotten on a list change; a pause after a failed fetch.
//!
//! Pure bookkeeping with no I/O, so both the fetch (tools.rs) and its single flight
//! (listing.rs) sit above it. Not here: sending `tools/list` (tools.rs), reading schemas
//! (params.rs).

use std::rc::Rc;
use std::time::{Duration, Instant};

pub use super::super::state::l2m::{Listing, ToolCache, ToolCaches};
use super::params::{Page, ToolParams};

/// After a failed fetch, calls of unknown tools go without one for this long (an upstream that
/// cannot list its tools does not pay one extra request per call).
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What the cache says of one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Known: what it mirrors.
    Known(Rc<ToolParams>),
    /// Not listed upstream (after a whole listing), or a fetch failed lately: no headers.
    Absent,
    /// Not known yet: worth a `tools/list`.
    Unknown,
}

impl ToolCache {
    /// What is known of tool `name` at `now`.
    pub fn lookup(&self, name: &str, now: Instant) -> Lookup {
        let failed_lately = self
            .failed_at
            .is_some_and(|at| now.saturating_duration_since(at) < RETRY_AFTER);
        match self.tools.get(name) {
            Some(params) => Lookup::Known(params.clone()),
            None if self.complete || failed_lately => Lookup::Absent,
            None => Lookup::Unknown,
        }
    }

    /// Adds the tools of one page (a relayed answer: the listing is not known to be whole).
    pub fn learn(&mut self, page: Page) {
        for (name, params) in page.tools {
            self.tools.insert(name, Rc::new(params));
        }
    }

    /// The tool list changed: forget everything (a fetch under way is not waited for by later
    /// calls, and its listing is not kept).
    pub fn forget(&mut self) {
        self.tools.clear();
        self.complete = false;
        self.failed_at = None;
        self.generation += 1;
        self.running = None;
    }

    /// The generation a fetch starts at (to pass to [`ToolCache::store`]).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Merges a fetched listing into what is known (its tools added or updated, the others
    /// kept: another caller's listing may differ), unless the list changed since `generation`.
    /// A whole listing makes the cache complete; one cut at [`super::tools::MAX_PAGES`] leaves it as it was.
    pub fn store(&mut self, tools: &Listing, whole: bool, generation: u64) {
        self.failed_at = None;
        if self.generation == generation {
            for (name, params) in tools {
                self.tools.insert(name.clone(), params.clone());
            }
            self.complete |= whole;
        }
    }

    /// A fetch failed at `now`.
    pub fn failed(&mut self, now: Instant) {
        self.failed_at = Some(now);
    }
}

#[cfg(test)]
#[path = "tool_cache_tests.rs"]
mod tests;
