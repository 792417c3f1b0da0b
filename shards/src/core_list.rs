//! The core-list syntax (`0-7,16-23`, Linux cpulist as in `taskset -c`): parsing it, formatting
//! cores back into it, and why a list is rejected ([`CoreListError`]).
//!
//! A leaf: it depends on nothing else in the crate, so both the crate's error type (which prints
//! usable cores in this syntax) and [`crate::placement`] (which parses user input and sysfs with
//! it) sit above it. Not here: which cores are usable or chosen (placement.rs).

use std::fmt;

/// Largest core number a core list may name. Linux's default `NR_CPUS` maximum is 8192; the
/// bound stops `0-4000000000` from allocating gigabytes.
pub const MAX_CORE: usize = 8191;

/// Parses a core list such as `0-7,16-23` (Linux cpulist syntax, as in `taskset -c`).
///
/// Items are single cores or inclusive `start-end` ranges separated by commas; spaces around
/// items are ignored. The result is sorted and without duplicates.
///
/// # Errors
/// Why the list is rejected: an empty list or item, a non-number, a backwards range or a core
/// above [`MAX_CORE`]. ([`crate::placement::parse_core_list`] wraps it in the crate's error.)
pub fn parse(input: &str) -> Result<Vec<usize>, CoreListError> {
    if input.trim().is_empty() {
        return Err(CoreListError::Empty);
    }
    let mut cores = Vec::new();
    for (index, raw_item) in input.split(',').enumerate() {
        let item = raw_item.trim();
        if item.is_empty() {
            return Err(CoreListError::EmptyItem {
                position: index + 1,
            });
        }
        let (start, end) = match item.split_once('-') {
            Some((start, end)) => (parse_core(start, item), parse_core(end, item)),
            None => (parse_core(item, item), parse_core(item, item)),
        };
        let (start, end) = (start?, end?);
        if start > end {
            return Err(CoreListError::Reversed { start, end });
        }
        cores.extend(start..=end);
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(cores)
}

fn parse_core(text: &str, item: &str) -> Result<usize, CoreListError> {
    let text = text.trim();
    // `usize::from_str` accepts a leading `+`; a core list never has one.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CoreListError::NotANumber {
            item: item.to_owned(),
        });
    }
    match text.parse::<usize>() {
        Ok(core) if core <= MAX_CORE => Ok(core),
        _ => Err(CoreListError::TooLarge {
            core: text.parse().unwrap_or(usize::MAX),
            max: MAX_CORE,
        }),
    }
}

/// Formats cores in core-list syntax with ranges collapsed: `[0,1,2,3,8]` becomes `0-3,8`.
///
/// The inverse of [`parse`] for sorted, deduplicated input.
pub fn format_core_list(cores: &[usize]) -> String {
    CoreList(cores).to_string()
}

/// Display adapter behind [`format_core_list`].
struct CoreList<'a>(&'a [usize]);

impl fmt::Display for CoreList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.iter().copied().peekable();
        let mut first = true;
        while let Some(start) = rest.next() {
            let mut end = start;
            while rest.peek() == Some(&(end + 1)) {
                end += 1;
                rest.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

/// Why a core list such as `0-7,16-23` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreListError {
    /// The whole list is empty or blank.
    #[error("the list is empty")]
    Empty,
    /// An item between commas is empty (`0,,1`, a trailing comma).
    #[error("item {position} is empty")]
    EmptyItem {
        /// 1-based position of the item.
        position: usize,
    },
    /// An item is not a number or `start-end` range.
    #[error("{item:?} is not a core number or a start-end range")]
    NotANumber {
        /// The offending item.
        item: String,
    },
    /// A range runs backwards (`7-3`).
    #[error("range {start}-{end} runs backwards")]
    Reversed {
        /// First number of the range.
        start: usize,
        /// Second number of the range.
        end: usize,
    },
    /// A core number is beyond any machine this runs on; guards against `0-4294967295`.
    #[error("core {core} is above the maximum {max}")]
    TooLarge {
        /// The offending number.
        core: usize,
        /// The largest accepted core number.
        max: usize,
    },
}
