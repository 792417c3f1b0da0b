//! MRTR for a legacy client (2026-07-28 `basic/patterns/mrtr.mdx`): reading an upstream's final
//! message (complete, error, or `input_required`), turning each input request into a
//! server→client request with a proxy-minted id, collecting the client's answers, and what the
//! retry carries (`inputResponses`, `requestState` byte for byte). A pure state machine: the
//! I/O is in post.rs.
//!
//! Not here: building the retry body (wire.rs), sending or waiting (post.rs).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::mcp::JsonRpcId;

/// Most `input_required` rounds one request may take before the proxy gives up (rmcp and the
/// other Tier 1 SDKs default to 10).
pub const MAX_ROUNDS: u32 = 10;

/// What an upstream's final message for a request says.
#[derive(Debug)]
pub enum Final {
    /// A complete result or a JSON-RPC error: goes to the client (under its own id).
    Done,
    /// `resultType: "input_required"`.
    InputRequired(InputRequired),
}

/// The parts of an `InputRequiredResult` the proxy acts on.
#[derive(Debug)]
pub struct InputRequired {
    /// key → request, in key order.
    pub requests: Vec<(String, InputRequest)>,
    /// `requestState` as sent (raw JSON, echoed untouched).
    pub state: Option<Box<RawValue>>,
}

/// One entry of `inputRequests`.
#[derive(Debug, Deserialize)]
pub struct InputRequest {
    /// `sampling/createMessage`, `elicitation/create` or `roots/list`.
    pub method: String,
    /// The request's params (raw JSON).
    pub params: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Envelope {
    result: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultShape {
    #[serde(default)]
    input_requests: std::collections::BTreeMap<String, InputRequest>,
    request_state: Option<Box<RawValue>>,
}

/// Reads a final message.
///
/// # Errors
/// An `input_required` result whose `inputRequests` cannot be read (the caller answers the
/// client with an error instead of forwarding a result it cannot act on).
pub fn classify(message: &[u8]) -> Result<Final, serde_json::Error> {
    let envelope: Envelope = serde_json::from_slice(message)?;
    let Some(result) = envelope.result else {
        return Ok(Final::Done);
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct TypeOnly<'a> {
        #[serde(borrow)]
        result_type: Option<std::borrow::Cow<'a, str>>,
    }
    let kind: TypeOnly<'_> = serde_json::from_str(result.get())?;
    if kind.result_type.as_deref() != Some("input_required") {
        return Ok(Final::Done);
    }
    let shape: ResultShape = serde_json::from_str(result.get())?;
    Ok(Final::InputRequired(InputRequired {
        requests: shape.input_requests.into_iter().collect(),
        state: shape.request_state,
    }))
}

/// The client capability a server→client request needs (legacy `initialize` capabilities).
pub fn required_capability(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

/// Whether the client's `capabilities` object declares `name`.
pub fn declared(capabilities: &RawValue, name: &str) -> bool {
    serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(capabilities.get())
        .is_ok_and(|caps| caps.get(name).is_some_and(|v| v.get() != "null"))
}

/// Why a round cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// More than [`MAX_ROUNDS`] `input_required` answers.
    TooManyRounds,
    /// An input request of a kind the client did not declare (or no kind at all).
    Undeclared {
        /// The method asked for.
        method: String,
        /// The capability it needs (`None`: a method MRTR does not allow).
        capability: Option<&'static str>,
    },
    /// `input_required` with neither requests nor state: nothing to act on.
    Empty,
    /// The client answered an input request with an error.
    ClientError(String),
}

/// One server→client request to write to the client.
#[derive(Debug)]
pub struct Outgoing {
    /// The proxy-minted id.
    pub id: JsonRpcId,
    /// The complete JSON-RPC request.
    pub message: Vec<u8>,
}

/// The MRTR state of one client request.
#[derive(Debug, Default)]
pub struct Rounds {
    round: u32,
    /// Minted id → key, for the requests still unanswered.
    waiting: Vec<(JsonRpcId, String)>,
    /// key → the client's result.
    answers: Vec<(String, Box<RawValue>)>,
    state: Option<Box<RawValue>>,
}

impl Rounds {
    /// How many `input_required` answers were acted on so far.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Starts a round: checks the requests against the client's capabilities and returns the
    /// messages to send; `mint` gives each a fresh id.
    ///
    /// # Errors
    /// See [`Stop`].
    pub fn start(
        &mut self,
        input: InputRequired,
        capabilities: &RawValue,
        mut mint: impl FnMut() -> String,
    ) -> Result<Vec<Outgoing>, Stop> {
        self.round += 1;
        if self.round > MAX_ROUNDS {
            return Err(Stop::TooManyRounds);
        }
        if input.requests.is_empty() && input.state.is_none() {
            return Err(Stop::Empty);
        }
        for (_, request) in &input.requests {
            let capability = required_capability(&request.method);
            if !capability.is_some_and(|c| declared(capabilities, c)) {
                return Err(Stop::Undeclared {
                    method: request.method.clone(),
                    capability,
                });
            }
        }
        self.waiting.clear();
        self.answers.clear();
        self.state = input.state;
        let mut out = Vec::with_capacity(input.requests.len());
        for (key, request) in input.requests {
            let id = mint();
            let mut message = Vec::with_capacity(128);
            message.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            crate::mcp::write_json_string(&mut message, &id);
            message.extend_from_slice(br#","method":"#);
            crate::mcp::write_json_string(&mut message, &request.method);
            if let Some(params) = &request.params {
                message.extend_from_slice(br#","params":"#);
                message.extend_from_slice(params.get().as_bytes());
            }
            message.push(b'}');
            let id = JsonRpcId::String(id);
            self.waiting.push((id.clone(), key));
            out.push(Outgoing { id, message });
        }
        Ok(out)
    }

    /// The ids still awaiting an answer.
    pub fn waiting(&self) -> impl Iterator<Item = &JsonRpcId> {
        self.waiting.iter().map(|(id, _)| id)
    }

    /// Takes the client's response to request `id`; returns whether every request of the round
    /// is answered now. Unknown ids are ignored.
    ///
    /// # Errors
    /// The client answered with an error (or with something that is no JSON-RPC response).
    pub fn answer(&mut self, id: &JsonRpcId, response: &[u8]) -> Result<bool, Stop> {
        let Some(at) = self.waiting.iter().position(|(w, _)| w == id) else {
            return Ok(self.waiting.is_empty());
        };
        #[derive(Deserialize)]
        struct Response {
            result: Option<Box<RawValue>>,
            error: Option<Box<RawValue>>,
        }
        let parsed: Response = serde_json::from_slice(response)
            .map_err(|e| Stop::ClientError(format!("unreadable response: {e}")))?;
        let (_, key) = self.waiting.remove(at);
        match (parsed.result, parsed.error) {
            (Some(result), None) => self.answers.push((key, result)),
            (_, Some(error)) => return Err(Stop::ClientError(error.get().to_owned())),
            (None, None) => return Err(Stop::ClientError("response without result".into())),
        }
        Ok(self.waiting.is_empty())
    }

    /// The answers collected this round (key → result).
    pub fn answers(&self) -> &[(String, Box<RawValue>)] {
        &self.answers
    }

    /// The round's `requestState`, untouched.
    pub fn state(&self) -> Option<&RawValue> {
        self.state.as_deref()
    }
}

#[cfg(test)]
#[path = "mrtr_tests.rs"]
mod tests;
