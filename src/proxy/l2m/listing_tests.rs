//! The single flight of `tools/list` fetches: concurrent calls share one fetch and its
//! listing, a failed fetch fails its waiters without more fetches, a cancelled fetching call
//! hands the fetch to a waiter, a refresh does not take a listing that began before it, a list
//! change is not served by a fetch begun before it.

use crate::config::UpstreamId;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures_lite::future::{block_on, poll_once, yield_now, zip};
use shards::latch::Latch;

use super::params;
use crate::proxy::l2m::params::{ParamHeader, ToolParams};
use crate::proxy::l2m::tool_cache::ToolCaches;

fn mirrors(header: &str) -> ToolParams {
    ToolParams {
        headers: vec![ParamHeader {
            path: vec!["region".to_owned()].into_boxed_slice(),
            name: header.to_owned(),
        }],
        invalid: None,
    }
}

type Fetched = Result<(Vec<(String, ToolParams)>, bool), &'static str>;

/// A fake upstream: counts fetches; each waits for `gate`, then lists `route` mirroring
/// `header` (or fails when `header` is empty).
struct Upstream {
    fetches: Cell<usize>,
    gate: Latch,
    header: RefCell<&'static str>,
}

impl Upstream {
    fn new(header: &'static str) -> Self {
        Upstream {
            fetches: Cell::new(0),
            gate: Latch::default(),
            header: RefCell::new(header),
        }
    }

    fn fetch(&self) -> impl Future<Output = Fetched> + '_ {
        self.fetches.set(self.fetches.get() + 1);
        async move {
            self.gate.wait().await;
            let header = *self.header.borrow();
            if header.is_empty() {
                return Err("refused");
            }
            Ok((vec![("route".to_owned(), mirrors(header))], true))
        }
    }
}

type Call<'a> = Pin<Box<dyn Future<Output = Option<Rc<ToolParams>>> + 'a>>;

fn call<'a>(
    caches: &'a RefCell<ToolCaches>,
    upstream: &'a Upstream,
    name: &'a str,
    refresh: bool,
) -> Call<'a> {
    Box::pin(params(caches, UpstreamId::test(0), name, refresh, || {
        upstream.fetch()
    }))
}

/// Polls `call` once: it must be waiting (for its fetch or another's).
fn waits(call: &mut Call<'_>) {
    assert!(block_on(poll_once(call.as_mut())).is_none(), "ended early");
}

fn header(found: Option<Rc<ToolParams>>) -> Option<String> {
    found.map(|params| params.headers[0].name.clone())
}

#[test]
fn concurrent_calls_share_one_fetch() {
    let caches = RefCell::new(ToolCaches::new());
    let upstream = Upstream::new("Region");
    let mut calls: Vec<Call<'_>> = (0..5)
        .map(|n| {
            call(
                &caches,
                &upstream,
                if n == 4 { "other" } else { "route" },
                false,
            )
        })
        .collect();
    for call in &mut calls {
        waits(call);
    }
    assert_eq!(upstream.fetches.get(), 1);
    upstream.gate.fire();
    let found: Vec<_> = calls.into_iter().map(|c| header(block_on(c))).collect();
    let region = Some("Region".to_owned());
    assert_eq!(
        found,
        vec![region.clone(), region.clone(), region.clone(), region, None]
    );
    // Kept: later calls need no fetch.
    assert!(block_on(call(&caches, &upstream, "route", false)).is_some());
    assert!(block_on(call(&caches, &upstream, "other", false)).is_none());
    assert_eq!(upstream.fetches.get(), 1);
}

#[test]
fn a_failed_fetch_fails_its_waiters_and_pauses() {
    let caches = RefCell::new(ToolCaches::new());
    let upstream = Upstream::new("");
    let mut first = call(&caches, &upstream, "route", false);
    let mut second = call(&caches, &upstream, "route", false);
    waits(&mut first);
    waits(&mut second);
    upstream.gate.fire();
    assert_eq!(block_on(zip(first, second)), (None, None));
    assert!(block_on(call(&caches, &upstream, "route", false)).is_none());
    assert_eq!(upstream.fetches.get(), 1);
}

#[test]
fn a_cancelled_fetch_passes_to_a_waiter() {
    let caches = RefCell::new(ToolCaches::new());
    let upstream = Upstream::new("Region");
    let mut leader = call(&caches, &upstream, "route", false);
    let mut follower = call(&caches, &upstream, "route", false);
    waits(&mut leader);
    waits(&mut follower);
    drop(leader);
    // The follower fetches itself now.
    waits(&mut follower);
    assert_eq!(upstream.fetches.get(), 2);
    upstream.gate.fire();
    assert_eq!(header(block_on(follower)).as_deref(), Some("Region"));
    assert!(
        caches.borrow()[&UpstreamId::test(0)].running.is_none(),
        "the flight is unregistered"
    );
}

#[test]
fn a_refresh_fetches_anew_and_later_calls_wait_for_it() {
    let caches = RefCell::new(ToolCaches::new());
    let upstream = Upstream::new("Old");
    let mut plain = call(&caches, &upstream, "route", false);
    waits(&mut plain);
    // A refresh does not take a listing begun before it ...
    *upstream.header.borrow_mut() = "New";
    let mut refresh = call(&caches, &upstream, "route", true);
    waits(&mut refresh);
    assert_eq!(upstream.fetches.get(), 2);
    // ... but another refresh and a plain call take the refresh's.
    let mut again = call(&caches, &upstream, "route", true);
    let mut later = call(&caches, &upstream, "other", false);
    waits(&mut again);
    waits(&mut later);
    assert_eq!(upstream.fetches.get(), 2);
    upstream.gate.fire();
    let ((plain, refresh), (again, later)) = block_on(zip(zip(plain, refresh), zip(again, later)));
    // Both fetches read after the change here: the fake answers when the gate opens.
    assert_eq!(header(plain).as_deref(), Some("New"));
    assert_eq!(header(refresh).as_deref(), Some("New"));
    assert_eq!(header(again).as_deref(), Some("New"));
    assert_eq!(later, None);
    assert_eq!(upstream.fetches.get(), 2);
}

#[test]
fn a_list_change_is_not_served_by_an_older_fetch() {
    let caches = RefCell::new(ToolCaches::new());
    let upstream = Upstream::new("Region");
    let mut before = call(&caches, &upstream, "route", false);
    waits(&mut before);
    caches
        .borrow_mut()
        .entry(UpstreamId::test(0))
        .or_default()
        .forget();
    let mut after = call(&caches, &upstream, "route", false);
    waits(&mut after);
    assert_eq!(upstream.fetches.get(), 2);
    upstream.gate.fire();
    let (before, after) = block_on(zip(before, after));
    assert!(before.is_some() && after.is_some());
}

#[test]
fn waiting_calls_wake_when_the_fetch_ends() {
    // Side by side on one task: the waiter is woken by the fetch's end, not by polling.
    let caches = RefCell::new(ToolCaches::new());
    let upstream = Upstream::new("Region");
    let opened = Cell::new(false);
    let open = async {
        for _ in 0..3 {
            yield_now().await;
        }
        opened.set(true);
        upstream.gate.fire();
    };
    let both = zip(
        call(&caches, &upstream, "route", false),
        zip(call(&caches, &upstream, "route", false), open),
    );
    let (first, (second, ())) = block_on(both);
    assert!(opened.get());
    assert!(first.is_some() && second.is_some());
    assert_eq!(upstream.fetches.get(), 1);
}
