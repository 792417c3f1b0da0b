//! The request pipeline's stages: what every client message of a route passes through, in
//! order, on its way to the upstream, and what every message coming back passes through on its
//! way to the client.
//!
//! Here: [`RouteStages`] (a route's configured stages, built once per shard from the config
//! snapshot and shared by the shard's requests through `Rc`), the request-side [`Verdict`], the response-side rewrite of one
//! message, and [`stage_names`], the ordered list `shadowcat config check` prints.
//! Not here: reading requests or writing answers (the proxy's transports call in here at
//! their one request point and at each message they write to a client), the checks that still
//! live in the proxy (`guard.rs`, `post.rs`, `era.rs`: named in [`CHECKS`]).
//! Hot path: a route without configured stages costs one `Option` test per message; nothing
//! allocates unless a message is refused or rewritten.

mod context;
mod facts;
mod principal;
mod tool_filter;

pub use context::RequestCtx;
pub use facts::{facts, Facts};
pub use principal::Principal;

use std::rc::Rc;

use crate::config::{RouteConfig, ToolFilter, UpstreamConfig};
use crate::mcp::{Kind, MessageInfo, Method, Target};

/// The checks every POST passes before the configured stages, in order (implemented in the
/// proxy's guard, body reader, inspector, era classification and session table).
pub const CHECKS: &[&str] = &[
    "host_origin",
    "route",
    "method",
    "accept",
    "content_type",
    "body_limit",
    "inspect",
    "era",
    "protocol_version",
    "batch",
    "session",
    "session_limit",
];

/// A route's configured stages (today: the tool allow-list). Built on the shard (cold);
/// cloning one is an `Rc` count, so a sink may keep its own.
#[derive(Debug, Clone, Default)]
pub struct RouteStages {
    tools: Option<Rc<ToolFilter>>,
}

/// What the request side decided about one client message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it on.
    Continue,
    /// Answer the client at once; the upstream never sees the message.
    Refuse(Refusal),
    /// A notification a stage will not forward: it goes no further, and the client gets what
    /// any notification gets (no JSON-RPC answer: a notification is never answered).
    Drop,
}

/// Why a stage answered a message itself.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `tools/call` of a tool the route hides (`-32602`, as a server answers an unknown tool).
    UnknownTool {
        /// The tool's name as the client sent it.
        name: String,
        /// The call was one element of a batch (nothing of the batch is sent).
        in_batch: bool,
    },
}

impl RouteStages {
    /// The stages configured on `route` (allocates: build once per shard).
    pub fn build(route: &RouteConfig) -> Self {
        RouteStages {
            tools: route.tools.clone().map(Rc::new),
        }
    }

    /// The stages of a client without routes (`shadowcat forward`): the tool filter only.
    pub fn with_tools(tools: Option<ToolFilter>) -> Self {
        RouteStages {
            tools: tools.map(Rc::new),
        }
    }

    /// Whether any stage is configured (else every hook is a no-op).
    pub fn is_empty(&self) -> bool {
        self.tools.is_none()
    }

    /// The request side for one message, or each element of a batch (in body order): the
    /// first refusal wins; a batch is refused whole.
    pub fn request(&self, facts: &Facts) -> Verdict {
        let Some(tools) = self.tools.as_deref() else {
            return Verdict::Continue;
        };
        if !facts.is_batch {
            let verdict =
                tool_filter::check_call(tools, facts.method, facts.mcp_name.as_deref(), false);
            return match (verdict, facts.kind) {
                (Verdict::Refuse(_), Some(Kind::Notification)) => Verdict::Drop,
                (verdict, _) => verdict,
            };
        }
        for element in &facts.elements {
            let name = match &element.target {
                Some(Target::Tool(name)) => Some(name.as_str()),
                _ => None,
            };
            let method = element.method.unwrap_or(Method::Other);
            let verdict = tool_filter::check_call(tools, method, name, true);
            if verdict != Verdict::Continue {
                return verdict;
            }
        }
        Verdict::Continue
    }

    /// Whether the answer to a request with `method` (or a batch holding `batch_methods`) may
    /// need the response side: only then do transports look at answers message by message.
    pub fn rewrites_answer(&self, method: Method, batch: &[MessageInfo]) -> bool {
        self.tools.is_some()
            && (method == Method::ToolsList
                || batch.iter().any(|e| e.method == Some(Method::ToolsList)))
    }

    /// The response side for one whole JSON-RPC message (or batch) going to the client:
    /// `Some(new bytes)` when a stage changed it, `None` to forward the original bytes.
    pub fn response(&self, message: &[u8]) -> Option<Vec<u8>> {
        tool_filter::hide_in_listing(self.tools.as_deref()?, message)
    }
}

/// The ordered stage list of `route` whose upstream is `upstream`: the built-in checks, the
/// configured stages, then the upstream adapter.
pub fn stage_names(route: &RouteConfig, upstream: &UpstreamConfig) -> Vec<&'static str> {
    let mut names = CHECKS.to_vec();
    if route.tools.is_some() {
        names.push(tool_filter::NAME);
    }
    names.push(adapter_name(upstream));
    names
}

/// The upstream adapter's name as `config check` prints it.
fn adapter_name(upstream: &UpstreamConfig) -> &'static str {
    use crate::config::UpstreamEra;
    if upstream.stdio().is_some() {
        "upstream:stdio"
    } else if upstream.sse().is_some() {
        "upstream:legacy_sse"
    } else {
        match upstream.era {
            UpstreamEra::Dual => "upstream:http",
            UpstreamEra::Legacy => "upstream:http (2026-07-28 clients translated)",
            UpstreamEra::Modern => "upstream:http (legacy clients translated)",
            UpstreamEra::Auto => "upstream:http (era found on first use)",
        }
    }
}

/// The stage lists of every route of `config`, as `#` comment lines for `config check`.
pub fn describe(config: &crate::config::Config) -> String {
    let mut out = String::from("\n# Request pipeline per route (in order):\n");
    for listener in &config.listeners {
        for route in &listener.routes {
            let upstream = config.upstream(route.upstream);
            out.push_str(&format!(
                "#   {} {} -> {}: {}\n",
                listener.name,
                route.path,
                upstream.name,
                stage_names(route, upstream).join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
#[path = "stages_tests.rs"]
mod tests;
