//! MCP protocol versions: the known revisions, header checking, `initialize` negotiation.
//!
//! Not here: HTTP header lookup (callers pass the raw value), era routing decisions.
//! Allocation: none on success; a `VersionError` owns a copy of the rejected value.

use super::jsonrpc::write_json_string;

/// A known MCP protocol revision. Variants are declared in date order, so `Ord` compares as dates
/// (MCP-NOTES §11: "compare as dates").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// 2024-11-05: HTTP+SSE transport.
    V2024_11_05,
    /// 2025-03-26: Streamable HTTP, batching.
    V2025_03_26,
    /// 2025-06-18: no batching, `MCP-Protocol-Version` header, elicitation.
    V2025_06_18,
    /// 2025-11-25: tasks, SSE polling, URL elicitation.
    V2025_11_25,
    /// 2026-07-28: stateless (no `initialize`, no sessions).
    V2026_07_28,
}

/// Versions accepted in a legacy `initialize` (the session-ful era), oldest first.
pub const SUPPORTED_SESSIONFUL: &[ProtocolVersion] = &[
    ProtocolVersion::V2024_11_05,
    ProtocolVersion::V2025_03_26,
    ProtocolVersion::V2025_06_18,
    ProtocolVersion::V2025_11_25,
];

/// The protocol version a message names (`initialize` params or result, or 2026 `_meta`), without
/// allocating for the versions we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimedVersion {
    /// One of [`ProtocolVersion::ALL`].
    Known(ProtocolVersion),
    /// Anything else, kept so that a `-32022` reply can echo it in `data.requested`.
    Unknown(String),
}

impl ClaimedVersion {
    /// Classifies a version string taken from a message body.
    pub fn parse(value: &str) -> Self {
        match ProtocolVersion::parse(value.as_bytes()) {
            Some(version) => Self::Known(version),
            None => Self::Unknown(value.to_owned()),
        }
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(version) => version.as_str(),
            Self::Unknown(value) => value,
        }
    }

    /// The known version, if it is one.
    pub fn known(&self) -> Option<ProtocolVersion> {
        match self {
            Self::Known(version) => Some(*version),
            Self::Unknown(_) => None,
        }
    }
}

/// A protocol version the proxy does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The value is not one of [`ProtocolVersion::ALL`]; `requested` is the value as sent (lossy UTF-8).
    #[error("unsupported MCP protocol version {requested:?}")]
    Unsupported {
        /// What the peer asked for.
        requested: String,
    },
}

impl VersionError {
    /// Appends the `-32022` `data` object: `{"supported":[…],"requested":"…"}` (2026-07-28 `schema.ts`).
    pub fn write_data(&self, out: &mut Vec<u8>) {
        let Self::Unsupported { requested } = self;
        out.extend_from_slice(br#"{"supported":["#);
        for (n, version) in ProtocolVersion::ALL.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_json_string(out, version.as_str());
        }
        out.extend_from_slice(br#"],"requested":"#);
        write_json_string(out, requested);
        out.push(b'}');
    }
}

impl ProtocolVersion {
    /// Every known version, oldest first.
    pub const ALL: &'static [ProtocolVersion] = &[
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
        Self::V2026_07_28,
    ];
    /// The newest known version.
    pub const LATEST: Self = Self::V2026_07_28;
    /// The newest version that uses `initialize` and sessions.
    pub const LATEST_SESSIONFUL: Self = Self::V2025_11_25;
    /// What a request without `MCP-Protocol-Version` is assumed to speak (2025-06-18 `transports.mdx`).
    pub const ASSUMED_WITHOUT_HEADER: Self = Self::V2025_03_26;

    /// Parses the exact version string (`b"2025-06-18"`); anything else is `None`.
    pub fn parse(value: &[u8]) -> Option<Self> {
        match value {
            b"2024-11-05" => Some(Self::V2024_11_05),
            b"2025-03-26" => Some(Self::V2025_03_26),
            b"2025-06-18" => Some(Self::V2025_06_18),
            b"2025-11-25" => Some(Self::V2025_11_25),
            b"2026-07-28" => Some(Self::V2026_07_28),
            _ => None,
        }
    }

    /// The wire form, e.g. `"2025-06-18"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// True from 2026-07-28 on: no `initialize`, no `Mcp-Session-Id`, per-request `_meta`.
    pub fn is_stateless(self) -> bool {
        self >= Self::V2026_07_28
    }

    /// True only for 2025-03-26, the one revision whose bodies may be JSON-RPC batches.
    pub fn allows_batch(self) -> bool {
        self == Self::V2025_03_26
    }

    /// The version a legacy server answers an `initialize` with: the requested one when it is in
    /// [`SUPPORTED_SESSIONFUL`], else [`Self::LATEST_SESSIONFUL`] (lifecycle.mdx: "the server MUST
    /// respond with another protocol version it supports").
    pub fn negotiate(requested: &[u8]) -> Self {
        match Self::parse(requested) {
            Some(version) if SUPPORTED_SESSIONFUL.contains(&version) => version,
            _ => Self::LATEST_SESSIONFUL,
        }
    }
}

/// Checks an `MCP-Protocol-Version` header value.
///
/// Missing → [`ProtocolVersion::ASSUMED_WITHOUT_HEADER`] (2025-03-26, per the 2025-06-18+ transport text).
/// Surrounding spaces/tabs are ignored (RFC 9110 §5.5 optional whitespace). Any unknown value →
/// [`VersionError::Unsupported`], which the caller answers with HTTP 400 and `-32022`.
pub fn check_header(value: Option<&[u8]>) -> Result<ProtocolVersion, VersionError> {
    let Some(value) = value else {
        return Ok(ProtocolVersion::ASSUMED_WITHOUT_HEADER);
    };
    let trimmed = value.trim_ascii();
    ProtocolVersion::parse(trimmed).ok_or_else(|| VersionError::Unsupported {
        requested: String::from_utf8_lossy(trimmed).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_as_str_round_trip() {
        for &version in ProtocolVersion::ALL {
            assert_eq!(
                ProtocolVersion::parse(version.as_str().as_bytes()),
                Some(version)
            );
        }
        assert_eq!(ProtocolVersion::parse(b"2025-06-19"), None);
        assert_eq!(ProtocolVersion::parse(b" 2025-06-18"), None);
        assert_eq!(ProtocolVersion::parse(b""), None);
    }

    #[test]
    fn order_is_date_order() {
        let mut sorted = ProtocolVersion::ALL.to_vec();
        sorted.sort_by_key(|v| v.as_str());
        assert_eq!(sorted, ProtocolVersion::ALL);
        assert!(ProtocolVersion::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ProtocolVersion::ALL.last(), Some(&ProtocolVersion::LATEST));
    }

    #[test]
    fn era_predicates() {
        assert!(ProtocolVersion::V2026_07_28.is_stateless());
        assert!(!ProtocolVersion::V2025_11_25.is_stateless());
        assert!(ProtocolVersion::V2025_03_26.allows_batch());
        assert!(!ProtocolVersion::V2025_06_18.allows_batch());
        assert!(!ProtocolVersion::V2024_11_05.allows_batch());
        assert!(SUPPORTED_SESSIONFUL.iter().all(|v| !v.is_stateless()));
    }

    #[test]
    fn missing_header_means_2025_03_26() {
        assert_eq!(check_header(None), Ok(ProtocolVersion::V2025_03_26));
    }

    #[test]
    fn known_header_values_are_accepted() {
        assert_eq!(
            check_header(Some(b"2025-06-18")),
            Ok(ProtocolVersion::V2025_06_18)
        );
        assert_eq!(
            check_header(Some(b" 2026-07-28\t")),
            Ok(ProtocolVersion::V2026_07_28)
        );
    }

    #[test]
    fn unknown_header_value_is_reported_with_supported_list() {
        let err = check_header(Some(b"2099-01-01")).unwrap_err();
        assert_eq!(
            err,
            VersionError::Unsupported {
                requested: "2099-01-01".into()
            }
        );
        let mut data = Vec::new();
        err.write_data(&mut data);
        let data: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(data["requested"], "2099-01-01");
        let supported: Vec<&str> = data["supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            supported,
            [
                "2024-11-05",
                "2025-03-26",
                "2025-06-18",
                "2025-11-25",
                "2026-07-28"
            ]
        );
    }

    #[test]
    fn non_utf8_header_value_is_reported_lossily() {
        let err = check_header(Some(b"\xff\xfe")).unwrap_err();
        let VersionError::Unsupported { requested } = &err;
        assert_eq!(requested, "\u{fffd}\u{fffd}");
        let mut data = Vec::new();
        err.write_data(&mut data);
        assert!(serde_json::from_slice::<serde_json::Value>(&data).is_ok());
    }

    #[test]
    fn claimed_version_keeps_unknown_text() {
        let known = ClaimedVersion::parse("2025-11-25");
        assert_eq!(known, ClaimedVersion::Known(ProtocolVersion::V2025_11_25));
        assert_eq!(known.as_str(), "2025-11-25");
        let unknown = ClaimedVersion::parse("draft-x");
        assert_eq!(unknown.known(), None);
        assert_eq!(unknown.as_str(), "draft-x");
    }

    #[test]
    fn initialize_negotiation_echoes_supported_or_offers_latest_sessionful() {
        let cases: [(&[u8], ProtocolVersion); 4] = [
            (b"2024-11-05", ProtocolVersion::V2024_11_05),
            (b"2025-06-18", ProtocolVersion::V2025_06_18),
            (b"2026-07-28", ProtocolVersion::V2025_11_25),
            (b"1.0", ProtocolVersion::V2025_11_25),
        ];
        for (requested, offered) in cases {
            assert_eq!(ProtocolVersion::negotiate(requested), offered);
        }
    }
}
