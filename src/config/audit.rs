//! The audit log's settings (`[audit]`, `--audit-log`): where the lines go, whether tool
//! arguments are written, whether requests stop when lines cannot be written, rotation by size
//! and how often each shard writes its batch. Raw -> typed with defaults and bounds.
//!
//! Not here: what a line holds or writing it (the audit module).

use std::path::PathBuf;
use std::time::Duration;

use super::error::Error;
use super::model::AuditConfig;
use super::raw::{RawAudit, RawDuration, RawSize};
use super::setting::{count, duration, size, Bound};
use super::values::{format_duration, format_size};

/// Default rotation size (the tapes' too).
pub(super) const MAX_SIZE: Bound = Bound {
    default: 100 << 20,
    min: 0,
    max: 1 << 40,
    allowed: "a size from 0 (never rotate) to 1TiB, like \"100MiB\"",
};

/// Rotated files kept.
const KEEP: Bound = Bound {
    default: 5,
    min: 1,
    max: 1000,
    allowed: "1 to 1000 rotated files",
};

/// Default time between a shard's writes.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

/// Resolves `[audit]` (`None`: no audit log).
///
/// # Errors
/// An empty file name, or a size, count or duration out of bounds.
pub(super) fn resolve_audit(raw: Option<&RawAudit>) -> Result<Option<AuditConfig>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.file.trim().is_empty() {
        return Err(Error::Missing {
            key: "audit.file".into(),
            allowed: "the path of the audit log file",
        });
    }
    let flush_interval = duration(
        "audit.flush_interval",
        raw.flush_interval.as_ref(),
        FLUSH_INTERVAL,
    )?;
    if flush_interval.is_zero() || flush_interval > Duration::from_secs(60) {
        return Err(Error::Invalid {
            key: "audit.flush_interval".into(),
            value: format_duration(flush_interval),
            allowed: "a duration from 1ms to 60s",
        });
    }
    Ok(Some(AuditConfig {
        file: PathBuf::from(&raw.file),
        arguments: raw.arguments.unwrap_or(false),
        required: raw.required.unwrap_or(false),
        max_size: size("audit.max_size", raw.max_size.as_ref(), &MAX_SIZE)? as u64,
        keep: u32::try_from(count("audit.keep", raw.keep, &KEEP)?).unwrap_or(u32::MAX),
        flush_interval,
    }))
}

/// The raw form, every default written out (for `config check`).
pub(super) fn raw_audit(audit: &AuditConfig) -> RawAudit {
    RawAudit {
        file: audit.file.display().to_string(),
        arguments: Some(audit.arguments),
        required: Some(audit.required),
        max_size: Some(RawSize::Text(format_size(audit.max_size))),
        keep: Some(u64::from(audit.keep)),
        flush_interval: Some(RawDuration(format_duration(audit.flush_interval))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(file: &str) -> RawAudit {
        RawAudit {
            file: file.into(),
            ..RawAudit::default()
        }
    }

    #[test]
    fn defaults() {
        let audit = resolve_audit(Some(&raw("/var/log/a.jsonl")))
            .unwrap()
            .unwrap();
        assert_eq!(audit.file, PathBuf::from("/var/log/a.jsonl"));
        assert!(!audit.arguments && !audit.required);
        assert_eq!((audit.max_size, audit.keep), (100 << 20, 5));
        assert_eq!(audit.flush_interval, Duration::from_millis(100));
        assert_eq!(resolve_audit(None).unwrap(), None);
    }

    #[test]
    fn refuses_bad_values() {
        assert!(resolve_audit(Some(&raw(" "))).is_err());
        let keep = RawAudit {
            keep: Some(0),
            ..raw("a")
        };
        assert!(resolve_audit(Some(&keep)).is_err());
        let interval = RawAudit {
            flush_interval: Some(RawDuration("0s".into())),
            ..raw("a")
        };
        assert!(resolve_audit(Some(&interval)).is_err());
    }

    #[test]
    fn prints_back_equal() {
        let written = RawAudit {
            arguments: Some(true),
            max_size: Some(RawSize::Text("1MiB".into())),
            keep: Some(3),
            flush_interval: Some(RawDuration("250ms".into())),
            ..raw("/tmp/audit.jsonl")
        };
        let audit = resolve_audit(Some(&written)).unwrap().unwrap();
        let again = resolve_audit(Some(&raw_audit(&audit))).unwrap().unwrap();
        assert_eq!(audit, again);
    }
}
