//! Which protocol era a POST belongs to (legacy session or 2026-07-28 stateless request), the
//! route's era policy, and the check of a modern request's mirrored headers
//! (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) against its body (MCP-NOTES §6, §11.1).
//!
//! Not here: reading or inspecting the body (post.rs, crate::mcp), answering the errors
//! (respond.rs), `Mcp-Param-*` headers (forwarded untouched by headers.rs: nothing here routes
//! or applies policy on them).
//! Allocates nothing on success; a rejection keeps the offending version text.

use crate::config::RouteEra;
use crate::http::{Head, RequestHead};
use crate::mcp::{ClaimedVersion, Kind, ProtocolVersion};

use super::error::{Mismatch, ProxyError};
use crate::pipeline::Facts;

/// How a POST is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Era {
    /// `initialize`, a session request, or anything without the 2026 `_meta` version: served
    /// as before (session lookup, shard ownership, session minting).
    Legacy,
    /// A 2026-07-28 stateless request: never mints a session, served on the shard it landed
    /// on, its mirrored headers already checked against the body.
    Modern,
}

/// The mirrored headers a modern request is checked on (names as the spec spells them).
pub(super) const PROTOCOL_VERSION: &str = "MCP-Protocol-Version";
/// `Mcp-Method`: the body's `method`.
pub(super) const MCP_METHOD: &str = "Mcp-Method";
/// `Mcp-Name`: `params.name` (`tools/call`, `prompts/get`) or `params.uri` (`resources/read`).
pub(super) const MCP_NAME: &str = "Mcp-Name";

/// Classifies the POST by its first (only) message and applies the route's era policy:
///
/// - a request (not `initialize`) with no `Mcp-Session-Id` whose body names a `_meta`
///   protocol version, or whose `MCP-Protocol-Version` header is 2026-07-28 or later, is
///   modern; its `_meta` version must be one we serve statelessly (else `-32022`) and the
///   mirrored headers must equal the body (else `-32020`);
/// - on a `modern` route `Mcp-Session-Id` is ignored (spec: a modern-only server neither mints
///   nor echoes it), and a legacy request (`initialize`, a request without the `_meta`
///   version, anything carrying a session id) is refused with `-32022`;
/// - a legacy request's `MCP-Protocol-Version`, when present, must name a version we know.
pub(super) fn classify(
    head: &RequestHead,
    facts: &Facts,
    route: RouteEra,
) -> Result<Era, ProxyError> {
    let session = route == RouteEra::Dual && head.header("mcp-session-id").is_some();
    let request = facts.kind == Some(Kind::Request) && !facts.is_initialize && !facts.is_batch;
    let meta = if request {
        facts.claimed.as_ref()
    } else {
        None
    };
    let header_modern = head
        .header("mcp-protocol-version")
        .and_then(ProtocolVersion::parse)
        .is_some_and(ProtocolVersion::is_stateless);
    let meta_modern = meta.is_some_and(|claimed| claimed.known().is_none_or(|v| v.is_stateless()));
    if request && !session && (meta_modern || header_modern) {
        check_modern(head, facts, meta, route)?;
        return Ok(Era::Modern);
    }
    if route == RouteEra::Modern && refused_on_modern_route(head, facts) {
        return Err(ProxyError::UnsupportedVersion {
            id: facts.id.clone(),
            requested: legacy_version(head, facts),
            modern_only: true,
        });
    }
    match head.header("mcp-protocol-version") {
        Some(value) if ProtocolVersion::parse(value).is_none() => {
            Err(ProxyError::BadProtocolVersion {
                id: facts.id.clone(),
            })
        }
        _ => Ok(Era::Legacy),
    }
}

/// What a `modern` route refuses among non-modern POSTs: `initialize`, session requests,
/// batches and requests without the 2026 `_meta` version. Notifications and responses without
/// a session pass (the core defines none over 2026 HTTP; the upstream decides).
fn refused_on_modern_route(head: &RequestHead, facts: &Facts) -> bool {
    facts.is_initialize
        || facts.is_batch
        || facts.kind == Some(Kind::Request)
        || head.header("mcp-session-id").is_some()
}

/// The version a refused legacy request asked for, for `data.requested`.
fn legacy_version(head: &RequestHead, facts: &Facts) -> String {
    if let Some(claimed) = &facts.claimed {
        return claimed.as_str().to_owned();
    }
    match head.header("mcp-protocol-version") {
        Some(value) => String::from_utf8_lossy(value).into_owned(),
        None => ProtocolVersion::ASSUMED_WITHOUT_HEADER.as_str().to_owned(),
    }
}

/// The `_meta` version must be served statelessly here; then each mirrored header must be
/// present exactly once and equal the body.
fn check_modern(
    head: &RequestHead,
    facts: &Facts,
    meta: Option<&ClaimedVersion>,
    route: RouteEra,
) -> Result<(), ProxyError> {
    let mismatch = |header: &'static str, problem: Mismatch| ProxyError::HeaderMismatch {
        id: facts.id.clone(),
        header,
        problem,
    };
    let Some(meta) = meta else {
        // The header says 2026-07-28 but the body has no `_meta` version to mirror.
        return Err(mismatch(PROTOCOL_VERSION, Mismatch::BodyMissing));
    };
    if !meta.known().is_some_and(ProtocolVersion::is_stateless) {
        return Err(ProxyError::UnsupportedVersion {
            id: facts.id.clone(),
            requested: meta.as_str().to_owned(),
            modern_only: route == RouteEra::Modern,
        });
    }
    check_mirror(head, PROTOCOL_VERSION, Some(meta.as_str()), false)
        .map_err(|p| mismatch(PROTOCOL_VERSION, p))?;
    check_mirror(head, MCP_METHOD, facts.method_name(), false)
        .map_err(|p| mismatch(MCP_METHOD, p))?;
    if facts.method.has_mcp_name() {
        if let Some(name) = facts.mcp_name.as_deref() {
            check_mirror(head, MCP_NAME, Some(name), true).map_err(|p| mismatch(MCP_NAME, p))?;
        }
    }
    Ok(())
}

/// `name` must appear once and equal `body` (names compare case-insensitively, values
/// exactly; `base64` allows the `=?base64?…?=` form for values that are not header-safe).
fn check_mirror(
    head: &RequestHead,
    name: &str,
    body: Option<&str>,
    base64: bool,
) -> Result<(), Mismatch> {
    let mut values = head.fields().get_all(name);
    let Some(value) = values.next() else {
        return Err(Mismatch::Missing);
    };
    if values.next().is_some() {
        return Err(Mismatch::Duplicate);
    }
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
#[path = "era_tests.rs"]
mod tests;
