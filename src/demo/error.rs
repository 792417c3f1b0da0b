//! Every way a POST to the demo server can fail, with the HTTP status and JSON-RPC code each one gets.
//!
//! Not here: writing the error body (`reply.rs`) or deciding when an error happens (`mod.rs`, `dispatch.rs`).
//! Allocates only on failure (`UnknownMethod`, `UnknownTool`, `UnknownPrompt`, `ResourceNotFound` own a copy
//! of the name the client sent).

/// JSON-RPC 2.0 reserved codes (JSON-RPC 2.0 §5.1) and the legacy MCP codes the official SDKs use.
pub(super) mod code {
    /// Invalid JSON was received.
    pub(crate) const PARSE_ERROR: i32 = -32700;
    /// The JSON sent is not a valid request object.
    pub(crate) const INVALID_REQUEST: i32 = -32600;
    /// The method does not exist.
    pub(crate) const METHOD_NOT_FOUND: i32 = -32601;
    /// Invalid method parameters.
    pub(crate) const INVALID_PARAMS: i32 = -32602;
    /// Internal JSON-RPC error.
    pub(crate) const INTERNAL_ERROR: i32 = -32603;
    /// SDK practice for transport-level rejections (bad headers, missing session).
    pub(crate) const TRANSPORT: i32 = -32000;
    /// SDK practice: the session id is not (or no longer) known.
    pub(crate) const SESSION_NOT_FOUND: i32 = -32001;
    /// MCP ≤ 2025-11-25: `resources/read` on an unknown uri.
    pub(crate) const RESOURCE_NOT_FOUND: i32 = -32002;
}

/// A rejected POST, DELETE or JSON-RPC request. `Display` is the JSON-RPC `error.message`.
#[derive(Debug, thiserror::Error)]
pub(super) enum DemoError {
    /// `Accept` lacks `application/json` or `text/event-stream`.
    #[error("Not Acceptable: Client must accept both application/json and text/event-stream")]
    NotAcceptable,
    /// `Content-Type` is missing or not `application/json`.
    #[error("Unsupported Media Type: Content-Type must be application/json")]
    UnsupportedMediaType,
    /// `MCP-Protocol-Version` names a version this server does not speak.
    #[error("Bad Request: Unsupported protocol version")]
    UnsupportedProtocolVersion,
    /// A non-initialize request came without `Mcp-Session-Id`.
    #[error("Bad Request: missing session")]
    MissingSession,
    /// GET on the endpoint: the demo has no standalone SSE stream.
    #[error("Method not allowed: the demo server has no standalone SSE stream")]
    GetNotAllowed,
    /// `Mcp-Session-Id` is malformed or its tag does not verify.
    #[error("Session not found")]
    UnknownSession,
    /// The body is not JSON.
    #[error("Parse error")]
    Parse,
    /// The body is JSON but not a JSON-RPC 2.0 message.
    #[error("Invalid Request")]
    InvalidRequest,
    /// The body is a JSON-RPC batch (an array) under protocol 2025-06-18 or later, which removed
    /// batches.
    #[error("Invalid Request: batches are not supported in this protocol version")]
    Batch,
    /// A batch of more messages than the demo answers at once.
    #[error(
        "Invalid Request: a batch holds at most {} messages",
        crate::mcp::MAX_BATCH_LEN
    )]
    BatchTooLarge,
    /// A JSON array on stdio, which takes one message per line.
    #[error("Invalid Request: batches are not supported over stdio")]
    StdioBatch,
    /// `initialize` inside a batch (it must be sent alone).
    #[error("Invalid Request: initialize must not be part of a batch")]
    InitializeInBatch,
    /// No such method.
    #[error("Method not found: {method}")]
    UnknownMethod {
        /// The method the client asked for.
        method: String,
    },
    /// `params` (or one field of it) does not have the shape the method needs.
    #[error("Invalid params: {field} {problem}")]
    InvalidParams {
        /// Which member of `params` is wrong, e.g. `name`.
        field: &'static str,
        /// What is wrong with it, e.g. `must be a string`.
        problem: &'static str,
    },
    /// `tools/call` named a tool that is not in the catalogue.
    #[error("Unknown tool: {name}")]
    UnknownTool {
        /// The tool name the client sent.
        name: String,
    },
    /// `prompts/get` named a prompt that is not in the catalogue.
    #[error("Unknown prompt: {name}")]
    UnknownPrompt {
        /// The prompt name the client sent.
        name: String,
    },
    /// `resources/read` named a uri that is not in the catalogue.
    #[error("Resource not found")]
    ResourceNotFound {
        /// The uri the client sent (returned as `error.data.uri`).
        uri: String,
    },
    /// The OS random source failed while minting a session id.
    #[error("Internal error")]
    Entropy(getrandom::Error),
}

impl DemoError {
    /// The JSON-RPC `error.code` for this failure.
    pub(super) fn code(&self) -> i32 {
        match self {
            Self::NotAcceptable
            | Self::UnsupportedMediaType
            | Self::UnsupportedProtocolVersion
            | Self::MissingSession
            | Self::GetNotAllowed => code::TRANSPORT,
            Self::UnknownSession => code::SESSION_NOT_FOUND,
            Self::Parse => code::PARSE_ERROR,
            Self::InvalidRequest
            | Self::Batch
            | Self::BatchTooLarge
            | Self::StdioBatch
            | Self::InitializeInBatch => code::INVALID_REQUEST,
            Self::UnknownMethod { .. } => code::METHOD_NOT_FOUND,
            Self::InvalidParams { .. } | Self::UnknownTool { .. } | Self::UnknownPrompt { .. } => {
                code::INVALID_PARAMS
            }
            Self::ResourceNotFound { .. } => code::RESOURCE_NOT_FOUND,
            Self::Entropy(_) => code::INTERNAL_ERROR,
        }
    }

    /// The HTTP status: transport failures get a 4xx/5xx; errors about a well-formed request travel as
    /// a JSON-RPC error response inside a 200, as the official SDKs do.
    pub(super) fn http_status(&self) -> u16 {
        match self {
            Self::NotAcceptable => 406,
            Self::UnsupportedMediaType => 415,
            Self::UnsupportedProtocolVersion
            | Self::MissingSession
            | Self::Parse
            | Self::InvalidRequest
            | Self::Batch
            | Self::BatchTooLarge
            | Self::StdioBatch
            | Self::InitializeInBatch => 400,
            Self::UnknownSession => 404,
            Self::GetNotAllowed => 405,
            Self::Entropy(_) => 500,
            Self::UnknownMethod { .. }
            | Self::InvalidParams { .. }
            | Self::UnknownTool { .. }
            | Self::UnknownPrompt { .. }
            | Self::ResourceNotFound { .. } => 200,
        }
    }
}
