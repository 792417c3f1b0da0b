//! Runs the `intercept` stage's request side on one client message, for every POST path
//! (Streamable HTTP and 2026-07-28 on /mcp, whatever the upstream adapter; legacy HTTP+SSE
//! messages): what the rules decide, then the waiting part (`delay`, `pause` until an operator
//! or the rule's timeout decides); a changed message is inspected again, so the adapters see
//! facts that match the bytes they send. Also builds the response side's scope for the
//! message's answers ([`answer_scope`]).
//!
//! Not here: matching and rewriting (crate::pipeline::intercept), writing the answer of a
//! blocked or mocked request (each path answers as it answers a refusal).
//! Hot path: no rule looking at requests: one `Option` test.

use std::rc::Rc;
use std::time::Duration;

use crate::config::intercept::{Direction, InterceptRules, Rule};
use crate::config::RouteId;
use crate::mcp::{Kind, Method};
use crate::pipeline::intercept::{
    act, judge_request, AnswerScope, Parsed, RequestStep, Seen, FORWARD,
};
use crate::pipeline::{Facts, Principal};
use crate::session::SessionId;

use crate::proxy::error::ProxyError;
use crate::proxy::metrics::Counter;
use crate::proxy::state::intercept::PauseInfo;
use crate::proxy::state::ShardState;

/// Who sent a message, and where.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The route it came in on.
    pub route: RouteId,
    /// Its caller.
    pub principal: &'a Principal,
    /// Its client session.
    pub session: Option<&'a SessionId>,
}

/// What became of the message.
#[derive(Debug)]
pub enum Intercepted {
    /// Send it on (the body and facts the caller passed, changed when a rule changed them).
    Forward {
        /// The message as the client sent it, when a rule changed it (the body now holds what
        /// goes on): recording writes both (`msg` and `forwarded`).
        original: Option<Vec<u8>>,
    },
    /// Answer the client with this message instead (a request: block or mock); nothing was
    /// forwarded.
    Answer(Vec<u8>),
    /// A notification a rule blocked or mocked: accepted, and sent nowhere.
    Drop,
    /// A blocked batch holding client answers to server requests: the body (and facts) now
    /// hold those answers alone, which go on without the client waiting for anything back;
    /// `answer` (the errors of the batch's requests) answers the client.
    Split {
        /// The client's answer.
        answer: Vec<u8>,
        /// The batch as the client sent it (recording writes both).
        original: Vec<u8>,
    },
}

/// A message a rule holds (`delay`, `pause`): what finishing it takes, under the rule set it
/// was judged by.
#[derive(Debug)]
pub struct Hold {
    rules: Rc<InterceptRules>,
    what: HoldKind,
}

#[derive(Debug)]
enum HoldKind {
    /// Forward (`body`: changed) after `delay`.
    Delay {
        body: Option<Vec<u8>>,
        delay: Duration,
    },
    /// The pause rule at this index of the set.
    Pause(usize),
}

/// What the rules decided at once.
#[derive(Debug)]
pub enum Begun {
    /// Decided without waiting.
    Decided(Intercepted),
    /// A rule holds it: [`Hold::finish`] waits and decides.
    Held(Hold),
}

/// Judges the message in `body` (inspected into `facts`) under the rule set in force (read
/// once: the message is judged and finished under one set); what waits is left to the
/// returned [`Hold`].
///
/// # Errors
/// A changed message the inspector refuses (a merge patch cannot make invalid JSON, so only
/// a message past the body limits).
pub fn begin(
    state: &ShardState,
    scope: Scope<'_>,
    facts: &mut Facts,
    body: &mut Vec<u8>,
) -> Result<Begun, ProxyError> {
    let Some(rules) = state.intercept.rules().filter(|r| r.requests) else {
        return Ok(Begun::Decided(Intercepted::Forward { original: None }));
    };
    let route = &state.config.route(scope.route).path;
    let base = Seen {
        way: Direction::Request,
        method: None,
        tool: None,
        principal: scope.principal.name(),
        session: scope.session.map(SessionId::as_str),
        route,
    };
    let what = match judge_request(&rules, base, facts, body) {
        RequestStep::Pause(rule) => {
            let at = rules.rules.iter().position(|r| std::ptr::eq(r, rule));
            HoldKind::Pause(at.unwrap_or(usize::MAX))
        }
        RequestStep::Forward {
            body: new,
            delay: Some(delay),
        } => HoldKind::Delay { body: new, delay },
        step => return decided(state, step, facts, body).map(Begun::Decided),
    };
    Ok(Begun::Held(Hold { rules, what }))
}

impl Hold {
    /// Waits (the delay, or the pause until an operator, its timeout or shutdown decides),
    /// then what the decision makes of the message.
    ///
    /// # Errors
    /// As [`begin`].
    pub async fn finish(
        self,
        state: &ShardState,
        scope: Scope<'_>,
        facts: &mut Facts,
        body: &mut Vec<u8>,
    ) -> Result<Intercepted, ProxyError> {
        let step = match self.what {
            HoldKind::Delay { body: new, delay } => {
                super::hold::delayed(state, delay).await;
                RequestStep::Forward {
                    body: new,
                    delay: None,
                }
            }
            HoldKind::Pause(at) => match self.rules.rules.get(at) {
                Some(rule) => paused(state, rule, scope, facts, body).await,
                None => FORWARD,
            },
        };
        decided(state, step, facts, body)
    }
}

/// What a step that does not wait makes of the message.
fn decided(
    state: &ShardState,
    step: RequestStep<'_>,
    facts: &mut Facts,
    body: &mut Vec<u8>,
) -> Result<Intercepted, ProxyError> {
    match step {
        RequestStep::Forward { body: new, .. } => {
            let original = match new {
                Some(new) => {
                    state.metrics.incr(Counter::InterceptModified);
                    // Inspected before it replaces the body: a refused change leaves the
                    // message as the client sent it (and recorded so).
                    let inspected = state.inspector.borrow_mut().inspect(&new)?;
                    *facts = crate::pipeline::facts(inspected);
                    Some(std::mem::replace(body, new))
                }
                None => None,
            };
            Ok(Intercepted::Forward { original })
        }
        RequestStep::Answer(answer) => {
            state.metrics.incr(Counter::InterceptAnswered);
            Ok(Intercepted::Answer(answer))
        }
        RequestStep::Drop => {
            state.metrics.incr(Counter::InterceptAnswered);
            Ok(Intercepted::Drop)
        }
        RequestStep::Split { answer, forward } => {
            state.metrics.incr(Counter::InterceptAnswered);
            let inspected = state.inspector.borrow_mut().inspect(&forward)?;
            *facts = crate::pipeline::facts(inspected);
            let original = std::mem::replace(body, forward);
            Ok(Intercepted::Split { answer, original })
        }
        // A decision never pauses again.
        RequestStep::Pause(_) => Ok(Intercepted::Forward { original: None }),
    }
}

/// Holds the message until an operator decides or `rule`'s timeout passes; what the decision
/// (or the rule's default) makes of it.
async fn paused<'r>(
    state: &ShardState,
    rule: &'r Rule,
    scope: Scope<'_>,
    facts: &Facts,
    body: &[u8],
) -> RequestStep<'r> {
    let info = PauseInfo {
        direction: Direction::Request,
        rule: rule.name.clone(),
        method: method_name(facts).map(Into::into),
        tool: tool_name(facts).map(Into::into),
        session: scope
            .session
            .map(|s| crate::audit::session_hash(s.as_str())),
        message: super::hold::shown(body),
    };
    let action = super::hold::decision(state, rule, info, scope.session.is_some()).await;
    let notification = facts.kind() == Some(Kind::Notification);
    act(
        rule,
        &action,
        (facts.id(), notification),
        &Parsed::new(body),
    )
}

/// Whether request rules are in force: a POST's message is then recorded once the stage
/// decided ([`note_decided`]), with what went on instead of it.
pub fn defers_note(state: &ShardState) -> bool {
    state.intercept.rules().is_some_and(|r| r.requests)
}

/// Records a POST's message whose note was deferred: `body` as it came when it went on
/// unchanged or was refused before interception (`outcome` `None`), or with `forwarded` when a
/// rule changed it (`body` then holds what went on; the outcome, what came) or answered it.
pub fn note_decided(body: &[u8], outcome: Option<&Intercepted>) {
    use crate::proxy::record::note_post;
    match outcome {
        Some(
            Intercepted::Forward {
                original: Some(original),
            }
            | Intercepted::Split { original, .. },
        ) => note_post(original, Some(Some(body))),
        Some(Intercepted::Answer(_) | Intercepted::Drop) => note_post(body, Some(None)),
        _ => note_post(body, None),
    }
}

/// The response side's scope for the answers to the message `facts` describes: `None` when
/// no rule looks at server-to-client messages.
pub fn answer_scope(
    state: &ShardState,
    scope: Scope<'_>,
    facts: &Facts,
) -> Option<Rc<AnswerScope>> {
    let rules = state.intercept.rules().filter(|r| r.responses)?;
    let seen = Seen {
        way: Direction::Response,
        method: method_name(facts),
        tool: tool_name(facts),
        principal: scope.principal.name(),
        session: scope.session.map(SessionId::as_str),
        route: &state.config.route(scope.route).path,
    };
    AnswerScope::new(&rules, &seen)
}

/// The method of a single message.
fn method_name(facts: &Facts) -> Option<&str> {
    match facts.method {
        _ if facts.is_batch() => None,
        Method::Other => facts.unknown_method.as_deref(),
        known => Some(known.as_str()),
    }
}

/// The tool a single `tools/call` names.
fn tool_name(facts: &Facts) -> Option<&str> {
    facts
        .mcp_name
        .as_deref()
        .filter(|_| facts.method == Method::ToolsCall && !facts.is_batch())
}
