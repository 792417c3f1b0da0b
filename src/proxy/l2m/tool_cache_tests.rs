//! The per-upstream tool cache: known, absent and unknown tools, fetched listings merged (not
//! replacing each other), a change forgetting everything (and voiding a fetch under way), the
//! pause after a failed fetch.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use super::*;
use crate::proxy::l2m::params::{ParamHeader, ToolParams};

fn region() -> ToolParams {
    ToolParams {
        headers: vec![ParamHeader {
            path: vec!["region".to_owned()].into_boxed_slice(),
            name: "Region".to_owned(),
        }],
        invalid: None,
    }
}

fn page(names: &[&str]) -> Page {
    Page {
        tools: names.iter().map(|n| ((*n).to_owned(), region())).collect(),
        next_cursor: None,
    }
}

fn listing(names: &[&str]) -> HashMap<String, Rc<ToolParams>> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), Rc::new(region())))
        .collect()
}

#[test]
fn relayed_pages_make_tools_known_but_not_the_list_whole() {
    let now = Instant::now();
    let mut cache = ToolCache::default();
    assert_eq!(cache.lookup("route", now), Lookup::Unknown);
    cache.learn(page(&["route"]));
    assert_eq!(cache.lookup("route", now), Lookup::Known(Rc::new(region())));
    // Another page may name it: still worth a fetch.
    assert_eq!(cache.lookup("other", now), Lookup::Unknown);
}

#[test]
fn after_a_whole_listing_a_missing_tool_is_absent() {
    let now = Instant::now();
    let mut cache = ToolCache::default();
    let generation = cache.generation();
    cache.store(&listing(&["route"]), true, generation);
    assert!(matches!(cache.lookup("route", now), Lookup::Known(_)));
    assert_eq!(cache.lookup("other", now), Lookup::Absent);
    // A listing cut at the page limit is not whole.
    let mut cut = ToolCache::default();
    let generation = cut.generation();
    cut.store(&listing(&["route"]), false, generation);
    assert_eq!(cut.lookup("other", now), Lookup::Unknown);
    // ... nor does it undo a whole one read before.
    let generation = cache.generation();
    cache.store(&listing(&["route"]), false, generation);
    assert_eq!(cache.lookup("other", now), Lookup::Absent);
}

#[test]
fn fetched_listings_are_merged_not_swapped() {
    let now = Instant::now();
    let mut cache = ToolCache::default();
    // Two callers whose listings differ (caller-dependent tools): neither evicts the other's.
    let generation = cache.generation();
    cache.store(&listing(&["alpha", "shared"]), true, generation);
    let generation = cache.generation();
    let mut theirs = listing(&["beta"]);
    let updated = Rc::new(ToolParams {
        headers: Vec::new(),
        invalid: None,
    });
    theirs.insert("shared".to_owned(), updated.clone());
    cache.store(&theirs, true, generation);
    assert!(matches!(cache.lookup("alpha", now), Lookup::Known(_)));
    assert!(matches!(cache.lookup("beta", now), Lookup::Known(_)));
    // A tool in both takes the newer listing's annotations.
    assert_eq!(cache.lookup("shared", now), Lookup::Known(updated));
    assert_eq!(cache.lookup("gamma", now), Lookup::Absent);
    // A list change still forgets everything.
    cache.forget();
    assert_eq!(cache.lookup("alpha", now), Lookup::Unknown);
    assert_eq!(cache.lookup("beta", now), Lookup::Unknown);
}

#[test]
fn a_change_forgets_and_voids_the_fetch_under_way() {
    let now = Instant::now();
    let mut cache = ToolCache::default();
    cache.learn(page(&["route"]));
    let generation = cache.generation();
    cache.forget();
    assert_eq!(cache.lookup("route", now), Lookup::Unknown);
    cache.store(&listing(&["route"]), true, generation);
    assert_eq!(cache.lookup("route", now), Lookup::Unknown);
}

#[test]
fn a_failed_fetch_pauses_fetching() {
    let now = Instant::now();
    let mut cache = ToolCache::default();
    cache.failed(now);
    assert_eq!(cache.lookup("route", now), Lookup::Absent);
    assert_eq!(cache.lookup("route", now + RETRY_AFTER), Lookup::Unknown);
    // A successful fetch or a change ends the pause.
    cache.forget();
    assert_eq!(cache.lookup("route", now), Lookup::Unknown);
}
