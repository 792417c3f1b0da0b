//! The facts the proxy acts on about one client message (or batch), read once by the
//! inspector: every transport, era and stage reads these instead of the body.
//!
//! Not here: parsing (crate::mcp's inspector does it, on a scratch copy), deciding anything.
//! Allocates only what a path needs: the tool/prompt/resource name for the methods that carry
//! one, a resource URI for subscriptions, the method text when unknown.

use crate::mcp::Target as Named;
use crate::mcp::{
    ClaimedVersion, Inspected, JsonRpcId, Kind, MessageInfo, Method, ProgressToken,
    ProtocolVersion, Spans,
};

/// The few facts about a POST body the proxy acts on ([`Facts::bodyless`] for GET/DELETE).
#[derive(Debug)]
pub struct Facts {
    /// The JSON-RPC id (requests and responses).
    pub id: Option<JsonRpcId>,
    /// The method ([`Method::Other`] when unknown or absent).
    pub method: Method,
    /// Request, notification or response; `None` for a batch.
    pub kind: Option<Kind>,
    /// An `initialize` request.
    pub is_initialize: bool,
    /// A JSON array of messages (2025-03-26).
    pub is_batch: bool,
    /// The known protocol version the body names (see `claimed`).
    pub version: Option<ProtocolVersion>,
    /// `params._meta.progressToken` of a request.
    pub progress_token: Option<ProgressToken>,
    /// `params.requestId` of `notifications/cancelled`.
    pub cancelled: Option<JsonRpcId>,
    /// `params.uri` of `resources/subscribe` and `resources/unsubscribe`.
    pub resource: Option<String>,
    /// The version the body names: `initialize`'s `params.protocolVersion`, else the 2026
    /// `_meta` version (known or not).
    pub claimed: Option<ClaimedVersion>,
    /// The value `Mcp-Name` mirrors (`tools/call`, `prompts/get`, `resources/read`).
    pub mcp_name: Option<String>,
    /// The method's text when `method` is [`Method::Other`].
    pub unknown_method: Option<String>,
    /// A batch's elements as inspected, in body order (empty for a single message): paths that
    /// split a batch route each element on these.
    pub elements: Vec<MessageInfo>,
    /// Where the id, progress token and cancelled id sit in the body (single messages).
    pub spans: Spans,
}

impl Facts {
    /// The facts of a request that carries no message (GET, DELETE, a GET opening a legacy
    /// stream): no id, no method, no version for a stage to act on.
    pub fn bodyless() -> Facts {
        Facts {
            id: None,
            method: Method::Other,
            kind: None,
            is_initialize: false,
            is_batch: false,
            version: None,
            progress_token: None,
            cancelled: None,
            resource: None,
            claimed: None,
            mcp_name: None,
            unknown_method: None,
            elements: Vec::new(),
            spans: Spans::default(),
        }
    }

    /// The method's wire name (known or not).
    pub fn method_name(&self) -> Option<&str> {
        match (self.kind, self.method) {
            (Some(Kind::Request | Kind::Notification), Method::Other) => {
                self.unknown_method.as_deref()
            }
            (Some(Kind::Request | Kind::Notification), method) => Some(method.as_str()),
            _ => None,
        }
    }
}

/// The facts of an inspected body.
pub fn facts(inspected: Inspected) -> Facts {
    match inspected {
        Inspected::Single(info) => Facts {
            // Only subscriptions need it (shared stdio children track them); no copy otherwise.
            resource: matches!(
                info.method,
                Some(Method::ResourcesSubscribe | Method::ResourcesUnsubscribe)
            )
            .then(|| info.resource_uri().map(str::to_owned))
            .flatten(),
            // Moved, not copied: the name only for the methods `Mcp-Name` mirrors.
            mcp_name: match info.target {
                Some(Named::Tool(n) | Named::Prompt(n) | Named::Resource(n))
                    if info.method.is_some_and(Method::has_mcp_name) =>
                {
                    Some(n)
                }
                _ => None,
            },
            unknown_method: info.unknown_method,
            is_initialize: info.kind == Kind::Request && info.method == Some(Method::Initialize),
            method: info.method.unwrap_or(Method::Other),
            kind: Some(info.kind),
            id: info.id,
            is_batch: false,
            elements: Vec::new(),
            version: info.protocol_version.as_ref().and_then(|v| v.known()),
            claimed: info.protocol_version,
            progress_token: info.progress_token,
            cancelled: info.cancelled_request_id,
            spans: info.spans,
        },
        Inspected::Batch(items) => Facts {
            method: items
                .first()
                .and_then(|i| i.method)
                .unwrap_or(Method::Other),
            is_batch: true,
            elements: items,
            ..Facts::bodyless()
        },
    }
}
