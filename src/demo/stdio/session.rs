//! The demo MCP server's one stdio session: each line from the client in, what to write (or
//! run) out. Pure and synchronous, like `DemoMcp`; the serving loop (`mod.rs`) does the I/O.
//!
//! Not here: reading, writing, threads and timers (`mod.rs`), line framing (`lines.rs`), the
//! shared method logic (`dispatch.rs`, `tools.rs`), which this calls. Differences from HTTP:
//! no headers and no session id (the connection is the session), `initialize` remembers the
//! client's `elicitation`/`sampling` capabilities, and the tools `confirm` and `sample` send
//! server→client requests whose answers come back as lines (see `ask.rs`).
//! Hot path (`tools/call echo`): what `DemoMcp::post` does minus the header checks: one borrowed
//! parse, one `Vec` for the reply.

use std::collections::HashMap;

use serde::Deserialize;

use super::super::dispatch::{self, INITIALIZE};
use super::super::message::{self, Message, NotAnObject, Obj, Params, RequestId, Scalar};
use super::super::reply::Outcome;
use super::super::reply::{error_message, result_message};
use super::super::{catalog::STDIO_TOOLS_LIST, SseStep};
use super::ask::{self, Ask, AskKind};

/// Server→client requests waiting for their answer. A client that never answers could make the
/// demo hold one entry per `confirm`/`sample` call; past this, new calls fail at once.
pub(super) const MAX_PENDING_ASKS: usize = 1024;

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Write this message as one line.
    Write(Vec<u8>),
    /// Write these messages with these pauses, without holding up other requests (`slow`).
    Script {
        /// The request's id as JSON text (`7`, `"a"`), for `notifications/cancelled`.
        call: String,
        /// Pauses and messages; the last message is the response.
        steps: Vec<SseStep>,
    },
    /// The client cancelled its request with this id (JSON text): stop its script, if any.
    Cancel(String),
    /// Nothing to send (a notification, or a response nobody waits for).
    Nothing,
}

/// One client's session over stdio.
#[derive(Debug, Default)]
pub(super) struct StdioSession {
    /// The client declared `capabilities.elicitation` in `initialize`.
    elicitation: bool,
    /// The client declared `capabilities.sampling` in `initialize`.
    sampling: bool,
    /// Id of the next server→client request.
    next_ask: u64,
    /// Server→client requests sent and not answered yet, by id.
    asks: HashMap<u64, Ask>,
}

/// A notification or response from the client: the members the demo reads.
#[derive(Debug, Deserialize)]
struct ClientResponse {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<serde_json::Value>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl StdioSession {
    /// Handles one line (one JSON-RPC message, without its newline).
    pub(super) fn handle(&mut self, line: &[u8]) -> Action {
        match message::parse(line) {
            Ok(Message::Request { id, method, params }) => self.request(id, &method, params),
            Ok(Message::NoReply) => self.answered(line),
            Err(rejected) => Action::Write(error_message(rejected.id.as_ref(), &rejected.error)),
        }
    }

    /// The reply to a line longer than the input bound: a parse error without id (the id was
    /// in the bytes that were dropped).
    pub(super) fn too_long() -> Vec<u8> {
        error_message(None, &super::super::error::DemoError::Parse)
    }

    /// At end of input: a tool result with `isError` for every question still unanswered.
    pub(super) fn abandon(&mut self) -> Vec<Vec<u8>> {
        let mut pending: Vec<(u64, Ask)> = self.asks.drain().collect();
        pending.sort_unstable_by_key(|(id, _)| *id);
        pending
            .into_iter()
            .map(|(_, ask)| ask.abandoned())
            .collect()
    }

    fn request(
        &mut self,
        id: RequestId<'_>,
        method: &str,
        mut params: Result<Params<'_>, NotAnObject>,
    ) -> Action {
        if method == INITIALIZE {
            if let Ok(Params {
                capabilities: Some(Obj::Object(capabilities)),
                ..
            }) = &params
            {
                self.elicitation = capabilities.elicitation.is_some();
                self.sampling = capabilities.sampling.is_some();
            }
            return Action::Write(
                dispatch::initialize(&id, params)
                    .unwrap_or_else(|error| error_message(Some(&id), &error)),
            );
        }
        match (method, &mut params) {
            ("tools/list", Ok(_)) => {
                return Action::Write(result_message(&id, STDIO_TOOLS_LIST));
            }
            ("tools/call", Ok(call)) => {
                let kind = match call.name.as_ref().and_then(Scalar::as_str) {
                    Some("confirm") => Some(AskKind::Confirm),
                    Some("sample") => Some(AskKind::Sample),
                    _ => None,
                };
                if let Some(kind) = kind {
                    return self.ask(id, kind, call);
                }
            }
            _ => {}
        }
        match dispatch::request(&id, method, params) {
            Ok(Outcome::Reply(body)) => Action::Write(body),
            Ok(Outcome::Stream(steps)) => Action::Script {
                call: id.json_text(),
                steps,
            },
            Err(error) => Action::Write(error_message(Some(&id), &error)),
        }
    }

    /// `confirm`/`sample`: sends the question to the client, or fails the call at once.
    fn ask(&mut self, id: RequestId<'_>, kind: AskKind, call: &mut Params<'_>) -> Action {
        let declared = match kind {
            AskKind::Confirm => self.elicitation,
            AskKind::Sample => self.sampling,
        };
        let arguments = match call.arguments.take() {
            None => Default::default(),
            Some(Obj::Object(arguments)) => arguments,
            Some(Obj::NotObject) => {
                return Action::Write(ask::tool_error(&id, kind, "arguments must be an object"))
            }
        };
        if !declared {
            return Action::Write(ask::tool_error(&id, kind, kind.undeclared()));
        }
        if self.asks.len() >= MAX_PENDING_ASKS {
            return Action::Write(ask::tool_error(
                &id,
                kind,
                "too many questions are waiting for the client's answer",
            ));
        }
        let ask_id = self.next_ask;
        self.next_ask += 1;
        match ask::request(ask_id, kind, &arguments) {
            Ok(request) => {
                self.asks.insert(ask_id, Ask::new(id.into_owned(), kind));
                Action::Write(request)
            }
            Err(problem) => Action::Write(ask::tool_error(&id, kind, problem)),
        }
    }

    /// A notification, or the client's answer to one of our requests.
    fn answered(&mut self, line: &[u8]) -> Action {
        let Ok(response) = serde_json::from_slice::<ClientResponse>(line) else {
            return Action::Nothing;
        };
        if response.method.as_deref() == Some(CANCELLED) {
            return self.cancelled(response.params.as_ref());
        }
        if response.result.is_none() && response.error.is_none() {
            return Action::Nothing;
        }
        let Some(ask) = response
            .id
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .and_then(|id| self.asks.remove(&id))
        else {
            tracing::debug!("a response to no pending request was ignored");
            return Action::Nothing;
        };
        Action::Write(match response.result {
            Some(result) => ask.answered(&result),
            None => ask.refused(response.error.as_ref()),
        })
    }
}

impl StdioSession {
    /// `notifications/cancelled {requestId}`: a question still waiting is dropped without a
    /// result (the client no longer expects one); anything else is passed on to stop a script.
    /// Unknown or finished ids are ignored, as the spec asks.
    fn cancelled(&mut self, params: Option<&serde_json::Value>) -> Action {
        let Some(request) = params.and_then(|params| params.get("requestId")) else {
            return Action::Nothing;
        };
        let call = request.to_string();
        let before = self.asks.len();
        self.asks.retain(|_, ask| !ask.is_for(&call));
        if self.asks.len() < before {
            return Action::Nothing;
        }
        Action::Cancel(call)
    }
}

/// The client's cancellation notice (JSON-RPC notification, MCP `basic/utilities/cancellation`).
const CANCELLED: &str = "notifications/cancelled";

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
