//! `protocol_version`: the `MCP-Protocol-Version` header, when present, must name a version we
//! speak (400 otherwise). On a POST it runs after `era`, which has already held a 2026-07-28
//! request's header to its body; here every other request's header is checked.

use crate::http::{Head, RequestHead};
use crate::mcp::ProtocolVersion;

use crate::pipeline::Refusal;

/// The header's version (`None` without the header).
pub fn check(head: &RequestHead) -> Result<Option<ProtocolVersion>, Refusal> {
    match head.header("mcp-protocol-version") {
        None => Ok(None),
        Some(value) => ProtocolVersion::parse(value)
            .map(Some)
            .ok_or(Refusal::BadProtocolVersion),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::checks::test_head::head;

    #[test]
    fn absent_or_known_versions_continue() {
        assert_eq!(check(&head("GET", &[])), Ok(None));
        assert_eq!(
            check(&head("POST", &[("MCP-Protocol-Version", "2025-06-18")])),
            Ok(Some(ProtocolVersion::V2025_06_18))
        );
    }

    #[test]
    fn an_unknown_version_is_refused() {
        for bad in ["1999-01-01", "2025-06-18x", ""] {
            assert_eq!(
                check(&head("DELETE", &[("MCP-Protocol-Version", bad)])),
                Err(Refusal::BadProtocolVersion),
                "{bad:?}"
            );
        }
    }
}
