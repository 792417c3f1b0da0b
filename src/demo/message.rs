//! Reading one POSTed JSON-RPC message into borrowed, loosely typed fields, then classifying it.
//!
//! Not here: HTTP headers (`headers.rs`) or what a method does (`dispatch.rs`).
//! Hot path: one `serde_json` pass over the body straight into the structs below. Strings without escapes borrow
//! from the body, numbers are `serde_json::Number`, and members nobody reads are skipped, so a typical request
//! allocates nothing here. Every leaf is a [`Scalar`] and every object an [`Obj`], so a wrong JSON type never
//! aborts the parse: the method reports it with the request's id.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Number;

use super::error::DemoError;

/// Any JSON value, keeping strings, numbers and booleans, and only the kind of arrays and objects.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    /// A string, borrowed from the body unless it held escapes.
    Str(Cow<'a, str>),
    /// A number.
    Num(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array or an object (contents skipped).
    Composite,
}

impl<'a> Scalar<'a> {
    /// The string, if this is one.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(text) => Some(text),
            _ => None,
        }
    }

    /// This value as a request id or progress token: JSON-RPC allows only strings and numbers.
    fn into_id(self) -> Option<RequestId<'a>> {
        match self {
            Self::Str(text) => Some(RequestId::Str(text)),
            Self::Num(number) => Some(RequestId::Num(number)),
            Self::Bool(_) | Self::Null | Self::Composite => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(text)))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(text)))
    }
    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(number.into()))
    }
    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Num(number.into()))
    }
    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        // serde_json never yields a non-finite f64 from text, so `Composite` is unreachable in practice.
        Ok(Number::from_f64(number).map_or(Scalar::Composite, Scalar::Num))
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(value))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
        inner.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite)
    }
}

/// A member that should be a JSON object: the object read as `T`, or a note that it was something else.
#[derive(Debug)]
pub(super) enum Obj<T> {
    /// It was an object.
    Object(T),
    /// It was a string, number, boolean, null or array.
    NotObject,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjVisitor(std::marker::PhantomData))
    }
}

struct ObjVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor.visit_seq(seq).map(|_| Obj::NotObject)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Obj::NotObject)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Obj::NotObject)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Obj::NotObject)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Obj::NotObject)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Obj::NotObject)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Obj::NotObject)
    }
}

/// Passes a member that is present (even as `null`) through as `Some`, unlike serde's `Option`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// The top-level members of a JSON-RPC 2.0 message.
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    method: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    params: Option<Obj<Params<'a>>>,
    #[serde(default, deserialize_with = "present")]
    result: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    error: Option<IgnoredAny>,
}

/// The `params` members any demo method reads; each method looks only at its own.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Params<'a> {
    /// `tools/call`, `prompts/get`: what to call.
    #[serde(borrow, default)]
    pub(super) name: Option<Scalar<'a>>,
    /// `tools/call`, `prompts/get`: the arguments.
    #[serde(borrow, default)]
    pub(super) arguments: Option<Obj<Arguments<'a>>>,
    /// `resources/read`: which resource.
    #[serde(borrow, default)]
    pub(super) uri: Option<Scalar<'a>>,
    /// `initialize`: the version the client asks for.
    #[serde(borrow, default)]
    pub(super) protocol_version: Option<Scalar<'a>>,
    /// `logging/setLevel`: the level.
    #[serde(borrow, default)]
    pub(super) level: Option<Scalar<'a>>,
    /// `initialize`: what the client can do (stdio reads `elicitation` and `sampling`).
    #[serde(default)]
    pub(super) capabilities: Option<Obj<ClientCapabilities>>,
    /// `_meta`, for its progress token.
    #[serde(borrow, default, rename = "_meta")]
    pub(super) meta: Option<Obj<Meta<'a>>>,
}

impl<'a> Params<'a> {
    /// `_meta.progressToken` when it is a string or a number; any other type counts as absent.
    pub(super) fn progress_token(&mut self) -> Option<ProgressToken<'a>> {
        match self.meta.take() {
            Some(Obj::Object(meta)) => meta.progress_token.and_then(Scalar::into_id),
            _ => None,
        }
    }
}

/// The client capabilities the demo reads: present (any value) means declared.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ClientCapabilities {
    /// The client answers `elicitation/create`.
    #[serde(default, deserialize_with = "present")]
    pub(super) elicitation: Option<IgnoredAny>,
    /// The client answers `sampling/createMessage`.
    #[serde(default, deserialize_with = "present")]
    pub(super) sampling: Option<IgnoredAny>,
}

/// The `_meta` members the demo reads.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Meta<'a> {
    /// Asks for `notifications/progress` about this request.
    #[serde(borrow, default, rename = "progressToken")]
    progress_token: Option<Scalar<'a>>,
}

/// Every argument name a demo tool or prompt takes; each tool and prompt reads only its own.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Arguments<'a> {
    /// `echo`: the text to send back.
    #[serde(borrow, default)]
    pub(super) message: Option<Scalar<'a>>,
    /// `add`: the first addend.
    #[serde(borrow, default)]
    pub(super) a: Option<Scalar<'a>>,
    /// `add`: the second addend.
    #[serde(borrow, default)]
    pub(super) b: Option<Scalar<'a>>,
    /// `slow`: how many steps.
    #[serde(borrow, default)]
    pub(super) steps: Option<Scalar<'a>>,
    /// `slow`: the pause before each step, in milliseconds.
    #[serde(borrow, default)]
    pub(super) delay_ms: Option<Scalar<'a>>,
    /// `sample` (stdio): what to ask the client's model.
    #[serde(borrow, default)]
    pub(super) prompt: Option<Scalar<'a>>,
    /// `greet` prompt: who to greet.
    #[serde(borrow, default)]
    pub(super) name: Option<Scalar<'a>>,
}

/// A JSON-RPC request id: a string or a number, echoed back with the same JSON type.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RequestId<'a> {
    /// A string id.
    Str(Cow<'a, str>),
    /// A numeric id.
    Num(Number),
}

impl RequestId<'_> {
    /// A copy that owns its string, to outlive the message it was read from.
    pub(super) fn into_owned(self) -> RequestId<'static> {
        match self {
            Self::Str(text) => RequestId::Str(Cow::Owned(text.into_owned())),
            Self::Num(number) => RequestId::Num(number),
        }
    }

    /// The id as compact JSON text: the same text `serde_json::Value::to_string` gives for the
    /// `requestId` of a cancellation naming it (the stdio server matches answers by it).
    pub(super) fn json_text(&self) -> String {
        match self {
            Self::Str(text) => serde_json::Value::from(text.as_ref()).to_string(),
            Self::Num(number) => number.to_string(),
        }
    }
}

/// A progress token has the same shape as a request id (string or number).
pub(super) type ProgressToken<'a> = RequestId<'a>;

/// One POSTed message, classified.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "lives briefly on the stack; boxing would allocate on every request"
)]
pub(super) enum Message<'a> {
    /// A request: it gets a response.
    Request {
        /// Echoed in the response.
        id: RequestId<'a>,
        /// The method name.
        method: Cow<'a, str>,
        /// `params`; `Err` when it was present but not an object.
        params: Result<Params<'a>, NotAnObject>,
    },
    /// A notification or a response to a server request: it gets 202 Accepted.
    NoReply,
}

/// `params` was present but was not a JSON object.
#[derive(Debug, Clone, Copy)]
pub(super) struct NotAnObject;

/// Why a body is not one JSON-RPC message; `id` is the request's id when it could be read.
#[derive(Debug)]
pub(super) struct Rejected<'a> {
    /// The failure to report.
    pub(super) error: DemoError,
    /// The request id, if one was readable.
    pub(super) id: Option<RequestId<'a>>,
}

impl From<DemoError> for Rejected<'_> {
    fn from(error: DemoError) -> Self {
        Self { error, id: None }
    }
}

/// Reads `body` as one JSON-RPC 2.0 message. An array is refused as a batch on stdio, which takes one message
/// per line (the HTTP server reads batches with `batch.rs` first, and hands only objects here); see `README.md`.
///
/// The whole body must be UTF-8 (RFC 8259 §8.1): checked up front, because serde_json does not look inside the
/// strings it skips.
pub(super) fn parse(body: &[u8]) -> Result<Message<'_>, Rejected<'_>> {
    let body = std::str::from_utf8(body).map_err(|_| DemoError::Parse)?;
    match body.bytes().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'[') => return Err(not_an_object(body, DemoError::StdioBatch).into()),
        _ => return Err(not_an_object(body, DemoError::InvalidRequest).into()),
    }
    let envelope: Envelope<'_> = serde_json::from_str(body).map_err(|error| {
        if error.is_data() {
            DemoError::InvalidRequest
        } else {
            DemoError::Parse
        }
    })?;
    classify(envelope)
}

/// For a body that is not an object: `error` if it is valid JSON, else a parse error.
fn not_an_object(body: &str, error: DemoError) -> DemoError {
    match serde_json::from_str::<IgnoredAny>(body) {
        Ok(_) => error,
        Err(_) => DemoError::Parse,
    }
}

fn classify(envelope: Envelope<'_>) -> Result<Message<'_>, Rejected<'_>> {
    let Envelope {
        jsonrpc,
        id,
        method,
        params,
        result,
        error,
    } = envelope;
    // `Some(None)`: an id is present but is not a string or a number (e.g. `null`).
    let id = id.map(Scalar::into_id);
    if jsonrpc.as_ref().and_then(Scalar::as_str) != Some("2.0") {
        return Err(invalid(id));
    }
    if result.is_some() || error.is_some() {
        // A response to a server request (the demo sends none, but accepting one is harmless).
        return match method {
            None => Ok(Message::NoReply),
            Some(_) => Err(invalid(id)),
        };
    }
    let Some(Scalar::Str(method)) = method else {
        return Err(invalid(id));
    };
    match id {
        None => Ok(Message::NoReply),
        Some(None) => Err(invalid(None)),
        Some(Some(id)) => Ok(Message::Request {
            id,
            method,
            params: match params {
                None => Ok(Params::default()),
                Some(Obj::Object(params)) => Ok(params),
                Some(Obj::NotObject) => Err(NotAnObject),
            },
        }),
    }
}

/// -32600, echoing the id when it was a string or a number.
fn invalid(id: Option<Option<RequestId<'_>>>) -> Rejected<'_> {
    Rejected {
        error: DemoError::InvalidRequest,
        id: id.flatten(),
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
