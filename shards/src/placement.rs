//! Which cores the shards run on: parse core lists, read the usable cores, pick one core per shard.
//!
//! Not here: pinning threads (glommio does it in [`crate::executor`]), NUMA or IRQ affinity.
//! Everything here is cold (startup only); [`online_cores`] reads sysfs with blocking `std::fs`.
//!
//! Selection: `shards = N` takes the first N usable cores in ascending order; an explicit core
//! list is taken as given, after checking every core is usable; neither means every usable core.
//! "Usable" is the intersection of `/sys/devices/system/cpu/online` and this process's affinity
//! mask, so `taskset` and container cpusets are honoured (pinning outside the mask would fail).

use std::num::NonZeroUsize;

use crate::core_list;
/// The core-list syntax (in [`crate::core_list`]; these paths still work).
pub use crate::core_list::{format_core_list, MAX_CORE};
use crate::error::Error;

/// Where the kernel lists online CPUs, in core-list syntax.
const SYSFS_ONLINE: &str = "/sys/devices/system/cpu/online";

/// Parses a core list such as `0-7,16-23` (Linux cpulist syntax, as in `taskset -c`); the
/// syntax itself is [`crate::core_list::parse`].
///
/// # Errors
/// [`Error::BadCoreList`] for an empty list or item, a non-number, a backwards range or a core
/// above [`MAX_CORE`].
pub fn parse_core_list(input: &str) -> Result<Vec<usize>, Error> {
    core_list::parse(input).map_err(|reason| Error::BadCoreList {
        input: input.to_owned(),
        reason,
    })
}

/// The cores this process can run shards on: online cores that are also in its affinity mask.
///
/// Reads `/sys/devices/system/cpu/online`; if that fails, falls back to the affinity mask alone
/// (`core_affinity::get_core_ids`). The result is sorted and non-empty.
///
/// The affinity mask read is the calling thread's: call this on the launching thread, not on
/// a shard (a pinned shard would see only its own core).
///
/// # Errors
/// [`Error::OnlineCoresUnknown`] when neither source yields a core.
pub fn online_cores() -> Result<Vec<usize>, Error> {
    let allowed: Option<Vec<usize>> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|id| id.id).collect())
        .filter(|ids: &Vec<usize>| !ids.is_empty());
    let online = std::fs::read_to_string(SYSFS_ONLINE).and_then(|text| {
        parse_core_list(text.trim()).map_err(|err| std::io::Error::other(err.to_string()))
    });
    let usable = match (online, allowed) {
        (Ok(online), Some(allowed)) => {
            let both: Vec<usize> = online
                .iter()
                .copied()
                .filter(|core| allowed.contains(core))
                .collect();
            // An empty intersection means the two sources number cores differently; trust
            // the kernel's online list over the affinity probe.
            if both.is_empty() {
                online
            } else {
                both
            }
        }
        (Ok(online), None) => online,
        (Err(_), Some(mut allowed)) => {
            allowed.sort_unstable();
            allowed.dedup();
            allowed
        }
        (Err(source), None) => return Err(Error::OnlineCoresUnknown { source }),
    };
    Ok(usable)
}

/// Picks one core per shard from what the user asked for; see the module docs for the rules.
///
/// `cores`, when given, is used in the order given (shard `i` runs on `cores[i]`).
///
/// # Errors
/// [`Error::NoSuchCore`] for a core that is not usable, [`Error::NotEnoughCores`] when `shards`
/// exceeds the usable cores, [`Error::DuplicateCore`], [`Error::ShardCountMismatch`] when both
/// are given and disagree, [`Error::NoCores`] for an empty list, and whatever
/// [`online_cores`] returns.
pub fn select_cores(
    shards: Option<NonZeroUsize>,
    cores: Option<&[usize]>,
) -> Result<Vec<usize>, Error> {
    select_cores_from(&online_cores()?, shards, cores)
}

/// [`select_cores`] against a given list of usable cores (sorted); pure, for tests and callers
/// that already read the online cores.
///
/// # Errors
/// As [`select_cores`].
pub fn select_cores_from(
    online: &[usize],
    shards: Option<NonZeroUsize>,
    cores: Option<&[usize]>,
) -> Result<Vec<usize>, Error> {
    let Some(cores) = cores else {
        let wanted = shards.map_or(online.len(), NonZeroUsize::get);
        if wanted > online.len() {
            return Err(Error::NotEnoughCores {
                requested: wanted,
                online: online.to_vec(),
            });
        }
        if wanted == 0 {
            return Err(Error::NoCores);
        }
        return Ok(online.iter().copied().take(wanted).collect());
    };
    if cores.is_empty() {
        return Err(Error::NoCores);
    }
    if let Some(shards) = shards.filter(|shards| shards.get() != cores.len()) {
        return Err(Error::ShardCountMismatch {
            shards: shards.get(),
            cores: cores.len(),
        });
    }
    for (index, &core) in cores.iter().enumerate() {
        if !online.contains(&core) {
            return Err(Error::NoSuchCore {
                core,
                online: online.to_vec(),
            });
        }
        if cores
            .get(..index)
            .is_some_and(|before| before.contains(&core))
        {
            return Err(Error::DuplicateCore { core });
        }
    }
    Ok(cores.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core_list::CoreListError;

    fn reason(input: &str) -> CoreListError {
        match parse_core_list(input) {
            Err(Error::BadCoreList { reason, .. }) => reason,
            other => panic!("{input:?} should be rejected, got {other:?}"),
        }
    }

    fn nz(n: usize) -> Option<NonZeroUsize> {
        NonZeroUsize::new(n)
    }

    #[test]
    fn parses_ranges_and_singles_sorted_deduped() {
        assert_eq!(parse_core_list("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_core_list("5").unwrap(), vec![5]);
        assert_eq!(
            parse_core_list("16-17, 0-1,1,3").unwrap(),
            vec![0, 1, 3, 16, 17]
        );
        assert_eq!(parse_core_list(" 2 - 2 ").unwrap(), vec![2]);
        assert_eq!(
            parse_core_list("0-7,16-23").unwrap(),
            (0..8).chain(16..24).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rejects_junk() {
        assert_eq!(reason(""), CoreListError::Empty);
        assert_eq!(reason("  "), CoreListError::Empty);
        assert_eq!(reason("0,,1"), CoreListError::EmptyItem { position: 2 });
        assert_eq!(reason("0,"), CoreListError::EmptyItem { position: 2 });
        assert!(matches!(reason("a"), CoreListError::NotANumber { .. }));
        assert!(matches!(reason("1-"), CoreListError::NotANumber { .. }));
        assert!(matches!(reason("-1"), CoreListError::NotANumber { .. }));
        assert!(matches!(reason("+1"), CoreListError::NotANumber { .. }));
        assert!(matches!(reason("1-2-3"), CoreListError::NotANumber { .. }));
        assert_eq!(reason("7-3"), CoreListError::Reversed { start: 7, end: 3 });
        assert!(matches!(
            reason("0-4000000000"),
            CoreListError::TooLarge { max: MAX_CORE, .. }
        ));
        assert!(matches!(
            reason("99999999999999999999999"),
            CoreListError::TooLarge { .. }
        ));
    }

    #[test]
    fn formats_collapsed_ranges_round_trip() {
        assert_eq!(format_core_list(&[]), "");
        assert_eq!(format_core_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        let cores = parse_core_list("0-7,16-23,30").unwrap();
        assert_eq!(parse_core_list(&format_core_list(&cores)).unwrap(), cores);
    }

    #[test]
    fn online_cores_is_sorted_and_nonempty() {
        let cores = online_cores().unwrap();
        assert!(!cores.is_empty());
        assert!(cores.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn select_defaults_to_all_usable() {
        assert_eq!(
            select_cores_from(&[0, 1, 4], None, None).unwrap(),
            vec![0, 1, 4]
        );
    }

    #[test]
    fn select_first_n() {
        assert_eq!(
            select_cores_from(&[0, 1, 4], nz(2), None).unwrap(),
            vec![0, 1]
        );
        match select_cores_from(&[0, 1], nz(3), None) {
            Err(err @ Error::NotEnoughCores { requested: 3, .. }) => {
                let text = err.to_string();
                assert!(
                    text.contains("3 shards") && text.contains("only 2"),
                    "{text}"
                );
            }
            other => panic!("expected NotEnoughCores, got {other:?}"),
        }
    }

    #[test]
    fn select_explicit_cores() {
        assert_eq!(
            select_cores_from(&[0, 1, 2, 3], None, Some(&[3, 1])).unwrap(),
            vec![3, 1]
        );
        assert_eq!(
            select_cores_from(&[0, 1, 2, 3], nz(2), Some(&[3, 1])).unwrap(),
            vec![3, 1]
        );
        match select_cores_from(&[0, 1], None, Some(&[0, 5])) {
            Err(Error::NoSuchCore { core: 5, online }) => assert_eq!(online, vec![0, 1]),
            other => panic!("expected NoSuchCore, got {other:?}"),
        }
        assert!(matches!(
            select_cores_from(&[0, 1], None, Some(&[1, 1])),
            Err(Error::DuplicateCore { core: 1 })
        ));
        assert!(matches!(
            select_cores_from(&[0, 1], nz(1), Some(&[0, 1])),
            Err(Error::ShardCountMismatch {
                shards: 1,
                cores: 2
            })
        ));
        assert!(matches!(
            select_cores_from(&[0, 1], None, Some(&[])),
            Err(Error::NoCores)
        ));
    }

    #[test]
    fn error_text_names_usable_cores() {
        let err = select_cores_from(&[0, 1, 2, 3, 8], None, Some(&[9])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "core 9 is not usable by this process (usable cores: 0-3,8)"
        );
    }
}
