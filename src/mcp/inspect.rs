//! The inspector: parses a scratch copy of a JSON-RPC body with simd-json and reports the facts the
//! proxy routes and applies policy on ([`MessageInfo`]). The caller forwards its original bytes.
//!
//! Not here: I/O, HTTP, rewriting messages (id remap lives elsewhere), deciding what an error means.
//! Hot path. Allocates: nothing for the parse once the scratch, simd-json buffers and tape have grown
//! to the largest body seen (they are reused per [`Inspector`], one per shard); owned `String`s only for
//! string ids and the few text facts (tool/prompt name, resource uri, unknown method or version); one
//! `Vec` per batch. Also notes where the id and progress token sit in the body ([`Spans`]). Awaits nothing; takes no locks.

use simd_json::prelude::*;
use simd_json::value::tape::{Object, Value};
use simd_json::{Buffers, ErrorType, Tape};

use super::big_numbers;
use super::error::{Error, InvalidReason, ParamField};
use super::jsonrpc::JsonRpcId;
use super::message_info::{Inspected, Kind, MessageInfo, Target};
use super::method::Method;
use super::spans::{value_after_key, Span};
use super::version::ClaimedVersion;

/// Most messages accepted in one batch body. 2025-03-26 batches carry a handful of messages; the
/// bound keeps one body from making a shard build an unbounded `Vec` of facts.
pub const MAX_BATCH_LEN: usize = 1024;

/// Scratch bytes an [`Inspector`] keeps between calls. A rare huge body may grow the buffers
/// (the HTTP layer bounds body size); past this they are dropped after the call, so one large
/// request does not pin megabytes per shard for the life of the process.
pub const RETAIN_SCRATCH_BYTES: usize = 1 << 20;

/// Initial buffer size: typical MCP requests and replies are well under 4 KiB.
const INITIAL_SCRATCH_BYTES: usize = 4096;

/// The `_meta` key carrying the protocol version on every 2026-07-28 request.
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Per-shard inspection state: a scratch copy (simd-json unescapes strings in place) plus
/// simd-json's buffers and tape, all reused across calls.
pub struct Inspector {
    scratch: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("scratch_capacity", &self.scratch.capacity())
            .field("tape_capacity", &self.tape.0.capacity())
            .finish_non_exhaustive()
    }
}

impl Default for Inspector {
    fn default() -> Self {
        Self::with_capacity(INITIAL_SCRATCH_BYTES)
    }
}

impl Inspector {
    /// An inspector sized for bodies of about 4 KiB (it grows on demand, up to
    /// [`RETAIN_SCRATCH_BYTES`] kept between calls).
    pub fn new() -> Self {
        Self::default()
    }

    /// An inspector pre-sized for bodies of `body_len` bytes.
    pub fn with_capacity(body_len: usize) -> Self {
        Self {
            scratch: Vec::with_capacity(body_len),
            buffers: Buffers::new(body_len),
            tape: Tape(Vec::with_capacity(body_len / 8)),
        }
    }

    /// Classifies and validates `body` (one message or a batch), leaving `body` untouched.
    ///
    /// Errors: [`Error::Parse`] for anything that is not one JSON value (whitespace around it is
    /// fine); [`Error::InvalidRequest`] for JSON that is not JSON-RPC 2.0 (a batch is rejected
    /// whole, with the first bad element's error); [`Error::InvalidParams`] when a member the proxy
    /// reads has the wrong type.
    pub fn inspect(&mut self, body: &[u8]) -> Result<Inspected, Error> {
        let inspected = self.inspect_scratch_copy(body);
        if self.scratch.capacity() > RETAIN_SCRATCH_BYTES {
            *self = Self::default(); // cold: see RETAIN_SCRATCH_BYTES
        }
        inspected.and_then(|inspected| refuse_undecodable(body, inspected))
    }

    fn inspect_scratch_copy(&mut self, body: &[u8]) -> Result<Inspected, Error> {
        // simd-json ends a number or a literal at a NUL byte (it reads NUL as its padding), so
        // `{"id":0\0}` would pass as JSON; the upstream's parser refuses it. A raw NUL is never
        // valid JSON (RFC 8259 §2 whitespace, §7 strings escape controls): refuse it here, with
        // one memchr scan. Found by tests/fuzz (inspect_mutated).
        if let Some(offset) = memchr::memchr(0, body) {
            return Err(Error::Parse { offset });
        }
        self.load(body);
        match self.parse_scratch(body) {
            Ok(inspected) => inspected,
            Err(SyntaxError {
                number_out_of_range: true,
                offset,
            }) => {
                // Cold: valid JSON with numbers simd-json cannot represent (see `big_numbers`).
                self.load(body);
                if !big_numbers::neutralise(&mut self.scratch) {
                    return Err(Error::Parse { offset });
                }
                self.parse_scratch(body)
                    .unwrap_or(Err(Error::Parse { offset }))
            }
            Err(SyntaxError { offset, .. }) => Err(Error::Parse { offset }),
        }
    }

    fn load(&mut self, body: &[u8]) {
        self.scratch.clear();
        self.scratch.extend_from_slice(body);
    }

    /// Parses the scratch copy into the reused tape and classifies it. The outer `Err` is a
    /// simd-json failure.
    fn parse_scratch(&mut self, body: &[u8]) -> Result<Result<Inspected, Error>, SyntaxError> {
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let origin = Origin {
            base: self.scratch.as_ptr() as usize,
            body,
        };
        let outcome = match simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape) {
            Ok(()) => match big_numbers::unterminated_number(&tape.0, body) {
                // simd-json let junk after a long integer through (see `big_numbers`).
                Some(offset) => Err(SyntaxError {
                    number_out_of_range: false,
                    offset,
                }),
                None => Ok(classify(tape.as_value(), &origin)),
            },
            Err(err) => Err(SyntaxError {
                number_out_of_range: matches!(err.error(), ErrorType::InvalidNumber),
                offset: err.index(),
            }),
        };
        self.tape = tape.reset();
        outcome
    }
}

/// Why simd-json refused the scratch copy.
struct SyntaxError {
    /// simd-json's `InvalidNumber`: possibly valid JSON it cannot represent (see `big_numbers`).
    number_out_of_range: bool,
    offset: usize,
}

/// The body being inspected and where its scratch copy starts: simd-json leaves every string
/// (unescaped) at its own offset in the scratch copy, so a key's address gives its offset in
/// `body`, from which [`value_after_key`] finds the value's span.
struct Origin<'b> {
    base: usize,
    body: &'b [u8],
}

impl Origin<'_> {
    /// The offset in the body of `key`, a key the tape holds.
    fn key_at(&self, key: &str) -> usize {
        (key.as_ptr() as usize).wrapping_sub(self.base)
    }

    /// The span of the value of a member whose key starts at `key_at`.
    fn value_span(&self, key_at: Option<usize>) -> Option<Span> {
        value_after_key(self.body, key_at?)
    }
}

fn classify(root: Value<'_, '_>, origin: &Origin<'_>) -> Result<Inspected, Error> {
    let Some(batch) = root.as_array() else {
        return message(root, origin).map(Inspected::Single);
    };
    let invalid = |reason| Error::InvalidRequest { id: None, reason };
    match batch.len() {
        0 => return Err(invalid(InvalidReason::EmptyBatch)),
        len if len > MAX_BATCH_LEN => return Err(invalid(InvalidReason::BatchTooLarge)),
        _ => {}
    }
    let mut infos = Vec::with_capacity(batch.len());
    for element in batch.iter() {
        infos.push(message(element, origin)?);
    }
    Ok(Inspected::Batch(infos))
}

/// The `id` member as found.
enum IdField {
    Absent,
    Null,
    Valid(JsonRpcId),
    Invalid,
}

/// Top-level members of one message, each the first occurrence; `duplicate` notes repeats.
#[derive(Default)]
struct Envelope<'t, 'i> {
    jsonrpc: Option<Value<'t, 'i>>,
    id: Option<(usize, Value<'t, 'i>)>,
    method: Option<Value<'t, 'i>>,
    params: Option<Value<'t, 'i>>,
    result: Option<Value<'t, 'i>>,
    error: Option<Value<'t, 'i>>,
    duplicate: bool,
    duplicate_id: bool,
}

/// Stores the first occurrence of a member; returns whether it was already present.
fn claim<T>(slot: &mut Option<T>, value: T) -> bool {
    if slot.is_some() {
        return true;
    }
    *slot = Some(value);
    false
}

/// Why one message was refused, before the id is attached (so the success path never clones it).
enum Rejection {
    /// `-32600`, echoing the id when it is valid and not duplicated.
    Invalid(InvalidReason),
    /// `-32600 BadId`, always with a `null` id.
    BadId,
    /// `-32602`, echoing the id.
    Params(ParamField),
}

fn message(value: Value<'_, '_>, origin: &Origin<'_>) -> Result<MessageInfo, Error> {
    let Some(object) = value.as_object() else {
        return Err(Error::InvalidRequest {
            id: None,
            reason: InvalidReason::NotAnObject,
        });
    };
    let envelope = read_envelope(&object, origin);
    let id = match envelope.id {
        None => IdField::Absent,
        Some((_, v)) if v.is_null() => IdField::Null,
        Some((_, v)) => read_id(v).map_or(IdField::Invalid, IdField::Valid),
    };
    let outcome = shape(&envelope, &id, origin);
    let id = match id {
        IdField::Valid(id) if !envelope.duplicate_id => Some(id),
        _ => None,
    };
    match outcome {
        Ok(mut info) => {
            if id.is_some() {
                info.spans.id = origin.value_span(envelope.id.map(|(at, _)| at));
            }
            info.id = id;
            Ok(info)
        }
        Err(Rejection::Invalid(reason)) => Err(Error::InvalidRequest { id, reason }),
        Err(Rejection::BadId) => Err(Error::InvalidRequest {
            id: None,
            reason: InvalidReason::BadId,
        }),
        Err(Rejection::Params(field)) => Err(Error::InvalidParams { id, field }),
    }
}

/// Validates the envelope and gathers the facts; the caller attaches the id.
fn shape(
    envelope: &Envelope<'_, '_>,
    id: &IdField,
    origin: &Origin<'_>,
) -> Result<MessageInfo, Rejection> {
    use Rejection::Invalid;
    if envelope.duplicate {
        return Err(Invalid(InvalidReason::DuplicateKey));
    }
    if envelope.jsonrpc.as_ref().and_then(|v| v.as_str()) != Some("2.0") {
        return Err(Invalid(InvalidReason::WrongJsonrpcVersion));
    }
    match (envelope.method, envelope.result, envelope.error) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err(Invalid(InvalidReason::MethodWithResult))
        }
        (Some(method), None, None) => {
            let name = method.as_str().ok_or(Invalid(InvalidReason::BadMethod))?;
            if name.contains('\0') {
                return Err(Invalid(InvalidReason::UndecodableString));
            }
            let kind = match id {
                IdField::Absent => Kind::Notification,
                IdField::Valid(_) => Kind::Request,
                IdField::Null | IdField::Invalid => return Err(Rejection::BadId),
            };
            let mut info = MessageInfo::new(kind);
            let method = Method::parse(name);
            info.method = Some(method);
            if method == Method::Other {
                info.unknown_method = Some(name.to_owned());
            }
            match envelope.params {
                None => {}
                Some(params) => match params.as_object() {
                    Some(params) => read_params(method, &params, &mut info, origin)?,
                    None if params.is_array() => {} // by-position params: legal JSON-RPC, unused by MCP
                    None => return Err(Invalid(InvalidReason::BadParams)),
                },
            }
            Ok(info)
        }
        (None, Some(_), Some(_)) => Err(Invalid(InvalidReason::BothResultAndError)),
        (None, Some(result), None) => {
            if !matches!(id, IdField::Valid(_)) {
                return Err(Rejection::BadId);
            }
            let mut info = MessageInfo::new(Kind::Response);
            info.protocol_version = result
                .get("protocolVersion")
                .as_ref()
                .and_then(|v| v.as_str())
                .map(ClaimedVersion::parse);
            Ok(info)
        }
        (None, None, Some(error)) => {
            if matches!(id, IdField::Invalid) {
                return Err(Rejection::BadId);
            }
            let code = error
                .as_object()
                .and_then(|e| e.get("code"))
                .and_then(|c| c.as_i64())
                .ok_or(Invalid(InvalidReason::BadError))?;
            let mut info = MessageInfo::new(Kind::ErrorResponse);
            info.error_code = Some(code);
            Ok(info)
        }
        (None, None, None) => Err(Invalid(InvalidReason::NoMethodOrResult)),
    }
}

fn read_envelope<'t, 'i>(object: &Object<'t, 'i>, origin: &Origin<'_>) -> Envelope<'t, 'i> {
    let mut envelope = Envelope::default();
    for (key, value) in object.iter() {
        let repeated = match key {
            "jsonrpc" => claim(&mut envelope.jsonrpc, value),
            "id" => {
                let repeated = claim(&mut envelope.id, (origin.key_at(key), value));
                envelope.duplicate_id |= repeated;
                repeated
            }
            "method" => claim(&mut envelope.method, value),
            "params" => claim(&mut envelope.params, value),
            "result" => claim(&mut envelope.result, value),
            "error" => claim(&mut envelope.error, value),
            _ => false,
        };
        envelope.duplicate |= repeated;
    }
    envelope
}

/// A string or an integer that fits `i64` or `u64`; anything else (floats included) is `None`.
fn read_id(value: Value<'_, '_>) -> Option<JsonRpcId> {
    if let Some(text) = value.as_str() {
        return Some(JsonRpcId::String(text.to_owned()));
    }
    match value.as_i64() {
        Some(n) => Some(JsonRpcId::Number(n)),
        None => value.as_u64().map(JsonRpcId::from_u64),
    }
}

/// The `params` members one method's facts come from, each the first occurrence.
#[derive(Default)]
struct ParamMembers<'t, 'i> {
    name: Option<Value<'t, 'i>>,
    uri: Option<Value<'t, 'i>>,
    protocol_version: Option<Value<'t, 'i>>,
    request_id: Option<Value<'t, 'i>>,
    progress_token: Option<Value<'t, 'i>>,
    meta: Option<Value<'t, 'i>>,
    /// Offsets of the `requestId` and `progressToken` keys (first occurrence).
    request_id_at: Option<usize>,
    progress_token_at: Option<usize>,
    duplicate: bool,
}

fn read_params(
    method: Method,
    params: &Object<'_, '_>,
    info: &mut MessageInfo,
    origin: &Origin<'_>,
) -> Result<(), Rejection> {
    let mut members = ParamMembers::default();
    for (key, value) in params.iter() {
        let slot = match (key, method) {
            ("name", Method::ToolsCall | Method::PromptsGet) => &mut members.name,
            (
                "uri",
                Method::ResourcesRead
                | Method::ResourcesSubscribe
                | Method::ResourcesUnsubscribe
                | Method::NotificationsResourcesUpdated,
            ) => &mut members.uri,
            ("protocolVersion", Method::Initialize) => &mut members.protocol_version,
            ("requestId", Method::NotificationsCancelled) => {
                members.request_id_at.get_or_insert(origin.key_at(key));
                &mut members.request_id
            }
            ("progressToken", Method::NotificationsProgress) => {
                members.progress_token_at.get_or_insert(origin.key_at(key));
                &mut members.progress_token
            }
            ("_meta", _) => &mut members.meta,
            _ => continue,
        };
        members.duplicate |= claim(slot, value);
    }
    if members.duplicate {
        return Err(Rejection::Invalid(InvalidReason::DuplicateKey));
    }
    let text = |value: Value<'_, '_>, field| {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or(Rejection::Params(field))
    };
    if let Some(name) = members.name {
        let name = text(name, ParamField::Name)?;
        if name.contains('\0') {
            return Err(Rejection::Invalid(InvalidReason::UndecodableString));
        }
        info.target = Some(if method == Method::ToolsCall {
            Target::Tool(name)
        } else {
            Target::Prompt(name)
        });
    }
    if let Some(uri) = members.uri {
        info.target = Some(Target::Resource(text(uri, ParamField::Uri)?));
    }
    let field = Rejection::Params;
    if let Some(version) = members.protocol_version {
        info.protocol_version =
            Some(read_version(version).ok_or(field(ParamField::ProtocolVersion))?);
    }
    if let Some(request_id) = members.request_id {
        info.cancelled_request_id = Some(read_id(request_id).ok_or(field(ParamField::RequestId))?);
        info.spans.request_id = origin.value_span(members.request_id_at);
    }
    if let Some(token) = members.progress_token {
        info.progress_token = Some(read_id(token).ok_or(field(ParamField::ProgressToken))?);
        info.spans.progress_token = origin.value_span(members.progress_token_at);
    }
    if let Some(meta) = members.meta {
        let meta = meta.as_object().ok_or(field(ParamField::Meta))?;
        read_meta(&meta, info, origin).map_err(field)?;
    }
    Ok(())
}

/// Reads `_meta.progressToken` and the 2026 protocol version key, without overriding what the
/// method's own params already said. Duplicates count as an invalid `_meta`.
fn read_meta(
    meta: &Object<'_, '_>,
    info: &mut MessageInfo,
    origin: &Origin<'_>,
) -> Result<(), ParamField> {
    let mut progress_token = None;
    let mut protocol_version = None;
    for (key, value) in meta.iter() {
        let repeated = match key {
            "progressToken" => claim(&mut progress_token, (origin.key_at(key), value)),
            META_PROTOCOL_VERSION => claim(&mut protocol_version, value),
            _ => continue,
        };
        if repeated {
            return Err(ParamField::Meta);
        }
    }
    if let Some((at, token)) = progress_token {
        let token = read_id(token).ok_or(ParamField::ProgressToken)?;
        if info.progress_token.is_none() {
            info.progress_token = Some(token);
            info.spans.progress_token = origin.value_span(Some(at));
        }
    }
    if let Some(version) = protocol_version {
        let version = read_version(version).ok_or(ParamField::ProtocolVersion)?;
        info.protocol_version.get_or_insert(version);
    }
    Ok(())
}

fn read_version(value: Value<'_, '_>) -> Option<ClaimedVersion> {
    value.as_str().map(ClaimedVersion::parse)
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;

/// Refuses a message whose method or tool/prompt name simd-json may have decoded from an
/// unpaired surrogate escape (surrogates.rs).
fn refuse_undecodable(body: &[u8], inspected: Inspected) -> Result<Inspected, Error> {
    let suspect = inspected.messages().iter().find(|info| {
        let name = match &info.target {
            Some(Target::Tool(name) | Target::Prompt(name)) => Some(name.as_str()),
            _ => None,
        };
        [info.unknown_method.as_deref(), name]
            .into_iter()
            .flatten()
            .any(super::surrogates::astral)
    });
    match suspect {
        Some(info) if super::surrogates::unpaired_high_surrogate(body) => {
            Err(Error::InvalidRequest {
                id: info.id.clone(),
                reason: InvalidReason::UndecodableString,
            })
        }
        _ => Ok(inspected),
    }
}
