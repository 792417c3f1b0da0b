//! The one runner every property goes through: case count from `PROPTEST_CASES` (or the
//! property's default), a proptest `TestRunner`, and a `fuzz-property` line with the count and
//! the time taken, which scripts/fuzz.sh collects.
//!
//! Not here: strategies or properties (one module per parser).

use std::fmt::Debug;
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases for a property: `PROPTEST_CASES` when set (the long run), else `default` (CI).
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on `cases(default)` inputs drawn from `strategy`; panics with the shrunk
/// failing input. No failure persistence file: a failure becomes a named regression test.
pub(crate) fn check<S>(
    name: &str,
    default: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let cases = cases(default);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = Instant::now();
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("property {name} failed: {failure}");
    }
    eprintln!(
        "fuzz-property {name} cases={cases} secs={:.2}",
        started.elapsed().as_secs_f64()
    );
}

/// Cut points for splitting `len` bytes into pieces: sorted, deduplicated, inside `1..len`.
pub(crate) fn cuts(len: usize, raw: &[proptest::sample::Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw
        .iter()
        .filter(|_| len > 1)
        .map(|i| 1 + i.index(len - 1))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// `bytes` cut at `cuts` (as from [`cuts`]).
pub(crate) fn pieces<'b>(bytes: &'b [u8], cuts: &[usize]) -> Vec<&'b [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &cut in cuts {
        out.push(&bytes[from..cut]);
        from = cut;
    }
    out.push(&bytes[from..]);
    out
}

/// Byte-level mutations of a valid input: flips, inserts, deletes, each at a chosen offset.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    /// XOR the byte at the offset.
    Flip(proptest::sample::Index, u8),
    /// Insert a byte before the offset.
    Insert(proptest::sample::Index, u8),
    /// Delete up to n bytes from the offset.
    Delete(proptest::sample::Index, usize),
}

/// Up to `max` edits; bytes favour the ones parsers care about (CR, LF, ':', '"', digits, ...).
pub(crate) fn edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    use proptest::prelude::*;
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(&b"\r\n \t:;,=\"\\{}[]0123456789-+.eE\0\x7f\xff?&#/"[..]),
    ];
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), 1u8..).prop_map(|(i, x)| Edit::Flip(i, x)),
        (any::<prop::sample::Index>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<prop::sample::Index>(), 1usize..8).prop_map(|(i, n)| Edit::Delete(i, n)),
    ];
    prop::collection::vec(edit, 1..=max)
}

/// `bytes` with `edits` applied in order.
pub(crate) fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        match edit {
            Edit::Flip(i, x) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] ^= x;
            }
            Edit::Insert(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.insert(at, *b);
            }
            Edit::Delete(i, n) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            _ => {}
        }
    }
    bytes
}
