//! The one stage interface: [`Stage`], the closed set of steps a route's requests pass,
//! dispatched by `match` (no boxes, no allocation), and the lists of them a route runs per
//! request method ([`Flow`]), in order.
//!
//! A stage belongs to a [`Phase`] (what it can read); a phase's stages run together, in list
//! order, when the proxy has what they read. Steps that need I/O or shard state (routing,
//! reading the body, the session table) are in the list at their place too, marked
//! [`Stage::by_proxy`]: the proxy runs them there, between the phases, and the runner passes
//! over them, so the list `shadowcat config check` prints is the order requests see.
//!
//! Not here: the checks themselves (checks/, tool_filter.rs), building a route's lists
//! (`RouteStages::build`).

use crate::config::RouteEra;
use crate::http::RequestHead;
use crate::mcp::ProtocolVersion;

use super::checks;
use super::{Facts, Refusal};

/// One step of a route's request pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `Host` / `Origin` allow-lists (checks/host_origin.rs; the listener's, before routing).
    HostOrigin,
    /// The path names a route (404 otherwise).
    Route,
    /// The request's credential names a principal allowed on the route (401/403 otherwise);
    /// only on routes with `auth` (the auth module).
    Authenticate,
    /// The HTTP method is one the route serves (405 otherwise).
    Method,
    /// `Accept` fits the method (checks/accept.rs).
    Accept,
    /// A POST body is JSON (checks/content_type.rs).
    ContentType,
    /// The body is read, within `limits.max_body_bytes` and the head timeout.
    BodyLimit,
    /// The body is parsed into [`Facts`] (malformed JSON or JSON-RPC is refused).
    Inspect,
    /// Legacy or 2026-07-28, the route's era policy, mirrored headers (checks/era.rs).
    Era,
    /// A known `MCP-Protocol-Version` header (checks/protocol_version.rs).
    ProtocolVersion,
    /// `Mcp-Session-Id` names a live session of this route (2026-07-28 requests have none).
    Session,
    /// Batches only on 2025-03-26 (checks/batch.rs).
    Batch,
    /// `initialize` only while the shard holds fewer than `sessions.max_per_shard`.
    SessionLimit,
    /// The route's policy: who may call which method and tool (policy rules; configured per
    /// route).
    Policy,
    /// The route's tool allow/deny lists (tool_filter.rs; configured per route).
    ToolFilter,
    /// The principal's token buckets (configured per route; the proxy runs it: the buckets
    /// live on the principal's shard).
    RateLimit,
}

/// What a stage can read, in the order a request offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Before a route is chosen: the connection's dispatch.
    Dispatch,
    /// The request head alone, before any body byte is read.
    Head,
    /// Reading and inspecting the body.
    Body,
    /// The head and the body's facts.
    Facts,
    /// The session the message belongs to.
    Session,
    /// The route's configured stages ([`RouteStages::request`](super::RouteStages::request)).
    Configured,
}

/// Which request list: a POST carries a message, a GET or DELETE none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// POST on the MCP endpoint.
    Post,
    /// GET (the server's SSE stream) or DELETE (end the session).
    Bodyless,
}

/// What the stages of one request read. Built on the stack by the proxy per phase.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The request head.
    pub head: &'a RequestHead,
    /// The body's facts, once inspected (`None` before, and for GET/DELETE).
    pub facts: Option<&'a Facts>,
    /// The version of the session the message belongs to, once looked up (`Some(None)`: a
    /// session that named no version; `None`: no session).
    pub session: Option<Option<ProtocolVersion>>,
}

/// What the stages found out on the way (read by later stages and by the proxy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// A 2026-07-28 stateless request (`era`).
    pub modern: bool,
    /// The `MCP-Protocol-Version` header's version (`protocol_version`).
    pub version: Option<ProtocolVersion>,
}

use Stage::*;

/// Every POST on a route, before its configured stages.
pub(super) const POST: &[Stage] = &[
    HostOrigin,
    Route,
    Method,
    Accept,
    ContentType,
    BodyLimit,
    Inspect,
    Era,
    ProtocolVersion,
    Session,
    Batch,
    SessionLimit,
];

/// Every GET and DELETE on a route serving sessions.
pub(super) const BODYLESS: &[Stage] =
    &[HostOrigin, Route, Method, Accept, ProtocolVersion, Session];

/// GET and DELETE on a route serving only 2026-07-28: refused at `method` (405).
pub(super) const POST_ONLY: &[Stage] = &[HostOrigin, Route, Method];

impl Stage {
    /// The name `config check` prints.
    pub const fn name(self) -> &'static str {
        match self {
            HostOrigin => "host_origin",
            Route => "route",
            Authenticate => "authenticate",
            Method => "method",
            Accept => "accept",
            ContentType => "content_type",
            BodyLimit => "body_limit",
            Inspect => "inspect",
            Era => "era",
            ProtocolVersion => "protocol_version",
            Session => "session",
            Batch => "batch",
            SessionLimit => "session_limit",
            Policy => "policy",
            ToolFilter => super::tool_filter::NAME,
            RateLimit => "rate_limit",
        }
    }

    /// What it reads.
    pub const fn phase(self) -> Phase {
        match self {
            HostOrigin | Route | Authenticate | Method => Phase::Dispatch,
            Accept | ContentType => Phase::Head,
            BodyLimit | Inspect => Phase::Body,
            Era | ProtocolVersion => Phase::Facts,
            Session | Batch | SessionLimit => Phase::Session,
            Policy | ToolFilter | RateLimit => Phase::Configured,
        }
    }

    /// Whether the proxy runs it itself at its place in the list (I/O, shard state, or the
    /// listener's dispatch before a route is known); [`Stage::check`] passes over it.
    pub const fn by_proxy(self) -> bool {
        matches!(
            self,
            HostOrigin
                | Route
                | Authenticate
                | Method
                | BodyLimit
                | Inspect
                | Session
                | SessionLimit
                | RateLimit
        )
    }

    /// Runs the stage on one request of a route whose era policy is `era`: what it found
    /// goes into `found`, a refusal ends the request. Stages the proxy runs, and stages
    /// whose input is absent (no facts on a GET), continue.
    ///
    /// # Errors
    /// The stage's refusal.
    pub fn check(self, era: RouteEra, input: &Input<'_>, found: &mut Found) -> Result<(), Refusal> {
        match (self, input.facts) {
            (Accept, _) => checks::accept::check(input.head),
            (ContentType, _) => checks::content_type::check(input.head),
            (Era, Some(facts)) => {
                found.modern = checks::era::check(input.head, facts, era)?;
                Ok(())
            }
            (ProtocolVersion, _) => {
                found.version = checks::protocol_version::check(input.head)?;
                Ok(())
            }
            (Batch, Some(facts)) => checks::batch::check(facts, found.version, input.session),
            // ToolFilter: per message, through `RouteStages::request`.
            _ => Ok(()),
        }
    }
}
