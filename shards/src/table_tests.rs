//! Tests for the TTL table, all on an injected clock.

use super::*;

const TTL: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_nanos(1);

fn table() -> (Table<String, u32>, Instant) {
    (Table::new(TTL), Instant::now())
}

#[test]
fn expires_exactly_after_ttl() {
    let (mut table, t0) = table();
    assert_eq!(table.insert("a".into(), 1, t0), None);
    assert_eq!(table.get("a", t0 + TTL - TICK).copied(), Some(1));
    // That get touched it; use a fresh entry for the boundary.
    table.insert("b".into(), 2, t0);
    assert_eq!(table.peek("b").copied(), Some(2));
    assert_eq!(table.expired(t0 + TTL), 0);
    assert_eq!(table.expired(t0 + TTL + TICK), 1);
    assert_eq!(table.get("b", t0 + TTL + TICK), None);
    assert_eq!(table.get_mut("b", t0 + TTL + TICK), None);
    // Expired but not reaped: still held, still peekable.
    assert_eq!(table.len(), 2);
    assert_eq!(table.peek("b").copied(), Some(2));
}

#[test]
fn alive_at_exactly_ttl() {
    let (mut table, t0) = table();
    table.insert("a".into(), 1, t0);
    assert_eq!(table.get("a", t0 + TTL).copied(), Some(1));
}

#[test]
fn touch_extends_but_peek_does_not() {
    let (mut table, t0) = table();
    table.insert("get".into(), 1, t0);
    table.insert("mut".into(), 2, t0);
    table.insert("peek".into(), 3, t0);
    let t1 = t0 + TTL / 2;
    assert!(table.get("get", t1).is_some());
    *table.get_mut("mut", t1).unwrap() += 10;
    assert!(table.peek("peek").is_some());
    assert_eq!(table.idle("peek", t1), Some(TTL / 2));
    assert_eq!(table.idle("get", t1), Some(Duration::ZERO));
    let t2 = t0 + TTL + TICK;
    assert_eq!(table.get("peek", t2), None);
    assert_eq!(table.get("get", t2).copied(), Some(1));
    assert_eq!(table.get("mut", t2).copied(), Some(12));
}

#[test]
fn insert_replaces_and_touches() {
    let (mut table, t0) = table();
    table.insert("a".into(), 1, t0);
    assert_eq!(table.insert("a".into(), 2, t0 + TTL), Some(1));
    assert_eq!(table.get("a", t0 + 2 * TTL).copied(), Some(2));
    assert_eq!(table.len(), 1);
}

#[test]
fn reap_returns_removed_entries() {
    let (mut table, t0) = table();
    for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
        table.insert(key.into(), i as u32, t0 + Duration::from_secs(i as u64));
    }
    let mut out = Vec::new();
    // At t0 + TTL + 1.5s, "a" (idle TTL + 1.5s) and "b" (idle TTL + 0.5s) have expired.
    let now = t0 + TTL + Duration::from_millis(1500);
    assert_eq!(table.reap(now, &mut out), 2);
    out.sort();
    assert_eq!(out, vec![("a".to_string(), 0), ("b".to_string(), 1)]);
    assert_eq!(table.len(), 2);
    assert_eq!(table.peek("a"), None);
    assert_eq!(table.get("c", now).copied(), Some(2));
    // Nothing more to reap at the same instant; out is appended to, not cleared.
    assert_eq!(table.reap(now, &mut out), 0);
    assert_eq!(out.len(), 2);
}

#[test]
fn reap_some_bounds_work_and_wraps() {
    let (mut table, t0) = table();
    for i in 0..10u32 {
        table.insert(i.to_string(), i, t0);
    }
    let later = t0 + TTL + TICK;
    let mut out = Vec::new();
    let mut rounds = 0;
    while !table.is_empty() {
        assert!(table.reap_some(later, 3, &mut out) <= 3);
        rounds += 1;
        assert!(rounds < 20, "reap_some made no progress");
    }
    assert_eq!(out.len(), 10);
    assert!(rounds >= 4);
    assert_eq!(table.reap_some(later, 3, &mut out), 0);
}

#[test]
fn remove_and_slots_are_reused() {
    let (mut table, t0) = table();
    table.insert("a".into(), 1, t0);
    table.insert("b".into(), 2, t0);
    let slot_a = table.index["a"];
    assert_eq!(table.remove("a"), Some(1));
    assert_eq!(table.remove("a"), None);
    table.insert("c".into(), 3, t0);
    assert_eq!(table.index["c"], slot_a);
    assert_eq!(table.entries.len(), 2);
    let mut out = Vec::new();
    table.reap(t0 + 2 * TTL, &mut out);
    table.insert("d".into(), 4, t0 + 2 * TTL);
    assert!(table.index["d"] < 2, "a reaped slot is reused");
}

#[test]
fn iter_lists_everything_with_idle_time() {
    let (mut table, t0) = table();
    table.insert("a".into(), 1, t0);
    table.insert("b".into(), 2, t0 + TTL);
    let mut listed: Vec<_> = table
        .iter(t0 + TTL)
        .map(|(k, v, idle)| (k.clone(), *v, idle))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![("a".into(), 1, TTL), ("b".into(), 2, Duration::ZERO)]
    );
}

#[test]
fn entry_bytes_is_a_usable_compile_time_budget() {
    const BYTES: usize = Table::<u128, [u8; 200]>::ENTRY_BYTES;
    const _: () = assert!(BYTES <= 300);
    const _: () = assert!(BYTES >= 16 + 200 + 16);
}
