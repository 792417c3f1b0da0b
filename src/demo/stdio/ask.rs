//! The stdio-only tools that ask the client: `confirm` (`elicitation/create`) and `sample`
//! (`sampling/createMessage`): the request each sends, and the tool result written when the
//! answer (or an error, or end of input) comes back.
//!
//! Not here: matching answers to questions (`session.rs`). Cold path: `serde_json::Value` for
//! the client's answer is fine here.

use serde_json::Value;

use super::super::message::{Arguments, RequestId, Scalar};
use super::super::reply::{begin_result, end_result, JsonWriter};

/// `confirm`'s question when the call gives none.
const DEFAULT_QUESTION: &str = "Do you want to continue?";
/// `sample`'s prompt when the call gives none.
const DEFAULT_PROMPT: &str = "Say hello in five words or fewer.";
/// `maxTokens` of the sampling request: the demo asks for a short answer.
const SAMPLE_MAX_TOKENS: u32 = 100;

/// Which tool asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AskKind {
    /// `confirm`: `elicitation/create` with one boolean field.
    Confirm,
    /// `sample`: `sampling/createMessage` with one user message.
    Sample,
}

impl AskKind {
    fn tool(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Sample => "sample",
        }
    }

    /// Why the tool cannot run for a client that did not declare the capability it needs
    /// (servers MUST NOT send requests for undeclared capabilities).
    pub(super) fn undeclared(self) -> &'static str {
        match self {
            Self::Confirm => "the client did not declare the elicitation capability",
            Self::Sample => "the client did not declare the sampling capability",
        }
    }
}

/// A question sent to the client: the `tools/call` waiting for it.
#[derive(Debug)]
pub(super) struct Ask {
    call: RequestId<'static>,
    kind: AskKind,
}

impl Ask {
    /// The tool call `call` of `kind` now waits for its answer.
    pub(super) fn new(call: RequestId<'static>, kind: AskKind) -> Self {
        Self { call, kind }
    }

    /// Whether this question belongs to the tool call whose id is `call` (JSON text).
    pub(super) fn is_for(&self, call: &str) -> bool {
        self.call.json_text() == call
    }

    /// The tool result for the client's `result`: `confirm` returns the whole answer as JSON
    /// text (`{"action":"accept","content":{"confirm":true}}`); `sample` returns the model's
    /// text, or the whole answer as JSON when its content is not text.
    pub(super) fn answered(self, result: &Value) -> Vec<u8> {
        let sampled_text = match self.kind {
            AskKind::Sample => result
                .get("content")
                .filter(|content| content.get("type").and_then(Value::as_str) == Some("text"))
                .and_then(|content| content.get("text"))
                .and_then(Value::as_str),
            AskKind::Confirm => None,
        };
        let text = match sampled_text {
            Some(text) => text.to_owned(),
            None => result.to_string(),
        };
        let mut out = begin_result(&self.call, text.len() + 64);
        out.raw(r#"{"content":[{"type":"text","text":"#)
            .string(&text)
            .raw("}]}");
        end_result(out)
    }

    /// The tool result when the client answered with a JSON-RPC error.
    pub(super) fn refused(self, error: Option<&Value>) -> Vec<u8> {
        let message = error
            .and_then(|error| error.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("no message");
        let problem = format!("the client answered with an error: {message}");
        tool_error(&self.call, self.kind, &problem)
    }

    /// The tool result when input ended before the answer came.
    pub(super) fn abandoned(self) -> Vec<u8> {
        tool_error(
            &self.call,
            self.kind,
            "the client closed its input before answering",
        )
    }
}

/// The server→client request for a call of `kind` with `arguments`, with JSON-RPC id `ask_id`.
///
/// # Errors
/// The problem with the arguments, for an `isError` result.
pub(super) fn request(
    ask_id: u64,
    kind: AskKind,
    arguments: &Arguments<'_>,
) -> Result<Vec<u8>, &'static str> {
    let mut out = JsonWriter::with_capacity(512);
    out.raw(r#"{"jsonrpc":"2.0","id":"#).display(ask_id);
    match kind {
        AskKind::Confirm => {
            let question = optional_str(arguments.message.as_ref(), DEFAULT_QUESTION)
                .ok_or("message must be a string")?;
            out.raw(r#","method":"elicitation/create","params":{"message":"#)
                .string(question)
                .raw(concat!(
                    r#","requestedSchema":{"type":"object","properties":{"confirm":"#,
                    r#"{"type":"boolean","title":"Confirm","description":"Yes or no"}},"#,
                    r#""required":["confirm"]}}}"#
                ));
        }
        AskKind::Sample => {
            let prompt = optional_str(arguments.prompt.as_ref(), DEFAULT_PROMPT)
                .ok_or("prompt must be a string")?;
            out.raw(r#","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"#)
                .string(prompt)
                .raw(r#"}}],"maxTokens":"#)
                .display(SAMPLE_MAX_TOKENS)
                .raw("}}");
        }
    }
    Ok(out.finish())
}

/// A string argument, or `default` when absent; `None` when it is not a string.
fn optional_str<'v>(value: Option<&'v Scalar<'_>>, default: &'v str) -> Option<&'v str> {
    match value {
        None => Some(default),
        Some(value) => value.as_str(),
    }
}

/// An `isError` tool result naming the tool and the problem.
pub(super) fn tool_error(call: &RequestId<'_>, kind: AskKind, problem: &str) -> Vec<u8> {
    let mut out = begin_result(call, problem.len() + 96);
    out.raw(r#"{"content":[{"type":"text","text":"Tool "#)
        .display_in_string(kind.tool())
        .raw(" failed: ")
        .display_in_string(problem)
        .raw(r#""}],"isError":true}"#);
    end_result(out)
}
