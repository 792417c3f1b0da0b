//! One `tools/list` fetch at a time per shard and upstream (single flight): a call that needs
//! a listing while a fetch for its upstream is under way waits for that fetch and reads its
//! listing instead of sending its own, so a batch of calls on a cold cache costs one
//! `tools/list`, not one per call. A `-32020` refresh wants a listing newer than the mismatch:
//! it joins a running refresh only, and later calls wait for it. If the fetching call is
//! cancelled, the calls waiting for it look again (one of them fetches).
//!
//! Not here: the cache itself (tool_cache.rs), sending the fetch (tools.rs).

use crate::config::UpstreamId;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use shards::latch::Latch;

use super::super::state::l2m::FetchOutcome;
pub use super::super::state::l2m::Flight;
use super::params::ToolParams;
use super::tool_cache::{Listing, Lookup, ToolCache, ToolCaches};

impl ToolCache {
    /// The fetch a call may wait for instead of fetching: the running one, when the call is no
    /// refresh or that fetch is one.
    fn joinable(&self, refresh: bool) -> Option<Rc<Flight>> {
        self.running
            .as_ref()
            .filter(|flight| !flight.done.is_fired() && (flight.refresh || !refresh))
            .cloned()
    }

    /// Registers a new fetch as the running one; the cache's generation it starts at.
    fn take_off(&mut self, refresh: bool) -> (Rc<Flight>, u64) {
        let flight = Rc::new(Flight {
            refresh,
            done: Latch::default(),
            outcome: RefCell::new(FetchOutcome::Running),
        });
        self.running = Some(flight.clone());
        (flight, self.generation())
    }
}

/// Ends a flight however its fetching call ends: records the outcome (abandoned unless
/// [`Landing::land`] said otherwise), unregisters it, wakes the calls waiting for it.
struct Landing<'a> {
    caches: &'a RefCell<ToolCaches>,
    upstream: UpstreamId,
    flight: Rc<Flight>,
}

impl Landing<'_> {
    fn land(self, outcome: FetchOutcome) {
        *self.flight.outcome.borrow_mut() = outcome;
    }
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        {
            let mut outcome = self.flight.outcome.borrow_mut();
            if matches!(*outcome, FetchOutcome::Running) {
                *outcome = FetchOutcome::Abandoned;
            }
        }
        // Never held across an await, so free here; were it not, the fired latch alone keeps
        // the flight from being joined.
        if let Ok(mut caches) = self.caches.try_borrow_mut() {
            if let Some(cache) = caches.get_mut(&self.upstream) {
                if cache
                    .running
                    .as_ref()
                    .is_some_and(|running| Rc::ptr_eq(running, &self.flight))
                {
                    cache.running = None;
                }
            }
        }
        self.flight.done.fire();
    }
}

/// What tool `name` mirrors on `upstream`, per the shard's `caches`: known or absent there
/// (unless `refresh`), else from the fetch under way for the upstream, else from `fetch`
/// (every tool it lists, whether the listing is whole), whose listing is merged into the
/// cache. `None`: not listed, or the listing could not be read.
pub(super) async fn params<F, Fut>(
    caches: &RefCell<ToolCaches>,
    upstream: UpstreamId,
    name: &str,
    refresh: bool,
    fetch: F,
) -> Option<Rc<ToolParams>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(Vec<(String, ToolParams)>, bool), &'static str>>,
{
    let (flight, generation) = loop {
        let joined = {
            let mut all = caches.borrow_mut();
            let cache = all.entry(upstream).or_default();
            if !refresh {
                match cache.lookup(name, Instant::now()) {
                    Lookup::Known(params) => return Some(params),
                    Lookup::Absent => return None,
                    Lookup::Unknown => {}
                }
            }
            match cache.joinable(refresh) {
                Some(flight) => flight,
                None => break cache.take_off(refresh),
            }
        };
        joined.done.wait().await;
        let outcome = joined.outcome.borrow().clone();
        match outcome {
            FetchOutcome::Listed(listing) => return listing.get(name).cloned(),
            FetchOutcome::Failed => return known(caches, upstream, name),
            // The fetching call was cancelled: look again (this call may fetch).
            FetchOutcome::Running | FetchOutcome::Abandoned => {}
        }
    };
    let landing = Landing {
        caches,
        upstream,
        flight,
    };
    match fetch().await {
        Ok((tools, whole)) => {
            let listing: Rc<Listing> = Rc::new(
                tools
                    .into_iter()
                    .map(|(name, params)| (name, Rc::new(params)))
                    .collect(),
            );
            // A list that changed meanwhile serves the calls of this fetch but is not kept.
            if let Some(cache) = caches.borrow_mut().get_mut(&upstream) {
                cache.store(&listing, whole, generation);
            }
            let found = listing.get(name).cloned();
            landing.land(FetchOutcome::Listed(listing));
            found
        }
        Err(reason) => {
            tracing::debug!(
                upstream = upstream.compact(),
                reason,
                "tools/list for Mcp-Param-* headers failed"
            );
            if let Some(cache) = caches.borrow_mut().get_mut(&upstream) {
                cache.failed(Instant::now());
            }
            landing.land(FetchOutcome::Failed);
            known(caches, upstream, name)
        }
    }
}

/// What the cache knows of `name` after a failed fetch (learned earlier, or nothing).
fn known(caches: &RefCell<ToolCaches>, upstream: UpstreamId, name: &str) -> Option<Rc<ToolParams>> {
    let caches = caches.borrow();
    match caches.get(&upstream)?.lookup(name, Instant::now()) {
        Lookup::Known(params) => Some(params),
        Lookup::Absent | Lookup::Unknown => None,
    }
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
