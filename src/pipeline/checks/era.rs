//! `era`: which protocol era a POST belongs to (legacy session or 2026-07-28 stateless
//! request), the route's era policy, and a modern request's mirrored headers
//! (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) held to its body (MCP-NOTES §6, §11.1).
//!
//! Not here: a legacy request's `MCP-Protocol-Version` (protocol_version.rs, the next stage),
//! `Mcp-Param-*` headers (forwarded untouched: nothing routes or applies policy on them).
//! Allocates nothing on success; a refusal keeps the offending version text.

use crate::config::RouteEra;
use crate::http::{Head, RequestHead};
use crate::mcp::{ClaimedVersion, Kind, ProtocolVersion};

use super::mirror::{check_mirror, MCP_METHOD, MCP_NAME, PROTOCOL_VERSION};
use crate::pipeline::{Facts, Mismatch, Refusal};

/// Classifies the POST by its first (only) message and applies the route's era policy;
/// `Ok(true)` for a modern request:
///
/// - a request (not `initialize`) with no `Mcp-Session-Id` whose body names a `_meta`
///   protocol version, or whose `MCP-Protocol-Version` header is 2026-07-28 or later, is
///   modern; its `_meta` version must be one we serve statelessly (else `-32022`) and the
///   mirrored headers must equal the body (else `-32020`);
/// - on a `modern` route `Mcp-Session-Id` is ignored (spec: a modern-only server neither mints
///   nor echoes it), and a legacy request (`initialize`, a request without the `_meta`
///   version, anything carrying a session id) is refused with `-32022`.
pub fn check(head: &RequestHead, facts: &Facts, route: RouteEra) -> Result<bool, Refusal> {
    let session = route == RouteEra::Dual && head.header("mcp-session-id").is_some();
    let request = facts.request_id().is_some() && !facts.is_initialize;
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
        return Ok(true);
    }
    if route == RouteEra::Modern && refused_on_modern_route(head, facts) {
        return Err(Refusal::UnsupportedVersion {
            requested: legacy_version(head, facts),
            modern_only: true,
        });
    }
    Ok(false)
}

/// What a `modern` route refuses among non-modern POSTs: `initialize`, session requests,
/// batches and requests without the 2026 `_meta` version. Notifications and responses without
/// a session pass (the core defines none over 2026 HTTP; the upstream decides).
fn refused_on_modern_route(head: &RequestHead, facts: &Facts) -> bool {
    facts.is_initialize
        || facts.is_batch()
        || facts.kind() == Some(Kind::Request)
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
) -> Result<(), Refusal> {
    let mismatch =
        |header: &'static str, problem: Mismatch| Refusal::HeaderMismatch { header, problem };
    let Some(meta) = meta else {
        // The header says 2026-07-28 but the body has no `_meta` version to mirror.
        return Err(mismatch(PROTOCOL_VERSION, Mismatch::BodyMissing));
    };
    if !meta.known().is_some_and(ProtocolVersion::is_stateless) {
        return Err(Refusal::UnsupportedVersion {
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
