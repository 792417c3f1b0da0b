//! A 2026-07-28 mirrored header held to the body value it mirrors: present once, equal (or
//! its `=?base64?…?=` form), for the `era` stage.

use crate::http::{Head, RequestHead};
use crate::pipeline::Mismatch;

/// The mirrored headers a modern request is checked on (names as the spec spells them).
pub const PROTOCOL_VERSION: &str = "MCP-Protocol-Version";
/// `Mcp-Method`: the body's `method`.
pub const MCP_METHOD: &str = "Mcp-Method";
/// `Mcp-Name`: `params.name` (`tools/call`, `prompts/get`) or `params.uri` (`resources/read`).
pub const MCP_NAME: &str = "Mcp-Name";

/// `name` must appear once and equal `body` (names compare case-insensitively, values
/// exactly; `base64` allows the `=?base64?…?=` form for values that are not header-safe).
pub(super) fn check_mirror(
    head: &RequestHead,
    name: &str,
    body: Option<&str>,
    base64: bool,
) -> Result<(), Mismatch> {
    let only = head.fields().only(name);
    let Some(value) = only.map_err(|_| Mismatch::Duplicate)? else {
        return Err(Mismatch::Missing);
    };
    let Some(body) = body else {
        return Err(Mismatch::BodyMissing);
    };
    if value == body.as_bytes() {
        return Ok(());
    }
    match base64.then(|| encoded_value(value)).flatten() {
        Some(inner) if decode_base64(inner).is_some_and(|bytes| bytes == body.as_bytes()) => Ok(()),
        _ => Err(Mismatch::Differs),
    }
}

/// The Base64 text of a `=?base64?<b64>?=` header value (2026-07-28 §Value Encoding).
fn encoded_value(value: &[u8]) -> Option<&[u8]> {
    value.strip_prefix(b"=?base64?")?.strip_suffix(b"?=")
}

/// Decodes standard Base64 (RFC 4648 §4, padding required when the length needs it).
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.chunks_exact(4);
    let last = quads.len().checked_sub(1);
    for (n, quad) in quads.enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && Some(n) != last) {
            return None;
        }
        let mut bits = 0u32;
        for &c in quad.iter().take(4 - pad) {
            bits = (bits << 6) | sextet(c)?;
        }
        bits <<= 6 * pad;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(bytes.get(1..4 - pad)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::checks::test_head::head;

    #[test]
    fn base64_decoding() {
        assert_eq!(decode_base64(b"").unwrap(), b"");
        assert_eq!(decode_base64(b"Zg==").unwrap(), b"f");
        assert_eq!(decode_base64(b"Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64(b"Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64(b"w6lsw6g=").unwrap(), "élè".as_bytes());
        assert!(decode_base64(b"Zg").is_none());
        assert!(decode_base64(b"Zg==Zm9v").is_none());
        assert!(decode_base64(b"Z===").is_none());
        assert!(decode_base64(b"Zm9*").is_none());
    }

    #[test]
    fn a_mirror_is_present_once_and_equal() {
        let h = head("POST", &[(MCP_NAME, "=?base64?w6lsw6g=?=")]);
        assert_eq!(check_mirror(&h, MCP_NAME, Some("élè"), true), Ok(()));
        assert_eq!(
            check_mirror(&h, MCP_NAME, Some("élè"), false),
            Err(Mismatch::Differs)
        );
        assert_eq!(
            check_mirror(&h, MCP_METHOD, Some("x"), false),
            Err(Mismatch::Missing)
        );
        assert_eq!(
            check_mirror(&h, MCP_NAME, None, true),
            Err(Mismatch::BodyMissing)
        );
        let twice = head("POST", &[(MCP_METHOD, "ping"), ("mcp-method", "ping")]);
        assert_eq!(
            check_mirror(&twice, MCP_METHOD, Some("ping"), false),
            Err(Mismatch::Duplicate)
        );
    }
}
