//! `mcp::Error`: why a body is not an acceptable JSON-RPC/MCP message, and the JSON-RPC code for it.
//!
//! Not here: HTTP statuses and the choice between answering and dropping (the pipeline driver does that).
//! Allocation: none, except `write_reply` appending to the caller's buffer (cold path only).

use std::fmt;

use super::jsonrpc::{self, JsonRpcId};
use super::version::VersionError;

/// A message the proxy refuses, with the id to answer under when it could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not JSON (truncated, trailing bytes, invalid UTF-8, number out of range, …) → `-32700`, id `null`.
    #[error("malformed JSON near byte {offset}")]
    Parse {
        /// Byte offset where the parser gave up (a hint for logs, not exact).
        offset: usize,
    },
    /// JSON, but not a valid JSON-RPC 2.0 message → `-32600`.
    #[error("invalid JSON-RPC message: {reason}")]
    InvalidRequest {
        /// The message's id when it was readable (so the reply can echo it), else `None` (`null`).
        id: Option<JsonRpcId>,
        /// What is wrong.
        reason: InvalidReason,
    },
    /// A `params` member the proxy reads has the wrong JSON type → `-32602`. Rejected rather than
    /// ignored so that policy keyed on it (tool name, uri, progress token) cannot be sidestepped.
    #[error("invalid params member {field}")]
    InvalidParams {
        /// The request's id, when there is one.
        id: Option<JsonRpcId>,
        /// Which member.
        field: ParamField,
    },
    /// An unsupported protocol version → `-32022` with `data.supported`/`data.requested`.
    #[error(transparent)]
    Version(#[from] VersionError),
}

/// Why a JSON value is not a valid JSON-RPC 2.0 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidReason {
    /// The message (or a batch element) is not a JSON object; nested arrays land here too.
    NotAnObject,
    /// `jsonrpc` is missing or not the string `"2.0"`.
    WrongJsonrpcVersion,
    /// `id` is `null`, a boolean, a float, an object or an array, or a success response lacks one.
    BadId,
    /// `method` is not a string.
    BadMethod,
    /// `params` is present but neither an object nor an array (JSON-RPC 2.0 §4.2).
    BadParams,
    /// `error` is not an object with an integer `code`.
    BadError,
    /// `[]`.
    EmptyBatch,
    /// More than [`MAX_BATCH_LEN`](super::inspect::MAX_BATCH_LEN) elements.
    BatchTooLarge,
    /// A response carries both `result` and `error`.
    BothResultAndError,
    /// A message carries `method` together with `result` or `error`.
    MethodWithResult,
    /// A message has neither `method` nor `result`/`error`.
    NoMethodOrResult,
    /// A member the proxy reads appears twice; parsers disagree on which copy wins, so a
    /// duplicate could show policy one value and the upstream another.
    DuplicateKey,
    /// `method` or `params.name` holds U+0000, written `\u0000` or as an unpaired
    /// surrogate escape (`\ud800`, which the inspector decodes to U+0000): parsers disagree
    /// on such strings, so policy could judge one name and the upstream run another.
    UndecodableString,
}

/// A `params` member the inspector reads (see [`Error::InvalidParams`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamField {
    /// `params.name` of `tools/call` / `prompts/get`: must be a string.
    Name,
    /// `params.uri` of `resources/read`, `resources/subscribe`, `resources/unsubscribe`: must be a string.
    Uri,
    /// `params.protocolVersion` of `initialize`, or `_meta["io.modelcontextprotocol/protocolVersion"]`: a string.
    ProtocolVersion,
    /// `params.requestId` of `notifications/cancelled`: a string or an integer.
    RequestId,
    /// `params._meta.progressToken`, or `params.progressToken` of `notifications/progress`: a string or an integer.
    ProgressToken,
    /// `params._meta`: must be an object.
    Meta,
}

impl InvalidReason {
    /// A stable camelCase name, used in the reply's `data.reason` and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAnObject => "notAnObject",
            Self::WrongJsonrpcVersion => "wrongJsonrpcVersion",
            Self::BadId => "badId",
            Self::BadMethod => "badMethod",
            Self::BadParams => "badParams",
            Self::BadError => "badError",
            Self::EmptyBatch => "emptyBatch",
            Self::BatchTooLarge => "batchTooLarge",
            Self::BothResultAndError => "bothResultAndError",
            Self::MethodWithResult => "methodWithResult",
            Self::NoMethodOrResult => "noMethodOrResult",
            Self::DuplicateKey => "duplicateKey",
            Self::UndecodableString => "undecodableString",
        }
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ParamField {
    /// The member's JSON name (as it appears in the message).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Uri => "uri",
            Self::ProtocolVersion => "protocolVersion",
            Self::RequestId => "requestId",
            Self::ProgressToken => "progressToken",
            Self::Meta => "_meta",
        }
    }
}

impl fmt::Display for ParamField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The JSON-RPC error code for this error.
    pub fn code(&self) -> i32 {
        match self {
            Self::Parse { .. } => jsonrpc::PARSE_ERROR,
            Self::InvalidRequest { .. } => jsonrpc::INVALID_REQUEST,
            Self::InvalidParams { .. } => jsonrpc::INVALID_PARAMS,
            Self::Version(_) => jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        }
    }

    /// The id to answer under (`None` → `null`).
    pub fn id(&self) -> Option<&JsonRpcId> {
        match self {
            Self::InvalidRequest { id, .. } | Self::InvalidParams { id, .. } => id.as_ref(),
            Self::Parse { .. } | Self::Version(_) => None,
        }
    }

    /// The standard `error.message` text for [`Error::code`].
    pub fn message(&self) -> &'static str {
        match self {
            Self::Parse { .. } => "Parse error",
            Self::InvalidRequest { .. } => "Invalid Request",
            Self::InvalidParams { .. } => "Invalid params",
            Self::Version(_) => "Unsupported protocol version",
        }
    }

    /// Appends the complete JSON-RPC error reply for this error, with a `data` object naming the
    /// reason (`{"reason":"badId"}`, `{"field":"name"}`, or the `-32022` version data).
    pub fn write_reply(&self, out: &mut Vec<u8>) {
        let mut data = Vec::new();
        match self {
            Self::Parse { .. } => {}
            Self::InvalidRequest { reason, .. } => {
                data.extend_from_slice(br#"{"reason":"#);
                jsonrpc::write_json_string(&mut data, reason.as_str());
                data.push(b'}');
            }
            Self::InvalidParams { field, .. } => {
                data.extend_from_slice(br#"{"field":"#);
                jsonrpc::write_json_string(&mut data, field.as_str());
                data.push(b'}');
            }
            Self::Version(version) => version.write_data(&mut data),
        }
        let data = std::str::from_utf8(&data).ok().filter(|d| !d.is_empty());
        jsonrpc::write_error(out, self.id(), self.code(), self.message(), data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn reply(err: &Error) -> Value {
        let mut out = Vec::new();
        err.write_reply(&mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn codes() {
        assert_eq!(Error::Parse { offset: 0 }.code(), -32700);
        let invalid = Error::InvalidRequest {
            id: None,
            reason: InvalidReason::EmptyBatch,
        };
        assert_eq!(invalid.code(), -32600);
        let params = Error::InvalidParams {
            id: None,
            field: ParamField::Name,
        };
        assert_eq!(params.code(), -32602);
        let version = Error::from(VersionError::Unsupported {
            requested: "x".into(),
        });
        assert_eq!(version.code(), -32022);
    }

    #[test]
    fn parse_error_reply_has_null_id_and_no_data() {
        let reply = reply(&Error::Parse { offset: 3 });
        assert_eq!(
            reply,
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})
        );
    }

    #[test]
    fn invalid_request_reply_echoes_id_and_reason() {
        let err = Error::InvalidRequest {
            id: Some(JsonRpcId::from("r-1")),
            reason: InvalidReason::BadMethod,
        };
        let reply = reply(&err);
        assert_eq!(reply["id"], json!("r-1"));
        assert_eq!(reply["error"]["code"], json!(-32600));
        assert_eq!(reply["error"]["data"], json!({"reason":"badMethod"}));
    }

    #[test]
    fn invalid_params_reply_names_the_field() {
        let err = Error::InvalidParams {
            id: Some(JsonRpcId::Number(9)),
            field: ParamField::ProgressToken,
        };
        let reply = reply(&err);
        assert_eq!(reply["id"], json!(9));
        assert_eq!(reply["error"]["data"], json!({"field":"progressToken"}));
    }

    #[test]
    fn version_reply_carries_supported_and_requested() {
        let reply = reply(&Error::from(VersionError::Unsupported {
            requested: "1999".into(),
        }));
        assert_eq!(reply["error"]["data"]["requested"], json!("1999"));
        assert!(reply["error"]["data"]["supported"]
            .as_array()
            .is_some_and(|s| s.len() == 5));
    }

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 48,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
