//! Session recording's settings (`[recording]`, `--record DIR`; `record = false` per route):
//! where tapes go, the JSON pointers removed before a line is written, how often and how
//! durably each shard writes, rotation by size and retention by count and age. Raw -> typed
//! with defaults and bounds.
//!
//! Not here: the resolved types (recording_settings.rs), the tape format, recording and
//! writing tapes.

use std::path::PathBuf;
use std::time::Duration;

use super::audit::MAX_SIZE;
use super::error::Error;
use super::raw::{RawDuration, RawRecording, RawSize};
use super::recording_settings::{Fsync, RecordingConfig};
use super::setting::{count, duration, size, Bound};
use super::values::{format_duration, format_size};

const KEEP: Bound = Bound {
    default: 0,
    min: 0,
    max: 10_000_000,
    allowed: "0 (no limit) to 10000000 tape files",
};

/// Default time between a shard's writes.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Most pointers in `redact`.
const MAX_REDACT: usize = 64;

/// Resolves `[recording]` (`None`: recording off).
///
/// # Errors
/// A missing or empty `dir`, a pointer that is not one, an unknown `fsync`, a size, count or
/// duration out of bounds.
pub(super) fn resolve_recording(
    raw: Option<&RawRecording>,
) -> Result<Option<RecordingConfig>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let dir = raw.dir.as_deref().unwrap_or_default();
    if dir.trim().is_empty() {
        return Err(Error::Missing {
            key: "recording.dir".into(),
            allowed: "the directory tapes are written under",
        });
    }
    let redact = raw.redact.clone().unwrap_or_default();
    check_pointers(&redact)?;
    let fsync = match raw.fsync.as_deref() {
        None | Some("interval") => Fsync::Interval,
        Some("always") => Fsync::Always,
        Some("never") => Fsync::Never,
        Some(other) => {
            return Err(Error::Invalid {
                key: "recording.fsync".into(),
                value: format!("{other:?}"),
                allowed: "\"interval\", \"always\" or \"never\"",
            })
        }
    };
    let flush_interval = duration(
        "recording.flush_interval",
        raw.flush_interval.as_ref(),
        FLUSH_INTERVAL,
    )?;
    if flush_interval.is_zero() || flush_interval > Duration::from_secs(60) {
        return Err(Error::Invalid {
            key: "recording.flush_interval".into(),
            value: format_duration(flush_interval),
            allowed: "a duration from 1ms to 60s",
        });
    }
    let max_age = duration("recording.max_age", raw.max_age.as_ref(), Duration::ZERO)?;
    Ok(Some(RecordingConfig {
        dir: PathBuf::from(dir),
        redact,
        fsync,
        flush_interval,
        max_size: size("recording.max_size", raw.max_size.as_ref(), &MAX_SIZE)? as u64,
        keep: u32::try_from(count("recording.keep", raw.keep, &KEEP)?).unwrap_or(u32::MAX),
        max_age: (!max_age.is_zero()).then_some(max_age),
    }))
}

/// Recording into `dir` with every other setting at its default (`forward --record DIR`).
///
/// # Errors
/// An empty `dir`.
pub fn recording_in(dir: &str) -> Result<RecordingConfig, Error> {
    let raw = RawRecording {
        dir: Some(dir.to_owned()),
        ..RawRecording::default()
    };
    resolve_recording(Some(&raw))?.ok_or(Error::Missing {
        key: "recording.dir".into(),
        allowed: "the directory tapes are written under",
    })
}

/// Every `redact` entry is an RFC 6901 pointer naming something inside a message.
fn check_pointers(pointers: &[String]) -> Result<(), Error> {
    if pointers.len() > MAX_REDACT {
        return Err(Error::Invalid {
            key: "recording.redact".into(),
            value: format!("{} pointers", pointers.len()),
            allowed: "at most 64 JSON pointers",
        });
    }
    for (at, pointer) in pointers.iter().enumerate() {
        let bad_escape = pointer
            .split('~')
            .skip(1)
            .any(|after| !after.starts_with('0') && !after.starts_with('1'));
        if !pointer.starts_with('/') || pointer.len() < 2 || bad_escape {
            return Err(Error::Invalid {
                key: format!("recording.redact[{at}]"),
                value: format!("{pointer:?}"),
                allowed: "a JSON pointer (RFC 6901) below the message's root, like \
                          \"/params/arguments/password\" (`~0` for `~`, `~1` for `/`)",
            });
        }
    }
    Ok(())
}

/// The raw form, every default written out (for `config check`).
pub(super) fn raw_recording(recording: &RecordingConfig) -> RawRecording {
    RawRecording {
        dir: Some(recording.dir.display().to_string()),
        redact: Some(recording.redact.clone()),
        fsync: Some(recording.fsync.as_str().to_owned()),
        flush_interval: Some(RawDuration(format_duration(recording.flush_interval))),
        max_size: Some(RawSize::Text(format_size(recording.max_size))),
        keep: Some(u64::from(recording.keep)),
        max_age: Some(RawDuration(format_duration(
            recording.max_age.unwrap_or(Duration::ZERO),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(dir: &str) -> RawRecording {
        RawRecording {
            dir: Some(dir.into()),
            ..RawRecording::default()
        }
    }

    #[test]
    fn defaults() {
        let rec = resolve_recording(Some(&raw("/var/tapes")))
            .unwrap()
            .unwrap();
        assert_eq!(rec.dir, PathBuf::from("/var/tapes"));
        assert_eq!(rec.fsync, Fsync::Interval);
        assert_eq!(rec.flush_interval, Duration::from_secs(1));
        assert_eq!((rec.max_size, rec.keep, rec.max_age), (100 << 20, 0, None));
        assert!(rec.redact.is_empty());
        assert_eq!(resolve_recording(None).unwrap(), None);
    }

    #[test]
    fn refuses_bad_values() {
        let bad = [
            RawRecording::default(),
            raw(" "),
            RawRecording {
                fsync: Some("sometimes".into()),
                ..raw("d")
            },
            RawRecording {
                flush_interval: Some(RawDuration("0s".into())),
                ..raw("d")
            },
            RawRecording {
                redact: Some(vec!["params/x".into()]),
                ..raw("d")
            },
            RawRecording {
                redact: Some(vec!["/a~2b".into()]),
                ..raw("d")
            },
            RawRecording {
                max_age: Some(RawDuration("soon".into())),
                ..raw("d")
            },
        ];
        for raw in &bad {
            let error = resolve_recording(Some(raw)).unwrap_err().to_string();
            assert!(error.contains("recording."), "{error}");
        }
    }

    #[test]
    fn prints_back_equal() {
        let written = RawRecording {
            redact: Some(vec!["/params/arguments/password".into(), "/a~1b~0c".into()]),
            fsync: Some("always".into()),
            flush_interval: Some(RawDuration("250ms".into())),
            max_size: Some(RawSize::Text("1MiB".into())),
            keep: Some(10),
            max_age: Some(RawDuration("7d".into())),
            ..raw("/tmp/tapes")
        };
        let rec = resolve_recording(Some(&written)).unwrap().unwrap();
        let again = resolve_recording(Some(&raw_recording(&rec)))
            .unwrap()
            .unwrap();
        assert_eq!(rec, again);
    }

    #[test]
    fn routes_record_only_with_recording() {
        let routes = |recording: &str, record: &str| {
            let text = format!(
                "[listeners.m]\nbind = \"127.0.0.1:0\"\n\
                 [[listeners.m.routes]]\npath = \"/a\"\nupstream = \"u\"\n{record}\n\
                 [[listeners.m.routes]]\npath = \"/b\"\nupstream = \"u\"\n\
                 [upstreams.u]\nurl = \"http://127.0.0.1:9/mcp\"\n{recording}"
            );
            crate::config::from_toml_str(&text, "t.toml").map(|c| {
                c.listeners[0]
                    .routes
                    .iter()
                    .map(|r| r.record)
                    .collect::<Vec<_>>()
            })
        };
        let on = "[recording]\ndir = \"/tmp/t\"\n";
        assert_eq!(routes(on, "").unwrap(), [true, true]);
        assert_eq!(routes(on, "record = false").unwrap(), [false, true]);
        assert_eq!(routes("", "").unwrap(), [false, false]);
        let error = routes("", "record = true").unwrap_err().to_string();
        assert!(error.contains("listeners.m.routes[0].record"), "{error}");
    }
}
