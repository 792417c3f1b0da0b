//! `ProxyError`: everything that can end a client request early, and who is at fault.
//!
//! Not here: turning an error into bytes (respond.rs is the one funnel).

use crate::auth::AuthError;
use crate::mcp::JsonRpcId;
use crate::pipeline::Refusal;
use crate::upstream::credentials::NoToken;

/// What is wrong with a mirrored 2026-07-28 header (the `era` stage decides it).
pub use crate::pipeline::Mismatch;

/// Who caused a failure; decides logging level and metrics bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client sent something we refuse.
    Client,
    /// The upstream failed or misbehaved.
    Upstream,
    /// Our own fault (resources, bugs).
    Internal,
}

/// A failure that gets an HTTP status and a JSON-RPC error object (id when known).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Client framing or head errors (400, 408, 413, 431...).
    #[error("bad HTTP request: {0}")]
    Http(#[from] crate::http::Error),
    /// The head did not arrive within the head timeout.
    #[error("request head or body not received within the timeout")]
    HeadTimeout,
    /// Malformed JSON or not JSON-RPC.
    #[error("bad JSON-RPC message: {0}")]
    Mcp(#[from] crate::mcp::Error),
    /// No route for this path.
    #[error("no MCP endpoint at this path")]
    NoRoute,
    /// Method other than POST/GET/DELETE.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// GET, DELETE or another non-POST method on a route serving only 2026-07-28.
    #[error("this endpoint serves only 2026-07-28 stateless requests: POST only")]
    PostOnly,
    /// A legacy HTTP+SSE path asked with the wrong method (`allow` names the right one).
    #[error("method not allowed")]
    LegacyMethodNotAllowed {
        /// The `Allow` header to send.
        allow: &'static [(&'static str, &'static str)],
    },
    /// `POST` to the legacy messages path without a `sessionId` query parameter.
    #[error("sessionId query parameter required")]
    LegacySessionRequired {
        /// Request id when known.
        id: Option<JsonRpcId>,
    },
    /// `tools/call` of a tool the route hides (`tool_filter` stage): answered as a server
    /// answers an unknown tool (200, `-32602`).
    #[error("Unknown tool: {name}")]
    UnknownTool {
        /// Request id.
        id: Option<JsonRpcId>,
        /// The tool's name as the client sent it.
        name: String,
    },
    /// A request whose method the route's policy denies this caller: answered as a server
    /// answers an unknown method (200, `-32601`).
    #[error("Method not found: {method}")]
    MethodDenied {
        /// Request id.
        id: Option<JsonRpcId>,
        /// The method as the client sent it.
        method: String,
    },
    /// A batch holds a method the route's policy denies: nothing of it is sent (400, `-32601`).
    #[error("Method not found: {method} (the batch holding it was not sent)")]
    BatchMethodDenied {
        /// The method as the client sent it.
        method: String,
    },
    /// A batch calls a tool the route hides: nothing of it is sent (400, `-32602`).
    #[error("Unknown tool: {name} (the batch calling it was not sent)")]
    BatchUnknownTool {
        /// The tool's name as the client sent it.
        name: String,
    },
    /// `Host` not in the allow-list.
    #[error("host not allowed")]
    HostNotAllowed,
    /// `Origin` present and not allowed.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// POST without both JSON and SSE in `Accept`, or GET without SSE.
    #[error("Accept must include {needed}")]
    NotAcceptable {
        /// What the client must accept.
        needed: &'static str,
    },
    /// POST with a body that is not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// `MCP-Protocol-Version` names a version we do not speak.
    #[error("unsupported MCP-Protocol-Version")]
    BadProtocolVersion {
        /// Request id when known.
        id: Option<JsonRpcId>,
    },
    /// A 2026-07-28 request naming a `_meta` version not served statelessly here, or a legacy
    /// request on a route that serves only 2026-07-28 (`-32022`).
    #[error("unsupported protocol version {requested:?}")]
    UnsupportedVersion {
        /// Request id when known.
        id: Option<JsonRpcId>,
        /// The version the request named (`data.requested`).
        requested: String,
        /// The route serves only 2026-07-28 (`data.supported` lists only that).
        modern_only: bool,
    },
    /// A 2026-07-28 request whose mirrored header is missing, repeated or differs from the body
    /// (`-32020`).
    #[error("{header} header {}", problem.as_str())]
    HeaderMismatch {
        /// Request id when known.
        id: Option<JsonRpcId>,
        /// The header, as the spec spells it.
        header: &'static str,
        /// What is wrong with it.
        problem: Mismatch,
    },
    /// A JSON-RPC batch on a session that did not negotiate 2025-03-26.
    #[error("JSON-RPC batches are only allowed on 2025-03-26 sessions")]
    BatchNotAllowed,
    /// GET/DELETE (or a non-initialize POST) without a session header where one is required.
    #[error("Mcp-Session-Id header required")]
    SessionRequired {
        /// Request id when known.
        id: Option<JsonRpcId>,
    },
    /// Unknown or expired session id.
    #[error("session not found")]
    SessionNotFound {
        /// Request id when known.
        id: Option<JsonRpcId>,
    },
    /// The upstream could not be reached (connect refused, reset before a response).
    #[error("upstream unavailable: {reason}")]
    UpstreamUnavailable {
        /// Request id when known.
        id: Option<JsonRpcId>,
        /// What failed, for logs.
        reason: String,
    },
    /// The TLS handshake with an `https://` upstream failed (certificate not trusted or not
    /// for its host, protocol alert): the client is told it was TLS, the log has the reason.
    #[error("upstream {reason}")]
    UpstreamTls {
        /// Request id when known.
        id: Option<JsonRpcId>,
        /// The address and rustls's reason, for logs.
        reason: String,
    },
    /// The upstream has `max_in_flight` requests in flight already (503, `Retry-After`).
    #[error("upstream at its concurrency limit")]
    UpstreamBusy {
        /// Request id when known.
        id: Option<JsonRpcId>,
    },
    /// The upstream did not answer in time.
    #[error("upstream timed out")]
    UpstreamTimeout {
        /// Request id when known.
        id: Option<JsonRpcId>,
    },
    /// The upstream sent a response we cannot relay (bad framing).
    #[error("upstream sent a malformed response: {source}")]
    UpstreamProtocol {
        /// Request id when known.
        id: Option<JsonRpcId>,
        /// The framing error.
        source: crate::http::Error,
    },
    /// This shard holds `sessions.max_per_shard` sessions already.
    #[error("too many sessions")]
    TooManySessions {
        /// Request id when known.
        id: Option<JsonRpcId>,
    },
    /// `initialize` inside a session that already had its handshake (as the SDK servers
    /// answer it: 400, -32600).
    #[error("session already initialized")]
    AlreadyInitialized {
        /// Request id.
        id: Option<JsonRpcId>,
    },
    /// A request whose id is already in flight on its session (translated sessions: the id
    /// keys the request's cancellation and MRTR answers).
    #[error("a request with this id is already in flight")]
    IdInFlight {
        /// Request id.
        id: Option<JsonRpcId>,
    },
    /// A GET stream is already open for the session (stdio upstreams: one inbox per session).
    #[error("a GET stream is already open for this session")]
    StreamConflict,
    /// The shard is draining for shutdown and takes no new requests.
    #[error("proxy is shutting down")]
    ShuttingDown,
    /// Local resources exhausted (random source, session id space).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The principal is over the route's rate limit (429 with `Retry-After`).
    #[error("rate limit exceeded: retry in {retry_after_secs} s")]
    RateLimited {
        /// Request id when known.
        id: Option<JsonRpcId>,
        /// Seconds until the request would be admitted.
        retry_after_secs: u32,
    },
    /// The upstream has `oauth` and the proxy has no valid token for it (503 with
    /// `Retry-After`, `-32016`), or its authorization server refused to exchange the caller's
    /// token (403, `-32013`). The request was not sent.
    #[error("no access token for the upstream ({})", if *refused { "exchange refused" } else { "none yet" })]
    UpstreamToken {
        /// Request id when known.
        id: Option<JsonRpcId>,
        /// The exchange was refused (else: no token available).
        refused: bool,
    },
    /// The route's `authenticate` stage refused the request (401, 403, 400 or 503).
    #[error("{}", .0.error.message())]
    Auth(Box<AuthRefusal>),
    /// `audit.required` is set and audit lines cannot be written now (503, `Retry-After`).
    #[error("audit log unavailable: requests are refused until audit lines can be written")]
    AuditUnavailable,
}

/// An authentication refusal and the challenge that goes with it.
#[derive(Debug)]
pub struct AuthRefusal {
    /// Why.
    pub error: AuthError,
    /// The `WWW-Authenticate` value, when the answer carries one.
    pub challenge: Option<String>,
}

impl ProxyError {
    /// The error for a request of `id` that has no upstream token.
    pub fn no_token(why: NoToken, id: Option<JsonRpcId>) -> Self {
        ProxyError::UpstreamToken {
            id,
            refused: why == NoToken::Refused,
        }
    }

    /// The error a stage's refusal of the message with `id` becomes (`id` is echoed only by
    /// the refusals made after the body was read).
    pub fn refused(refusal: Refusal, id: Option<JsonRpcId>) -> Self {
        match refusal {
            Refusal::UnknownTool {
                name,
                in_batch: false,
            } => ProxyError::UnknownTool { id, name },
            Refusal::UnknownTool { name, .. } => ProxyError::BatchUnknownTool { name },
            Refusal::MethodDenied {
                method,
                in_batch: false,
            } => ProxyError::MethodDenied { id, method },
            Refusal::MethodDenied { method, .. } => ProxyError::BatchMethodDenied { method },
            Refusal::HostNotAllowed => ProxyError::HostNotAllowed,
            Refusal::OriginNotAllowed => ProxyError::OriginNotAllowed,
            Refusal::NotAcceptable { needed } => ProxyError::NotAcceptable { needed },
            Refusal::UnsupportedMediaType => ProxyError::UnsupportedMediaType,
            Refusal::BadProtocolVersion => ProxyError::BadProtocolVersion { id },
            Refusal::UnsupportedVersion {
                requested,
                modern_only,
            } => ProxyError::UnsupportedVersion {
                id,
                requested,
                modern_only,
            },
            Refusal::HeaderMismatch { header, problem } => ProxyError::HeaderMismatch {
                id,
                header,
                problem,
            },
            Refusal::BatchNotAllowed => ProxyError::BatchNotAllowed,
        }
    }

    /// Whether the error is raised before a request body is read (head checks, routing), so
    /// a body may still sit unread on the connection. Conservative: `true` when unsure.
    pub fn before_body(&self) -> bool {
        !matches!(
            self,
            ProxyError::Mcp(_)
                | ProxyError::TooManySessions { .. }
                | ProxyError::BatchNotAllowed
                | ProxyError::AlreadyInitialized { .. }
                | ProxyError::IdInFlight { .. }
                | ProxyError::BadProtocolVersion { .. }
                | ProxyError::UnsupportedVersion { .. }
                | ProxyError::HeaderMismatch { .. }
                | ProxyError::SessionNotFound { .. }
                | ProxyError::LegacySessionRequired { .. }
                | ProxyError::UnknownTool { .. }
                | ProxyError::BatchUnknownTool { .. }
                | ProxyError::MethodDenied { .. }
                | ProxyError::RateLimited { .. }
                | ProxyError::UpstreamBusy { .. }
                | ProxyError::BatchMethodDenied { .. }
                | ProxyError::UpstreamUnavailable { .. }
                | ProxyError::UpstreamTls { .. }
                | ProxyError::UpstreamTimeout { .. }
                | ProxyError::UpstreamProtocol { .. }
                | ProxyError::Internal(_)
        )
    }

    /// Who is at fault.
    pub fn side(&self) -> Side {
        match self {
            ProxyError::UpstreamUnavailable { .. }
            | ProxyError::UpstreamTls { .. }
            | ProxyError::UpstreamTimeout { .. }
            | ProxyError::UpstreamProtocol { .. } => Side::Upstream,
            ProxyError::Internal(_) => Side::Internal,
            ProxyError::UpstreamToken { refused: false, .. } => Side::Upstream,
            ProxyError::Auth(refusal) if refusal.error == AuthError::KeysUnavailable => {
                Side::Upstream
            }
            _ => Side::Client,
        }
    }
}
