//! The request pipeline: what every client message of a route passes through, in order, on
//! its way to the upstream, and what every message coming back passes through on its way to
//! the client.
//!
//! Here: [`Stage`] (the one stage interface: a closed enum dispatched by `match`), the built-in
//! checks (checks/, one file each), [`RouteStages`] (a route's ordered stage lists per request
//! method, built once per shard from the config snapshot and shared through `Rc`), the
//! request-side [`Verdict`] of the configured stages, the response-side rewrite of one message
//! ([`ListingWatch`] for a sink that sees a whole session's messages: only answers to its pending
//! `tools/list` requests are judged), and [`describe`], the lists `shadowcat config check`
//! prints, generated from the same lists.
//! Not here: reading requests or writing answers, and the steps that need I/O or shard state
//! (routing, reading the body, the session table): the proxy runs those at their place in the
//! list ([`Stage::by_proxy`]) and turns a [`Refusal`] into its answer.
//! Hot path: the lists are `'static` slices (no allocation, no boxes); a route without
//! configured stages costs one `Option` test per message; nothing allocates unless a message
//! is refused or rewritten.

mod caller;
pub mod checks;
mod context;
mod facts;
pub mod intercept;
mod listings;
mod refusal;
mod stage;
mod tool_filter;

pub use crate::session::Principal;
pub use caller::{Anonymous, Caller};
pub use context::RequestCtx;
pub use facts::{facts, Body, Facts, Message};
pub use listings::ListingWatch;
pub use refusal::{Mismatch, Refusal};
pub use stage::{Flow, Found, Input, Phase, Stage};

use std::borrow::Cow;
use std::rc::Rc;

use crate::audit::RuleRef;
use crate::config::{Action, Policy, RouteConfig, RouteEra, Subject, ToolFilter, UpstreamConfig};
use crate::mcp::{JsonRpcId, Kind, MessageInfo, Method, Target};

/// A route's stages: the built-in lists per [`Flow`] and the configured stages (today: the
/// tool allow-list). Built on the shard (cold); cloning one is an `Rc` count, so a sink may
/// keep its own.
#[derive(Debug, Clone)]
pub struct RouteStages {
    era: RouteEra,
    post: &'static [Stage],
    bodyless: &'static [Stage],
    tools: Option<Rc<ToolFilter>>,
    /// The route's policy (`policy`, configured per route).
    policy: Option<Rc<Policy>>,
    /// Who the policy judges: set per request ([`RouteStages::for_caller`]); `None` on a route
    /// without `auth` (everyone is [`Anonymous`]).
    caller: Option<Rc<Caller>>,
    /// The route checks credentials: `authenticate` follows `route` in every list.
    authenticate: bool,
    /// The route limits requests per principal: `rate_limit` ends the POST list.
    rate_limited: bool,
    /// The ids of the `tools/list` requests of the batch whose answer these stages judge
    /// ([`RouteStages::for_answer`]): only those answer elements are judged. `None`: every
    /// message is (a route's own stages, or a single `tools/list` request's answer).
    listings: Option<Rc<[JsonRpcId]>>,
    /// The interception rules judging the answers to this request (`intercept` stage's
    /// response side), set per request ([`RouteStages::with_answers`]) when a rule looks at
    /// server-to-client messages.
    answers: Option<Rc<intercept::AnswerScope>>,
}

impl Default for RouteStages {
    /// A dual-era route without configured stages.
    fn default() -> Self {
        RouteStages {
            era: RouteEra::Dual,
            post: stage::POST,
            bodyless: stage::BODYLESS,
            tools: None,
            policy: None,
            caller: None,
            authenticate: false,
            rate_limited: false,
            listings: None,
            answers: None,
        }
    }
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

impl RouteStages {
    /// The stages configured on `route` (allocates: build once per shard).
    pub fn build(route: &RouteConfig) -> Self {
        RouteStages {
            era: route.era,
            post: stage::POST,
            bodyless: match route.era {
                RouteEra::Dual => stage::BODYLESS,
                RouteEra::Modern => stage::POST_ONLY,
            },
            tools: route.tools.clone().map(Rc::new),
            policy: route.policy.clone().map(Rc::new),
            caller: None,
            authenticate: route.auth.is_some(),
            rate_limited: route.rate_limit.is_some(),
            listings: None,
            answers: None,
        }
    }

    /// The stages judging `caller`'s requests: a copy holding the caller when the route has a
    /// policy (an `Rc` count), else these very stages (no copy: nothing asks who it is).
    pub fn for_caller(&self, caller: Option<Rc<Caller>>) -> Cow<'_, RouteStages> {
        match (&self.policy, caller) {
            (Some(_), Some(caller)) => Cow::Owned(RouteStages {
                caller: Some(caller),
                ..self.clone()
            }),
            _ => Cow::Borrowed(self),
        }
    }

    /// These stages with the interception rules judging the answers to one request (`None`:
    /// no rule looks at them; then no copy is made).
    pub fn with_answers(
        &self,
        answers: Option<Rc<intercept::AnswerScope>>,
    ) -> Cow<'_, RouteStages> {
        match answers {
            None if self.answers.is_none() => Cow::Borrowed(self),
            answers => Cow::Owned(RouteStages {
                answers,
                ..self.clone()
            }),
        }
    }

    /// The stages of a route serving `era` without configured stages (tests).
    #[cfg(test)]
    pub(crate) fn for_era(era: RouteEra) -> Self {
        let mut stages = RouteStages {
            era,
            ..Self::default()
        };
        if era == RouteEra::Modern {
            stages.bodyless = stage::POST_ONLY;
        }
        stages
    }

    /// The stages of a client without routes (`shadowcat forward`): the tool filter only.
    pub fn with_tools(tools: Option<ToolFilter>) -> Self {
        RouteStages {
            tools: tools.map(Rc::new),
            ..Self::default()
        }
    }

    /// Whether any stage is configured (else every configured-stage hook is a no-op).
    pub fn is_empty(&self) -> bool {
        self.tools.is_none() && self.policy.is_none()
    }

    /// Whether the response side may change or hold a message: a configured stage, or
    /// interception rules judging this request's answers.
    pub fn judges_responses(&self) -> bool {
        !self.is_empty() || self.answers.is_some()
    }

    /// Whether tool `name` is offered to this request's caller: the route's lists and its
    /// policy agree.
    fn visible(&self, name: &str) -> bool {
        self.tools.as_deref().is_none_or(|t| t.visible(name))
            && self
                .policy
                .as_deref()
                .is_none_or(|p| p.allows_tool(self.subject(), name))
    }

    /// Who the policy judges.
    fn subject(&self) -> &dyn Subject {
        match &self.caller {
            Some(caller) => caller.as_ref(),
            None => &Anonymous,
        }
    }

    /// The stages a request of `flow` passes, in order: the built-in ones, then the
    /// configured ones (the tool filter: its response side also runs on a GET stream).
    pub fn list(&self, flow: Flow) -> impl Iterator<Item = Stage> + '_ {
        let builtin = self.builtin(flow);
        // A list ending at `method` is refused there: nothing configured runs.
        let runs = builtin.contains(&Stage::Session);
        let configured = [
            (self.policy.is_some() && runs).then_some(Stage::Policy),
            (self.tools.is_some() && runs).then_some(Stage::ToolFilter),
            (self.rate_limited && runs && flow == Flow::Post).then_some(Stage::RateLimit),
        ];
        let after_route = builtin
            .iter()
            .position(|&s| s == Stage::Route)
            .map_or(0, |at| at + 1);
        let (to_route, rest) = builtin.split_at(after_route);
        let authenticate = self.authenticate.then_some(Stage::Authenticate);
        to_route
            .iter()
            .copied()
            .chain(authenticate)
            .chain(rest.iter().copied())
            .chain(configured.into_iter().flatten())
    }

    /// The built-in part of `flow`'s list.
    fn builtin(&self, flow: Flow) -> &'static [Stage] {
        match flow {
            Flow::Post => self.post,
            Flow::Bodyless => self.bodyless,
        }
    }

    /// Runs the stages of `phase` in `flow`'s list that run here, in order; what they find
    /// goes into `found`.
    ///
    /// # Errors
    /// The first refusal.
    pub fn run(
        &self,
        flow: Flow,
        phase: Phase,
        input: &Input<'_>,
        found: &mut Found,
    ) -> Result<(), Refusal> {
        // The configured stages run per message through `request`, not here.
        for &stage in self.builtin(flow) {
            if stage.phase() == phase && !stage.by_proxy() {
                stage.check(self.era, input, found)?;
            }
        }
        Ok(())
    }

    /// The request side for one message, or each element of a batch (in body order): the
    /// first refusal wins; a batch is refused whole.
    pub fn request(&self, facts: &Facts) -> Verdict {
        if self.is_empty() {
            return Verdict::Continue;
        }
        if !facts.is_batch() {
            let name = method_name(facts.method, facts.unknown_method.as_deref());
            let verdict = self.judge(facts.method, name, facts.mcp_name.as_deref(), false);
            return match (verdict, facts.kind()) {
                (Verdict::Refuse(_), Some(Kind::Notification)) => Verdict::Drop,
                (verdict, _) => verdict,
            };
        }
        for element in &facts.elements {
            let tool = match &element.target {
                Some(Target::Tool(name)) => Some(name.as_str()),
                _ => None,
            };
            let Some(method) = element.method else {
                continue; // an answer of the client: no method to judge
            };
            let name = method_name(method, element.unknown_method.as_deref());
            let verdict = self.judge(method, name, tool, true);
            if verdict != Verdict::Continue {
                return verdict;
            }
        }
        Verdict::Continue
    }

    /// One message with `method` (spelled `name`), naming `tool`: the policy, then the tool
    /// lists (a hidden tool is unknown to the caller either way).
    fn judge(
        &self,
        method: Method,
        name: Option<&str>,
        tool: Option<&str>,
        in_batch: bool,
    ) -> Verdict {
        if let (Some(policy), Some(name)) = (self.policy.as_deref(), name) {
            let tool = tool.filter(|_| method == Method::ToolsCall);
            let (action, rule) = policy.decide(self.subject(), name, tool);
            let rule = rule.map_or(RuleRef::PolicyDefault, RuleRef::Policy);
            // A batch's line names the rule that refused it, else its first element's.
            let decisive = !in_batch || action == Action::Deny;
            crate::audit::scope::note(|record| {
                if decisive || record.rule.is_none() {
                    record.rule = Some(rule);
                }
            });
            if action == Action::Deny {
                return Verdict::Refuse(match tool {
                    Some(tool) => Refusal::UnknownTool {
                        name: tool.to_owned(),
                        in_batch,
                    },
                    None => Refusal::MethodDenied {
                        method: name.to_owned(),
                        in_batch,
                    },
                });
            }
        }
        match self.tools.as_deref() {
            Some(_) => {
                let verdict = tool_filter::check_call(&|n| self.visible(n), method, tool, in_batch);
                if verdict != Verdict::Continue {
                    crate::audit::scope::note(|record| record.rule = Some(RuleRef::ToolLists));
                }
                verdict
            }
            None => Verdict::Continue,
        }
    }

    /// Whether the answer to a request with `method` (or a batch holding `batch_methods`) may
    /// need the response side: only then do transports look at answers message by message.
    pub fn rewrites_answer(&self, method: Method, batch: &[MessageInfo]) -> bool {
        self.answers.is_some()
            || !self.is_empty()
                && (method == Method::ToolsList
                    || batch.iter().any(|e| e.method == Some(Method::ToolsList)))
    }

    /// The stages that judge the answer to a request with `method` (or a batch holding
    /// `batch`): `None` when no answer to it needs the response side; for a batch, a copy that
    /// judges only the answer elements to its `tools/list` requests (matched by id), so an
    /// element answering anything else keeps its bytes whatever its `result` holds.
    pub fn for_answer(&self, method: Method, batch: &[MessageInfo]) -> Option<RouteStages> {
        if !self.rewrites_answer(method, batch) {
            return None;
        }
        let mut stages = self.clone();
        if !batch.is_empty() {
            stages.listings = Some(self.listing_ids(batch).into());
        }
        Some(stages)
    }

    /// The response side for one whole JSON-RPC message (or batch) going to the client: what
    /// goes instead (`Outgoing::Now`: the original bytes, changed ones), or an interception
    /// rule holding it (`Outgoing::Hold`: the caller awaits `proxy::intercept::settle` before
    /// sending it or anything after it on its stream).
    pub fn response(&self, message: &[u8]) -> intercept::Outgoing {
        let filtered = self.filter_listing(message);
        self.intercept_answer(filtered.as_deref().unwrap_or(message))
            .over(filtered)
    }

    /// The tool filter's response side.
    fn filter_listing(&self, message: &[u8]) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let visible = |name: &str| self.visible(name);
        match &self.listings {
            None => tool_filter::hide_in_listing(&visible, message),
            Some(ids) if tool_filter::may_list(message) => {
                tool_filter::hide_in_answers(&visible, message, &mut |id| ids.contains(id))
            }
            Some(_) => None,
        }
    }

    /// The `intercept` stage's response side for one message (one `Option` test when no rule
    /// looks at answers).
    pub fn intercept_answer(&self, message: &[u8]) -> intercept::Outgoing {
        match &self.answers {
            Some(scope) => scope.judge(message),
            None => intercept::Outgoing::PASS,
        }
    }

    /// The response side for the answers (messages or batch elements without `method`) whose
    /// id `judged` accepts; everything else keeps its bytes. Every answer with a readable id
    /// is shown to `judged`, listing or not, so a caller tracking ids sees each one answered.
    pub fn response_to(
        &self,
        message: &[u8],
        judged: &mut dyn FnMut(&JsonRpcId) -> bool,
    ) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        tool_filter::hide_in_answers(&|name: &str| self.visible(name), message, judged)
    }

    /// The ids of the `tools/list` requests among `messages` (one client message, or a
    /// batch's elements) whose answers the response side must judge: none without a filter.
    pub fn listing_ids(&self, messages: &[MessageInfo]) -> Vec<JsonRpcId> {
        if self.is_empty() {
            return Vec::new();
        }
        messages
            .iter()
            .filter(|m| m.kind == Kind::Request && m.method == Some(Method::ToolsList))
            .filter_map(|m| m.id.clone())
            .collect()
    }
}

/// A method's wire name: the known one's, or the text of an unknown one.
fn method_name(method: Method, unknown: Option<&str>) -> Option<&str> {
    match method {
        Method::Other => unknown,
        known => Some(known.as_str()),
    }
}

/// The ordered stage list of a `flow` request on `route` whose upstream is `upstream`: the
/// route's stages, then the upstream adapter.
pub fn stage_names(
    route: &RouteConfig,
    upstream: &UpstreamConfig,
    flow: Flow,
    intercepted: bool,
) -> Vec<&'static str> {
    let mut names: Vec<_> = RouteStages::build(route)
        .list(flow)
        .map(Stage::name)
        .collect();
    if names.contains(&Stage::Session.name()) {
        if route.record {
            // Recording observes every message of the route's sessions, both ways.
            names.push("record");
        }
        // The rules are global (and swappable over the admin API): on every route's POSTs.
        if intercepted && flow == Flow::Post {
            names.push(intercept::NAME);
        }
        names.push(adapter_name(upstream));
    }
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
    let by_proxy: Vec<&str> = stage::POST
        .iter()
        .filter(|s| s.by_proxy())
        .map(|s| s.name())
        .collect();
    let mut out = format!(
        "\n# Request pipeline per route and method (in order, on the shard owning the request's \
         session; {} run in the proxy at their place):\n",
        by_proxy.join(", ")
    );
    for listener in &config.listeners {
        for route in &listener.routes {
            let upstream = config.upstream(route.upstream);
            for (flow, methods) in [(Flow::Post, "POST"), (Flow::Bodyless, "GET/DELETE")] {
                let names = stage_names(route, upstream, flow, !config.intercept.is_empty());
                let refused = if names.contains(&Stage::Session.name()) {
                    ""
                } else {
                    " (405: POST only)"
                };
                out.push_str(&format!(
                    "#   {} {methods} {} -> {}: {}{refused}\n",
                    listener.name,
                    route.path,
                    upstream.name,
                    names.join(", ")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "stages_tests.rs"]
mod tests;
