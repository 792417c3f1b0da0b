//! What the inspector reports about a body: [`Inspected`], one [`MessageInfo`] per message, its
//! [`Kind`] and [`Target`].
//!
//! Not here: reading the bytes (`inspect.rs`). Plain data; allocates nothing itself.

use super::jsonrpc::{JsonRpcId, ProgressToken};
use super::method::Method;
use super::spans::Spans;
use super::version::ClaimedVersion;

/// What kind of JSON-RPC message a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `method` and `id`: expects a response.
    Request,
    /// `method`, no `id`: gets no response.
    Notification,
    /// `result` and `id`.
    Response,
    /// `error`, with an `id` or (parse failures on the peer) with `null`/no id.
    ErrorResponse,
}

/// The object a request names: the value the 2026-07-28 `Mcp-Name` header mirrors, and what
/// tool/prompt/resource policy keys on. One enum rather than parallel `Option`s: a message names at
/// most one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `params.name` of `tools/call`.
    Tool(String),
    /// `params.name` of `prompts/get`.
    Prompt(String),
    /// `params.uri` of `resources/read`, `resources/subscribe`, `resources/unsubscribe` (and of
    /// `notifications/resources/updated`, which shared stdio links route by).
    Resource(String),
}

impl Target {
    /// The name or uri.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tool(name) | Self::Prompt(name) | Self::Resource(name) => name,
        }
    }
}

/// Facts about one JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Request, notification, response or error response.
    pub kind: Kind,
    /// The id (requests and responses; `None` for notifications and id-less/`null`-id error responses).
    pub id: Option<JsonRpcId>,
    /// The method (requests and notifications).
    pub method: Option<Method>,
    /// The method's text when `method` is [`Method::Other`] (for logs and `Mcp-Method` checks; never a label).
    pub unknown_method: Option<String>,
    /// The tool, prompt or resource the request is about.
    pub target: Option<Target>,
    /// `params._meta.progressToken` of a request, or `params.progressToken` of `notifications/progress`.
    pub progress_token: Option<ProgressToken>,
    /// `params.protocolVersion` of `initialize`, else `params._meta["io.modelcontextprotocol/protocolVersion"]`;
    /// for a response, `result.protocolVersion` (meaningful for the `initialize` reply; the caller knows the id).
    pub protocol_version: Option<ClaimedVersion>,
    /// `params.requestId` of `notifications/cancelled`.
    pub cancelled_request_id: Option<JsonRpcId>,
    /// `error.code` of an error response.
    pub error_code: Option<i64>,
    /// Where the id, progress token and cancelled request id sit in the inspected bytes (for a
    /// batch element: in the whole body).
    pub spans: Spans,
}

impl MessageInfo {
    /// Facts with only the kind filled in (the id is attached last, see `message`).
    pub(super) fn new(kind: Kind) -> Self {
        Self {
            kind,
            id: None,
            method: None,
            unknown_method: None,
            target: None,
            progress_token: None,
            protocol_version: None,
            cancelled_request_id: None,
            error_code: None,
            spans: Spans::default(),
        }
    }

    /// `params.name` of a `tools/call`.
    pub fn tool_name(&self) -> Option<&str> {
        match &self.target {
            Some(Target::Tool(name)) => Some(name),
            _ => None,
        }
    }

    /// `params.name` of a `prompts/get`.
    pub fn prompt_name(&self) -> Option<&str> {
        match &self.target {
            Some(Target::Prompt(name)) => Some(name),
            _ => None,
        }
    }

    /// `params.uri` of a `resources/read`/`subscribe`/`unsubscribe` or `notifications/resources/updated`.
    pub fn resource_uri(&self) -> Option<&str> {
        match &self.target {
            Some(Target::Resource(uri)) => Some(uri),
            _ => None,
        }
    }

    /// The value a 2026-07-28 `Mcp-Name` header must equal (only for `tools/call`, `prompts/get`,
    /// `resources/read`).
    pub fn mcp_name(&self) -> Option<&str> {
        self.method
            .filter(|m| m.has_mcp_name())
            .and(self.target.as_ref())
            .map(Target::as_str)
    }

    /// The method's wire name (known or not).
    pub fn method_name(&self) -> Option<&str> {
        match self.method {
            Some(Method::Other) => self.unknown_method.as_deref(),
            other => other.map(Method::as_str),
        }
    }
}

/// The facts of a whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspected {
    /// A single JSON object.
    Single(MessageInfo),
    /// A JSON array of messages (2025-03-26 batching), in body order; never empty.
    Batch(Vec<MessageInfo>),
}

impl Inspected {
    /// The messages, one for `Single`.
    pub fn messages(&self) -> &[MessageInfo] {
        match self {
            Self::Single(info) => std::slice::from_ref(info),
            Self::Batch(infos) => infos,
        }
    }

    /// True for a JSON array body.
    pub fn is_batch(&self) -> bool {
        matches!(self, Self::Batch(_))
    }
}
