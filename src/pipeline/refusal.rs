//! Why a stage answered a message itself: [`Refusal`] (and [`Mismatch`], what is wrong with a
//! mirrored 2026-07-28 header). The proxy turns each into its HTTP status and JSON-RPC error
//! (`ProxyError::refused`, then the one answer funnel), so a stage never writes bytes.
//!
//! Not here: the checks (checks/, tool_filter.rs), the wire form of the answers.

/// Why a stage answered a message itself.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `tools/call` of a tool the route hides (`-32602`, as a server answers an unknown tool).
    UnknownTool {
        /// The tool's name as the client sent it.
        name: String,
        /// The call was one element of a batch (nothing of the batch is sent).
        in_batch: bool,
    },
    /// A request or notification whose method the route's policy denies this caller
    /// (`-32601`, as a server answers a method it does not have).
    MethodDenied {
        /// The method as the client sent it.
        method: String,
        /// The message was one element of a batch (nothing of the batch is sent).
        in_batch: bool,
    },
    /// `Host` absent or not allow-listed (DNS rebinding: 403).
    HostNotAllowed,
    /// `Origin` present and not allow-listed (403).
    OriginNotAllowed,
    /// `Accept` lacks what the method's answer needs (406).
    NotAcceptable {
        /// What the client must accept.
        needed: &'static str,
    },
    /// A POST body that is not `application/json` (415).
    UnsupportedMediaType,
    /// `MCP-Protocol-Version` names a version we do not speak (400).
    BadProtocolVersion,
    /// A 2026-07-28 request naming a `_meta` version not served statelessly here, or a legacy
    /// request on a route that serves only 2026-07-28 (`-32022`).
    UnsupportedVersion {
        /// The version the request named (`data.requested`).
        requested: String,
        /// The route serves only 2026-07-28.
        modern_only: bool,
    },
    /// A 2026-07-28 request whose mirrored header is missing, repeated or differs (`-32020`).
    HeaderMismatch {
        /// The header, as the spec spells it.
        header: &'static str,
        /// What is wrong with it.
        problem: Mismatch,
    },
    /// A JSON-RPC batch outside a 2025-03-26 session (400).
    BatchNotAllowed,
}

/// Why a mirrored header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The header is required and absent.
    Missing,
    /// The header appears more than once.
    Duplicate,
    /// The header's value differs from the body (or is not valid UTF-8 / Base64).
    Differs,
    /// The header is present but the body has no value for it.
    BodyMissing,
}

impl Mismatch {
    /// Words for the client-facing message.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "is missing",
            Self::Duplicate => "appears more than once",
            Self::Differs => "does not match the body",
            Self::BodyMissing => "has no matching value in the body",
        }
    }
}
