//! [`RateLimit`]: how many requests a route admits per principal (`[listeners.NAME.routes.
//! rate_limit]`, `--rate-limit`, `--rate-limit-burst`): a token bucket per principal, with
//! per-principal overrides, and extra buckets per tool glob that calls of matching tools also
//! draw from. Rates are written `N/s`, `N/m` or `N/h`.
//!
//! Not here: counting (the proxy's rate-limit stage, which keeps each principal's buckets on
//! the shard the ring assigns to the principal).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::tools::{check_glob, glob_match};

/// A rate: `count` tokens per `unit`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Bucket size (the most requests admitted at once after a quiet spell).
    pub burst: u32,
    count: u32,
    /// `s`, `m` or `h`.
    unit: char,
}

impl Rate {
    /// Parses `N/s`, `N/m` or `N/h` (N from 1 to 1 000 000); the burst defaults to N per
    /// second rounded up (at least 1).
    ///
    /// # Errors
    /// Anything else (the message says what is allowed).
    pub fn parse(text: &str) -> Result<Rate, &'static str> {
        const ALLOWED: &str = "a rate like \"100/s\", \"20/m\" or \"1000/h\" (1 to 1000000 \
                               requests per second, minute or hour)";
        let (count, unit) = text.trim().split_once('/').ok_or(ALLOWED)?;
        let count: u32 = count.trim().parse().map_err(|_| ALLOWED)?;
        if count == 0 || count > 1_000_000 {
            return Err(ALLOWED);
        }
        let unit = match unit.trim() {
            "s" => 's',
            "m" => 'm',
            "h" => 'h',
            _ => return Err(ALLOWED),
        };
        // At least one request; a per-second rate bursts to one second's worth.
        let burst = if unit == 's' { count } else { 1 };
        Ok(Rate { burst, count, unit })
    }

    /// Tokens added per second.
    pub fn per_second(&self) -> f64 {
        let secs = match self.unit {
            'm' => 60.0,
            'h' => 3600.0,
            _ => 1.0,
        };
        f64::from(self.count) / secs
    }

    /// The same rate with bucket size `burst`.
    pub fn with_burst(self, burst: u32) -> Rate {
        Rate { burst, ..self }
    }

    /// As written.
    pub fn text(&self) -> String {
        format!("{}/{}", self.count, self.unit)
    }
}

/// `[listeners.NAME.routes.rate_limit]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Per principal, e.g. `"100/s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    /// Bucket size [default: the rate's per-second count, or 1 for slower rates].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Principal name → its own rate instead of `rate`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_principal: BTreeMap<String, String>,
    /// Tool glob → a rate that calls of matching tools also draw from (per principal).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_tool: BTreeMap<String, String>,
}

/// A route's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// The default per-principal rate (`None`: only the overrides and tool buckets).
    pub rate: Option<Rate>,
    /// Per-principal overrides.
    pub per_principal: Vec<(String, Rate)>,
    /// Tool buckets, in name order; a call draws from every one whose glob matches.
    pub per_tool: Vec<(String, Rate)>,
}

impl RateLimit {
    /// Checks the table (`key` names it in errors); `None` when it sets nothing.
    ///
    /// # Errors
    /// A rate that does not parse, a burst of 0, a bad tool glob, or a burst without a rate.
    pub fn build(key: &str, raw: Option<&RawRateLimit>) -> Result<Option<RateLimit>, Error> {
        let Some(raw) = raw else { return Ok(None) };
        let rate_at = |at: String, text: &str| {
            Rate::parse(text).map_err(|allowed| Error::Invalid {
                key: at,
                value: format!("{text:?}"),
                allowed,
            })
        };
        let burst = match raw.burst {
            Some(0) => {
                return Err(Error::Invalid {
                    key: format!("{key}.burst"),
                    value: "0".into(),
                    allowed: "a bucket size of at least 1 request",
                })
            }
            Some(_) if raw.rate.is_none() => {
                return Err(Error::Missing {
                    key: format!("{key}.rate"),
                    allowed: "`burst` sizes the bucket of `rate`: set the rate too",
                })
            }
            other => other,
        };
        let rate = raw
            .rate
            .as_deref()
            .map(|text| rate_at(format!("{key}.rate"), text))
            .transpose()?
            .map(|rate| burst.map_or(rate, |b| rate.with_burst(b)));
        let mut per_principal = Vec::new();
        for (name, text) in &raw.per_principal {
            per_principal.push((
                name.clone(),
                rate_at(format!("{key}.per_principal.{name}"), text)?,
            ));
        }
        let mut per_tool = Vec::new();
        for (glob, text) in &raw.per_tool {
            check_glob(&format!("{key}.per_tool.{glob}"), glob)?;
            per_tool.push((
                glob.clone(),
                rate_at(format!("{key}.per_tool.{glob}"), text)?,
            ));
        }
        if rate.is_none() && per_principal.is_empty() && per_tool.is_empty() {
            return Ok(None);
        }
        Ok(Some(RateLimit {
            rate,
            per_principal,
            per_tool,
        }))
    }

    /// The rate of `principal`'s request bucket (`None`: unlimited).
    pub fn principal_rate(&self, principal: &str) -> Option<Rate> {
        self.per_principal
            .iter()
            .find(|(name, _)| name == principal)
            .map(|(_, rate)| *rate)
            .or(self.rate)
    }

    /// The tool buckets a call of `tool` draws from: their indexes and rates.
    pub fn tool_rates<'a>(&'a self, tool: &'a str) -> impl Iterator<Item = (usize, Rate)> + 'a {
        self.per_tool
            .iter()
            .enumerate()
            .filter(move |(_, (glob, _))| glob_match(glob.as_bytes(), tool.as_bytes()))
            .map(|(index, (_, rate))| (index, *rate))
    }

    /// The table as written (for printing).
    pub fn to_raw(&self) -> RawRateLimit {
        RawRateLimit {
            rate: self.rate.map(|r| r.text()),
            burst: self.rate.map(|r| r.burst),
            per_principal: self
                .per_principal
                .iter()
                .map(|(n, r)| (n.clone(), r.text()))
                .collect(),
            per_tool: self
                .per_tool
                .iter()
                .map(|(g, r)| (g.clone(), r.text()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_sane_bursts() {
        let r = Rate::parse("100/s").unwrap();
        assert_eq!(
            (r.per_second(), r.burst, r.text()),
            (100.0, 100, "100/s".into())
        );
        let r = Rate::parse(" 20/m ").unwrap();
        assert!((r.per_second() - 20.0 / 60.0).abs() < 1e-9);
        assert_eq!(r.burst, 1);
        assert_eq!(Rate::parse("5/h").unwrap().with_burst(3).burst, 3);
        for bad in ["", "10", "0/s", "10/d", "x/s", "2000000/s", "-1/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_build_and_refuse() {
        let raw = RawRateLimit {
            rate: Some("10/s".into()),
            burst: Some(5),
            per_principal: [("batch".to_owned(), "100/m".to_owned())].into(),
            per_tool: [("expensive_*".to_owned(), "5/m".to_owned())].into(),
        };
        let limit = RateLimit::build("r", Some(&raw)).unwrap().unwrap();
        assert_eq!(limit.principal_rate("alice").unwrap().burst, 5);
        assert_eq!(limit.principal_rate("batch").unwrap().text(), "100/m");
        assert_eq!(limit.tool_rates("expensive_sum").count(), 1);
        assert_eq!(limit.tool_rates("cheap").count(), 0);
        assert_eq!(limit.to_raw(), raw);
        assert!(RateLimit::build("r", Some(&RawRateLimit::default()))
            .unwrap()
            .is_none());
        let bad = |raw: RawRateLimit, key: &str| {
            let err = RateLimit::build("r", Some(&raw)).unwrap_err();
            assert!(err.key().unwrap_or_default().ends_with(key), "{err}");
        };
        bad(
            RawRateLimit {
                rate: Some("fast".into()),
                ..Default::default()
            },
            "r.rate",
        );
        bad(
            RawRateLimit {
                burst: Some(3),
                ..Default::default()
            },
            "r.rate",
        );
        bad(
            RawRateLimit {
                rate: Some("1/s".into()),
                burst: Some(0),
                ..Default::default()
            },
            "r.burst",
        );
        bad(
            RawRateLimit {
                per_tool: [(String::new(), "1/s".to_owned())].into(),
                ..Default::default()
            },
            "per_tool.",
        );
    }
}
