//! The built-in demo MCP server as a pure, synchronous state machine: one call per HTTP request, one
//! [`DemoReply`] back, which the serving loop writes (and, for [`DemoReply::Sse`], paces with its own timers).
//!
//! Not here: sockets, HTTP framing, SSE framing or timers (the serving loop), and anything of the proxy path.
//! Hot path (`tools/call echo`): header checks and session verification allocate nothing; the body is read into
//! borrowed fields; the reply is one `Vec`. See `README.md` in this folder for what the server offers.
//!
//! ```
//! use shadowcat::demo::{DemoMcp, DemoOptions, DemoReply, PostRequest};
//!
//! let demo = DemoMcp::new(DemoOptions { sse: false, secret: 42 });
//! let reply = demo.post(PostRequest {
//!     session_id: None,
//!     protocol_version: None,
//!     accept: Some(b"application/json, text/event-stream"),
//!     content_type: Some(b"application/json"),
//!     body: br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
//! });
//! let DemoReply::Json { status: 200, session_id: Some(session), .. } = reply else {
//!     return;
//! };
//! assert!(matches!(demo.delete(Some(session.as_bytes())), DemoReply::Status { status: 200, .. }));
//! ```

mod batch;
mod catalog;
mod dispatch;
mod error;
mod headers;
mod message;
mod reply;
pub mod server;
mod session_id;
pub mod stdio;
mod tape_backend;
mod tools;

use std::fmt;
use std::time::Duration;

use error::DemoError;
use message::{Message, Rejected};
use reply::Outcome;

/// The methods the endpoint answers, for the `Allow` header of a 405 (GET has no stream here).
pub const ALLOWED_METHODS: &str = "POST, DELETE";

/// How a [`DemoMcp`] behaves.
#[derive(Clone, Copy)]
pub struct DemoOptions {
    /// Answer every request with `text/event-stream` (one message per plain request) instead of JSON.
    pub sse: bool,
    /// Per-process random key for session id tags; give every shard the same value.
    pub secret: u64,
}

impl fmt::Debug for DemoOptions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DemoOptions")
            .field("sse", &self.sse)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One POST as the serving loop read it: the headers the demo checks, and the whole body.
#[derive(Debug, Clone, Copy)]
pub struct PostRequest<'a> {
    /// `Mcp-Session-Id`.
    pub session_id: Option<&'a [u8]>,
    /// `MCP-Protocol-Version`.
    pub protocol_version: Option<&'a [u8]>,
    /// `Accept`.
    pub accept: Option<&'a [u8]>,
    /// `Content-Type`.
    pub content_type: Option<&'a [u8]>,
    /// The request body.
    pub body: &'a [u8],
}

/// What the serving loop sends back.
#[derive(Debug)]
pub enum DemoReply {
    /// `Content-Type: application/json` with this status and body; `Mcp-Session-Id` when `session_id` is set.
    Json {
        /// HTTP status (200).
        status: u16,
        /// One JSON-RPC response (an array of them for a batch).
        body: Vec<u8>,
        /// The session minted by `initialize`.
        session_id: Option<String>,
    },
    /// 202 Accepted, no body: the POST held a notification or a response.
    Accepted,
    /// 200 with `Content-Type: text/event-stream`: write the steps in order, pausing on each
    /// [`SseStep::Delay`], then end the stream. `Mcp-Session-Id` when `session_id` is set.
    Sse {
        /// The session minted by `initialize`.
        session_id: Option<String>,
        /// Messages and pauses; the last step is always the JSON-RPC response.
        steps: Vec<SseStep>,
    },
    /// Any other status, with an optional JSON-RPC error body (`application/json`) and an optional `Allow`.
    Status {
        /// HTTP status.
        status: u16,
        /// A JSON-RPC error response (id `null` for transport errors).
        body: Option<Vec<u8>>,
        /// The `Allow` header, for 405.
        allow: Option<&'static str>,
    },
}

/// One step of an SSE reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseStep {
    /// One JSON-RPC message; frame it as `event: message` + `data: …`.
    Message(Vec<u8>),
    /// Wait this long before the next step.
    Delay(Duration),
}

/// The demo MCP server. Holds only configuration, so one per shard (or one shared) serves every session.
pub struct DemoMcp {
    options: DemoOptions,
}

impl fmt::Debug for DemoMcp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DemoMcp")
            .field("options", &self.options)
            .finish()
    }
}

impl DemoMcp {
    /// A demo server with `options`.
    pub fn new(options: DemoOptions) -> Self {
        Self { options }
    }

    /// Answers one POST. Checks, in the SDKs' order: `Accept` (406), `Content-Type` (415), the body (400 with
    /// -32700 or -32600), then for anything but `initialize` the session (400 without one, 404 with -32001 for a
    /// bad one) and `MCP-Protocol-Version` (400). A batch (2025-03-26, or no version header; refused with 400 and
    /// -32600 under any other `MCP-Protocol-Version`) gets every answer in one reply (`batch.rs`).
    pub fn post(&self, request: PostRequest<'_>) -> DemoReply {
        self.try_post(&request)
            .unwrap_or_else(|rejected| self.reject(rejected))
    }

    /// Ends a session: 200 for a valid id. Sessions are stateless, so the id stays usable afterwards: no shard
    /// can know that another one saw the DELETE.
    pub fn delete(&self, session_id: Option<&[u8]>) -> DemoReply {
        match self.check_session(session_id) {
            Ok(()) => DemoReply::Status {
                status: 200,
                body: None,
                allow: None,
            },
            Err(error) => self.reject(error.into()),
        }
    }

    /// GET would open a standalone SSE stream for server-initiated messages; the demo sends none, so it answers
    /// 405 with `Allow: POST, DELETE`, which the spec permits.
    pub fn get(&self, _session_id: Option<&[u8]>) -> DemoReply {
        self.reject(DemoError::GetNotAllowed.into())
    }

    fn try_post<'b>(&self, request: &PostRequest<'b>) -> Result<DemoReply, Rejected<'b>> {
        headers::check_accept(request.accept)?;
        headers::check_content_type(request.content_type)?;
        if let Some(entries) = batch::parse(request.body) {
            let entries = entries?;
            self.check_session_and_version(request)?;
            if !headers::takes_batches(request.protocol_version) {
                return Err(DemoError::Batch.into());
            }
            return Ok(batch::answer(entries, self.options.sse));
        }
        let (id, method, params) = match message::parse(request.body)? {
            Message::Request { id, method, params } => (id, method, params),
            Message::NoReply => {
                self.check_session_and_version(request)?;
                return Ok(DemoReply::Accepted);
            }
        };
        let with_id = |error| Rejected {
            error,
            id: Some(id.clone()),
        };
        if method == dispatch::INITIALIZE {
            let body = dispatch::initialize(&id, params).map_err(with_id)?;
            let session = session_id::mint(self.options.secret).map_err(with_id)?;
            return Ok(self.respond(body, Some(session)));
        }
        self.check_session_and_version(request)?;
        match dispatch::request(&id, &method, params) {
            Ok(Outcome::Reply(body)) => Ok(self.respond(body, None)),
            Ok(Outcome::Stream(steps)) => Ok(DemoReply::Sse {
                session_id: None,
                steps,
            }),
            Err(error) => Err(with_id(error)),
        }
    }

    fn check_session_and_version(&self, request: &PostRequest<'_>) -> Result<(), DemoError> {
        self.check_session(request.session_id)?;
        headers::check_protocol_version(request.protocol_version)
    }

    fn check_session(&self, session_id: Option<&[u8]>) -> Result<(), DemoError> {
        match session_id {
            None => Err(DemoError::MissingSession),
            Some(id) if session_id::verify(id, self.options.secret) => Ok(()),
            Some(_) => Err(DemoError::UnknownSession),
        }
    }

    /// A successful JSON-RPC exchange, as JSON or as a one-message SSE stream.
    fn respond(&self, body: Vec<u8>, session_id: Option<String>) -> DemoReply {
        if self.options.sse {
            DemoReply::Sse {
                session_id,
                steps: vec![SseStep::Message(body)],
            }
        } else {
            DemoReply::Json {
                status: 200,
                body,
                session_id,
            }
        }
    }

    /// The one place a failure becomes a reply: JSON-RPC errors about a readable request travel like any
    /// response (200); transport failures get their HTTP status and an error body.
    fn reject(&self, rejected: Rejected<'_>) -> DemoReply {
        let Rejected { error, id } = rejected;
        let body = reply::error_message(id.as_ref(), &error);
        match error.http_status() {
            200 => self.respond(body, None),
            status => DemoReply::Status {
                status,
                body: Some(body),
                allow: matches!(error, DemoError::GetNotAllowed).then_some(ALLOWED_METHODS),
            },
        }
    }
}

#[cfg(test)]
#[path = "test_support.rs"]
mod test_support;

#[cfg(test)]
#[path = "transport_tests.rs"]
mod transport_tests;

#[cfg(test)]
#[path = "method_tests.rs"]
mod method_tests;

#[cfg(test)]
#[path = "batch_tests.rs"]
mod batch_tests;
