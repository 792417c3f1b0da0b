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

/// What a body holds: one message, a batch, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// One JSON-RPC message.
    Single(Message),
    /// A JSON array of messages (2025-03-26), inspected into [`Facts::elements`].
    Batch,
    /// No message: GET, DELETE, a GET opening a legacy stream ([`Facts::bodyless`]).
    Empty,
}

/// One message's kind with the id where the kind has one: a request always holds its id, so a
/// path that serves requests takes the id from here and never meets a request without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `method` and `id`: expects a response.
    Request(JsonRpcId),
    /// `method`, no `id`.
    Notification,
    /// `result` and its `id`.
    Response(Option<JsonRpcId>),
    /// `error`, with an `id` or (parse failures on the peer) without.
    ErrorResponse(Option<JsonRpcId>),
}

impl Message {
    /// The kind and the id the inspector found: JSON-RPC calls a request without an id a
    /// notification, and the inspector reports none (it sets `Request` only beside an id).
    fn of(kind: Kind, id: Option<JsonRpcId>) -> Message {
        match (kind, id) {
            (Kind::Request, Some(id)) => Message::Request(id),
            (Kind::Request | Kind::Notification, _) => Message::Notification,
            (Kind::Response, id) => Message::Response(id),
            (Kind::ErrorResponse, id) => Message::ErrorResponse(id),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Request(_) => Kind::Request,
            Message::Notification => Kind::Notification,
            Message::Response(_) => Kind::Response,
            Message::ErrorResponse(_) => Kind::ErrorResponse,
        }
    }

    /// Its JSON-RPC id (requests and responses).
    pub fn id(&self) -> Option<&JsonRpcId> {
        match self {
            Message::Request(id) => Some(id),
            Message::Response(id) | Message::ErrorResponse(id) => id.as_ref(),
            Message::Notification => None,
        }
    }
}

/// The few facts about a POST body the proxy acts on ([`Facts::bodyless`] for GET/DELETE).
#[derive(Debug)]
pub struct Facts {
    /// One message (its kind and id), a batch, or none.
    pub body: Body,
    /// The method ([`Method::Other`] when unknown or absent).
    pub method: Method,
    /// An `initialize` request.
    pub is_initialize: bool,
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
            body: Body::Empty,
            method: Method::Other,
            is_initialize: false,
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

    /// The single message the body holds (`None` for a batch or no body).
    pub fn message(&self) -> Option<&Message> {
        match &self.body {
            Body::Single(message) => Some(message),
            Body::Batch | Body::Empty => None,
        }
    }

    /// The single message's kind; `None` for a batch or no body.
    pub fn kind(&self) -> Option<Kind> {
        self.message().map(Message::kind)
    }

    /// The single message's JSON-RPC id (requests and responses).
    pub fn id(&self) -> Option<&JsonRpcId> {
        self.message().and_then(Message::id)
    }

    /// The id of a single request: `Some` exactly when the body is one request.
    pub fn request_id(&self) -> Option<&JsonRpcId> {
        match self.message() {
            Some(Message::Request(id)) => Some(id),
            _ => None,
        }
    }

    /// A JSON array of messages (2025-03-26).
    pub fn is_batch(&self) -> bool {
        matches!(self.body, Body::Batch)
    }

    /// The method's wire name (known or not).
    pub fn method_name(&self) -> Option<&str> {
        match (self.kind(), self.method) {
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
            body: Body::Single(Message::of(info.kind, info.id)),
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
            body: Body::Batch,
            elements: items,
            ..Facts::bodyless()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::Inspector;

    fn of(text: &str) -> Facts {
        facts(Inspector::new().inspect(text.as_bytes()).unwrap())
    }

    #[test]
    fn a_request_holds_its_id_and_nothing_else_does() {
        let call = of(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a"}}"#);
        assert_eq!(
            call.body,
            Body::Single(Message::Request(JsonRpcId::Number(7)))
        );
        assert_eq!(call.request_id(), Some(&JsonRpcId::Number(7)));
        assert_eq!(call.kind(), Some(Kind::Request));

        let note = of(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(note.message(), Some(&Message::Notification));
        assert_eq!((note.id(), note.request_id()), (None, None));

        let answer = of(r#"{"jsonrpc":"2.0","id":"x","result":{}}"#);
        let id = JsonRpcId::String("x".into());
        assert_eq!(answer.message(), Some(&Message::Response(Some(id.clone()))));
        assert_eq!((answer.id(), answer.request_id()), (Some(&id), None));

        let failed = of(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#);
        assert_eq!(failed.message(), Some(&Message::ErrorResponse(None)));
    }

    #[test]
    fn a_batch_and_no_body_hold_no_single_message() {
        let batch = of(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
        assert!(batch.is_batch());
        assert_eq!(
            (batch.message(), batch.kind(), batch.id()),
            (None, None, None)
        );
        assert_eq!(batch.request_id(), None);

        let none = Facts::bodyless();
        assert_eq!(none.body, Body::Empty);
        assert!(!none.is_batch());
        assert_eq!((none.message(), none.request_id()), (None, None));
    }
}
