//! The human-readable value syntaxes shared by TOML and flags: durations, byte sizes, core
//! lists, shard counts and log filters; each has a parser and (where printed back) a formatter.
//!
//! Not here: which key takes which syntax or its bounds (see `resolve.rs`). Parsers return the
//! `*_ALLOWED` text on failure, so clap (`--max-body 4XB`) and TOML (`limits.max_body_bytes`)
//! describe the same syntax in the same words.

use std::num::NonZeroUsize;
use std::time::Duration;

use super::defaults::{CORE_MAX, DURATION_MAX, GIB, KIB, MIB, SHARDS_MAX};
use super::model::CoreSelection;

/// What a duration may look like.
pub(crate) const DURATION_ALLOWED: &str =
    "a non-zero duration of at most a year, like \"500ms\", \"30s\", \"5m\" or \"1h 30m\"";
/// What a size may look like.
pub(crate) const SIZE_ALLOWED: &str =
    "bytes as an integer, or a string with a binary unit like \"512B\", \"64KiB\", \"4MiB\", \"1GiB\"";
/// What a core list may look like.
pub(crate) const CORES_ALLOWED: &str =
    "\"all\", or core numbers and inclusive ranges like \"0,1\" or \
     \"0-7,16-23\" (cores 0 to 8191)";
/// What a shard count may look like.
pub(crate) const SHARDS_ALLOWED: &str = "a whole number of shards from 1 to 8192";
/// What a log filter may look like.
pub(crate) const LOG_LEVEL_ALLOWED: &str =
    "one of off, error, warn, info, debug, trace, or a tracing \
     EnvFilter like \"info,shadowcat::proxy=debug\"";

/// Parses a human-readable duration (`"30s"`, `"5m"`, `"1h 30m"`, `"250ms"`) with humantime.
///
/// # Errors
/// `DURATION_ALLOWED` for bad syntax, zero (a zero timeout would fire at once) or more than
/// a year (`Instant + Duration` must not overflow).
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    match humantime::parse_duration(text) {
        Ok(duration) if !duration.is_zero() && duration <= DURATION_MAX => Ok(duration),
        _ => Err(DURATION_ALLOWED),
    }
}

/// Formats a duration so that [`parse_duration`] reads it back exactly (`"30m"`, `"1m 30s"`).
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Parses a size in bytes: digits (`"4194304"`) or digits and a binary unit (`"4MiB"`,
/// `"64 KiB"`, `"512B"`; units case-insensitive).
///
/// Decimal units (`MB`, `KB`) are rejected on purpose: whether `4MB` means 4,000,000 or
/// 4,194,304 bytes is exactly the ambiguity a config file should not have.
///
/// # Errors
/// `SIZE_ALLOWED` for anything else, or a size that does not fit in 64 bits.
pub fn parse_size(text: &str) -> Result<u64, &'static str> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(SIZE_ALLOWED);
    }
    let multiplier = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => KIB,
        "mib" => MIB,
        "gib" => GIB,
        _ => return Err(SIZE_ALLOWED),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(multiplier))
        .ok_or(SIZE_ALLOWED)
}

/// Formats a size with the largest binary unit that divides it exactly (`"4MiB"`, `"1500B"`);
/// [`parse_size`] reads it back exactly.
pub fn format_size(bytes: u64) -> String {
    let units = [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")];
    for (unit, name) in units {
        if bytes != 0 && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

/// Parses a core list in Linux cpulist syntax (`"0,1"`, `"0-7,16-23"`, as in `taskset -c`).
///
/// Syntax only: whether the cores exist is checked by the runtime at start. Spaces around items
/// are ignored; the result is sorted and without duplicates, like
/// `shards::placement::parse_core_list`.
///
/// # Errors
/// `CORES_ALLOWED` for an empty list or item, a non-number, a backwards range or a core above
/// 8191.
pub fn parse_core_list(text: &str) -> Result<Vec<usize>, &'static str> {
    let mut cores = Vec::new();
    for item in text.split(',').map(str::trim) {
        let (start, end) = item.split_once('-').unwrap_or((item, item));
        let (start, end) = (parse_core(start)?, parse_core(end)?);
        if start > end {
            return Err(CORES_ALLOWED);
        }
        cores.extend(start..=end);
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(cores)
}

fn parse_core(text: &str) -> Result<usize, &'static str> {
    let text = text.trim();
    // `usize::from_str` accepts a leading `+`; a core list never has one.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CORES_ALLOWED);
    }
    match text.parse::<usize>() {
        Ok(core) if core <= CORE_MAX => Ok(core),
        _ => Err(CORES_ALLOWED),
    }
}

/// Formats a sorted core list with runs collapsed: `[0, 1, 2, 3, 8]` becomes `"0-3,8"`.
pub fn format_core_list(cores: &[usize]) -> String {
    let mut out = String::new();
    let mut rest = cores.iter().copied().peekable();
    while let Some(start) = rest.next() {
        let mut end = start;
        while rest.peek() == Some(&(end + 1)) {
            end += 1;
            rest.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
    }
    out
}

/// Parses `--cores` / `runtime.cores`: `"all"` or a core list ([`parse_core_list`]).
///
/// # Errors
/// `CORES_ALLOWED` when it is neither.
pub fn parse_cores(text: &str) -> Result<CoreSelection, &'static str> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(CoreSelection::All);
    }
    parse_core_list(text).map(CoreSelection::List)
}

/// Formats a core selection the way [`parse_cores`] reads it (a count is not a core list and
/// prints as its number, for messages).
pub fn format_cores(cores: &CoreSelection) -> String {
    match cores {
        CoreSelection::All => "all".to_owned(),
        CoreSelection::Count(count) => count.to_string(),
        CoreSelection::List(list) => format_core_list(list),
    }
}

/// Parses `--shards N`.
///
/// # Errors
/// `SHARDS_ALLOWED` for zero, more than 8192, or not a number.
pub fn parse_shards(text: &str) -> Result<NonZeroUsize, &'static str> {
    let count: u64 = text.trim().parse().map_err(|_| SHARDS_ALLOWED)?;
    shard_count(count).ok_or(SHARDS_ALLOWED)
}

/// Checks a shard count from TOML or flags: 1 to [`SHARDS_MAX`].
pub(crate) fn shard_count(count: u64) -> Option<NonZeroUsize> {
    if count > SHARDS_MAX {
        return None;
    }
    usize::try_from(count).ok().and_then(NonZeroUsize::new)
}

/// The plain levels; a filter without `=`, `,` or `[` must be one of these, so a typo like
/// `"inof"` is an error rather than a filter for a target named `inof`.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Parses a log filter: a level or a tracing `EnvFilter` directive list.
///
/// # Errors
/// `LOG_LEVEL_ALLOWED` for an unknown bare word or a directive list `EnvFilter` rejects.
pub fn parse_log_level(text: &str) -> Result<String, &'static str> {
    let is_directive_list = text.contains(['=', ',', '[']);
    let ok = if is_directive_list {
        tracing_subscriber::EnvFilter::try_new(text).is_ok()
    } else {
        LEVELS
            .iter()
            .any(|level| level.eq_ignore_ascii_case(text.trim()))
    };
    if ok {
        Ok(text.to_owned())
    } else {
        Err(LOG_LEVEL_ALLOWED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_round_trip() {
        for (text, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("1h 30m", 5400),
            ("2days", 172_800),
        ] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(parsed, Duration::from_secs(secs), "{text}");
            assert_eq!(parse_duration(&format_duration(parsed)), Ok(parsed));
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "0s", "30", "5x", "-1s", "400days"] {
            assert_eq!(parse_duration(bad), Err(DURATION_ALLOWED), "{bad:?}");
        }
    }

    #[test]
    fn sizes_parse_units_and_reject_decimal_units() {
        assert_eq!(parse_size("4194304"), Ok(4 * MIB));
        assert_eq!(parse_size("4MiB"), Ok(4 * MIB));
        assert_eq!(parse_size("64 kib"), Ok(64 * KIB));
        assert_eq!(parse_size("1GiB"), Ok(GIB));
        assert_eq!(parse_size("512B"), Ok(512));
        for bad in [
            "",
            "MiB",
            "4MB",
            "4 KB",
            "1.5MiB",
            "-1",
            "99999999999999999999GiB",
            "4M",
        ] {
            assert_eq!(parse_size(bad), Err(SIZE_ALLOWED), "{bad:?}");
        }
    }

    #[test]
    fn sizes_format_with_the_largest_exact_unit() {
        assert_eq!(format_size(4 * MIB), "4MiB");
        assert_eq!(format_size(1536 * KIB), "1536KiB");
        assert_eq!(format_size(GIB), "1GiB");
        assert_eq!(format_size(1500), "1500B");
        assert_eq!(format_size(0), "0B");
        for bytes in [0, 1, 1500, 4 * MIB, 3 * GIB + KIB] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
    }

    #[test]
    fn core_lists_parse_sort_and_dedup() {
        assert_eq!(parse_core_list("0,1"), Ok(vec![0, 1]));
        assert_eq!(parse_core_list("0-3, 8"), Ok(vec![0, 1, 2, 3, 8]));
        assert_eq!(parse_core_list("8,0-1,1"), Ok(vec![0, 1, 8]));
        assert_eq!(parse_core_list("8191"), Ok(vec![8191]));
        for bad in [
            "",
            "0,",
            ",1",
            "a",
            "3-1",
            "+1",
            "0-8192",
            "1-",
            "0--1",
            "0-4000000000",
        ] {
            assert_eq!(parse_core_list(bad), Err(CORES_ALLOWED), "{bad:?}");
        }
    }

    #[test]
    fn core_lists_format_collapsed_and_round_trip() {
        assert_eq!(format_core_list(&[0, 1, 2, 3, 8, 16, 17]), "0-3,8,16-17");
        assert_eq!(format_core_list(&[5]), "5");
        let cores = parse_core_list("0-7,16-23").unwrap();
        assert_eq!(format_core_list(&cores), "0-7,16-23");
    }

    #[test]
    fn cores_accept_all_or_a_list() {
        assert_eq!(parse_cores("all"), Ok(CoreSelection::All));
        assert_eq!(parse_cores("0-1"), Ok(CoreSelection::List(vec![0, 1])));
        assert_eq!(parse_cores("some"), Err(CORES_ALLOWED));
        assert_eq!(format_cores(&CoreSelection::List(vec![0, 1, 2])), "0-2");
    }

    #[test]
    fn shard_counts_are_bounded() {
        assert_eq!(parse_shards("2").map(NonZeroUsize::get), Ok(2));
        assert_eq!(parse_shards("8192").map(NonZeroUsize::get), Ok(8192));
        for bad in ["0", "8193", "-1", "two", ""] {
            assert_eq!(parse_shards(bad), Err(SHARDS_ALLOWED), "{bad:?}");
        }
    }

    #[test]
    fn log_levels_accept_levels_and_filters_but_not_typos() {
        for good in [
            "info",
            "DEBUG",
            "off",
            "info,shadowcat::proxy=debug",
            "shadowcat=trace",
        ] {
            assert_eq!(parse_log_level(good).as_deref(), Ok(good));
        }
        for bad in ["", "inof", "verbose", "shadowcat=loud"] {
            assert_eq!(parse_log_level(bad), Err(LOG_LEVEL_ALLOWED), "{bad:?}");
        }
    }
}
