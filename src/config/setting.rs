//! Readers of one setting, each checked against what is allowed: names, bind addresses, paths,
//! durations, and sizes and counts within a [`Bound`]. Errors name the key, the value as written
//! and what is allowed.
//!
//! Not here: which keys exist and their defaults (`resolve.rs`, `sections.rs`, `stdio.rs`), the
//! syntax of sizes, durations and core lists (`values.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use super::defaults as d;
use super::error::{invalid_str, Error};
use super::raw::{RawDuration, RawSize};
use super::values::{parse_duration, parse_size};

/// Checks a listener or upstream name: it becomes a log field and metric label.
pub(super) fn check_name(section: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= d::NAME_MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        return Ok(());
    }
    Err(invalid_str(
        &format!("{section}.{name:?}"),
        name,
        "a name of 1 to 64 letters, digits, '_' or '-'",
    ))
}

/// Parses a bind address: an IP literal and a port.
pub(crate) fn bind_addr(key: &str, text: &str) -> Result<SocketAddr, Error> {
    text.parse().map_err(|_| {
        invalid_str(
            key,
            text,
            "an IP address and port like \"127.0.0.1:8080\" or \"[::1]:8080\" (host names are \
             not accepted for binding)",
        )
    })
}

/// Checks a route or endpoint path: absolute, printable ASCII, no query or fragment.
pub(crate) fn route_path(key: &str, path: &str) -> Result<String, Error> {
    let ok = path.starts_with('/')
        && path.len() <= d::PATH_MAX_LEN
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#');
    if ok {
        Ok(path.to_owned())
    } else {
        Err(invalid_str(
            key,
            path,
            "an absolute path like \"/mcp\": starts with '/', printable ASCII without spaces, \
             '?' or '#', at most 1024 bytes",
        ))
    }
}

/// A duration setting: `default` when unset.
pub(super) fn duration(
    key: &str,
    raw: Option<&RawDuration>,
    default: Duration,
) -> Result<Duration, Error> {
    match raw {
        None => Ok(default),
        Some(RawDuration(text)) => {
            parse_duration(text).map_err(|allowed| invalid_str(key, text, allowed))
        }
    }
}

/// A default and inclusive bounds for a size or count setting, with the words for the bounds.
pub(super) struct Bound {
    pub(super) default: u64,
    pub(super) min: u64,
    pub(super) max: u64,
    pub(super) allowed: &'static str,
}

/// A size setting (bytes, or text like "4MiB") within `bound`; its default when unset.
pub(super) fn size(key: &str, raw: Option<&RawSize>, bound: &Bound) -> Result<usize, Error> {
    let bytes = match raw {
        None => bound.default,
        Some(RawSize::Bytes(bytes)) => *bytes,
        Some(RawSize::Text(text)) => {
            parse_size(text).map_err(|allowed| invalid_str(key, text, allowed))?
        }
    };
    within(key, bytes, bound, || {
        raw.map(ToString::to_string).unwrap_or_default()
    })
}

/// A count setting within `bound`; its default when unset.
pub(super) fn count(key: &str, raw: Option<u64>, bound: &Bound) -> Result<usize, Error> {
    within(key, raw.unwrap_or(bound.default), bound, || {
        raw.unwrap_or_default().to_string()
    })
}

/// `value` as a `usize` when within `bound`, else an error showing the value as `written`.
fn within(
    key: &str,
    value: u64,
    bound: &Bound,
    written: impl Fn() -> String,
) -> Result<usize, Error> {
    let in_range = (bound.min..=bound.max).contains(&value);
    match usize::try_from(value) {
        Ok(value) if in_range => Ok(value),
        _ => Err(Error::Invalid {
            key: key.to_owned(),
            value: written(),
            allowed: bound.allowed,
        }),
    }
}
