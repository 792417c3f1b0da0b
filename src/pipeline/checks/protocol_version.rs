//! `protocol_version`: the `MCP-Protocol-Version` header, when present, must appear once and
//! name a version we speak (400 otherwise). On a POST it runs after `era`, which has already
//! held a 2026-07-28 request's header to its body; here every other request's header is checked.
//!
//! Why once: the header goes upstream as the client sent it, every copy. With two, the proxy
//! would vouch for the first while the upstream may act on the other (or on both joined).

use crate::http::{Head, RequestHead};
use crate::mcp::ProtocolVersion;

use crate::pipeline::Refusal;

/// The header's version (`None` without the header).
pub fn check(head: &RequestHead) -> Result<Option<ProtocolVersion>, Refusal> {
    let only = head.fields().only("mcp-protocol-version");
    let Some(value) = only.map_err(|_| Refusal::BadProtocolVersion)? else {
        return Ok(None);
    };
    ProtocolVersion::parse(value)
        .map(Some)
        .ok_or(Refusal::BadProtocolVersion)
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
    fn a_repeated_header_is_refused_even_when_both_are_known() {
        for second in ["1999-01-01", "2026-07-28", "2025-06-18"] {
            let twice = head(
                "POST",
                &[
                    ("MCP-Protocol-Version", "2025-06-18"),
                    ("MCP-Protocol-Version", second),
                ],
            );
            assert_eq!(check(&twice), Err(Refusal::BadProtocolVersion), "{second}");
        }
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
