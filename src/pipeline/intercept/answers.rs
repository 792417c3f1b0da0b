//! The response side of the `intercept` stage: [`AnswerScope`], the rule set and what the
//! request the answers belong to was (method, tool, principal, session, route), judging each
//! message the upstream sends back, one at a time (a JSON answer, or each event of an SSE
//! stream: progress and other notifications are matched by their own method, answers by their
//! request's). `block` and `mock` replace an answer (a notification keeps its bytes), `modify`
//! merges its patch into an answer's `result` or a notification's `params`.
//!
//! Not here: the request side (request.rs), which transports call it (every answer path
//! calls `RouteStages::response`).
//! A batch of answers (a JSON array) is not judged. Hot path: a message costs one borrowing
//! parse of its `method` and `id` (no allocation) and the rules' glob tests.

use std::borrow::Cow;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::intercept::{glob_opt, Action, Direction, InterceptRules, Rule};
use crate::mcp::{JsonRpcId, Method};

use super::patch::{error_answer, patched, result_answer, to_bytes};
use super::{first, session_matches, Parsed, Seen};

/// The rules judging the messages that answer one request (or flow on one session's stream).
#[derive(Debug)]
pub struct AnswerScope {
    rules: Rc<InterceptRules>,
    method: Option<Box<str>>,
    tool: Option<Box<str>>,
    principal: Box<str>,
    session: Option<Box<str>>,
    route: Box<str>,
}

/// The members a message is told apart by.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

impl AnswerScope {
    /// The scope of the answers to the request `seen` describes; `None` when no rule looks at
    /// server-to-client messages (the response side then costs nothing).
    /// Also `None` when no response rule can select any message coming back for this request
    /// (its route, principal or session glob excludes it, or its method and tool globs can
    /// match neither the answer nor a message the server sends on the answer's stream): the
    /// answer then takes the pass-through relay, unbuffered.
    pub fn new(rules: &Rc<InterceptRules>, seen: &Seen<'_>) -> Option<Rc<AnswerScope>> {
        let wanted = rules.responses && rules.rules.iter().any(|rule| may_select(rule, seen));
        wanted.then(|| {
            Rc::new(AnswerScope {
                rules: rules.clone(),
                method: seen.method.map(Into::into),
                tool: seen.tool.map(Into::into),
                principal: seen.principal.into(),
                session: seen.session.map(Into::into),
                route: seen.route.into(),
            })
        })
    }

    /// One message going to the client: `Some(new bytes)` when a rule changed it, `None` to
    /// send the original bytes.
    pub fn judge(&self, message: &[u8]) -> Option<Vec<u8>> {
        let head: Head<'_> = serde_json::from_slice(message).ok()?;
        let answer = head.method.is_none();
        let seen = Seen {
            way: Direction::Response,
            method: head.method.as_deref().or(self.method.as_deref()),
            tool: self.tool.as_deref().filter(|_| answer),
            principal: &self.principal,
            session: self.session.as_deref(),
            route: &self.route,
        };
        let parsed = Parsed::new(message);
        let rule = first(&self.rules, &seen, &parsed)?;
        let id = || {
            let value: serde_json::Value = serde_json::from_str(head.id?.get()).ok()?;
            JsonRpcId::from_value(&value)
        };
        match &rule.action {
            Action::Block { code, message } if answer => {
                Some(error_answer(id().as_ref(), *code, message))
            }
            Action::Mock(result) if answer => Some(result_answer(&id()?, result)),
            Action::Modify(patch) => parsed
                .get()
                .and_then(|m| patched(m, patch))
                .map(|m| to_bytes(&m)),
            _ => None,
        }
    }
}

/// Whether `rule` may select a message coming back for the request `seen` describes: the
/// answer (judged with the request's method and tool), or a message the server sends on the
/// answer's stream (its own method, no tool). Conditions (`when`) are not looked at.
fn may_select(rule: &Rule, seen: &Seen<'_>) -> bool {
    let ours = rule.direction.covers(Direction::Response)
        && glob_opt(rule.principal.as_deref(), Some(seen.principal))
        && glob_opt(rule.route.as_deref(), Some(seen.route))
        && rule
            .session
            .as_deref()
            .is_none_or(|glob| session_matches(glob, seen.session));
    if !ours {
        return false;
    }
    let answer =
        glob_opt(rule.method.as_deref(), seen.method) && glob_opt(rule.tool.as_deref(), seen.tool);
    let stream =
        glob_opt(rule.tool.as_deref(), None) && rule.method.as_deref().is_none_or(server_may_send);
    answer || stream
}

/// Whether a method glob may match a message a server sends: a server-to-client MCP method
/// (requests, notifications, tasks), or a name MCP does not know (a custom method).
fn server_may_send(glob: &str) -> bool {
    let sent_by_servers = |name: &&&str| {
        matches!(
            **name,
            "ping" | "sampling/createMessage" | "elicitation/create" | "roots/list"
        ) || name.starts_with("notifications/")
            || name.starts_with("tasks/")
    };
    let known = || {
        Method::ALL[..Method::ALL.len() - 1]
            .iter()
            .any(|name| glob_opt(Some(glob), Some(name)))
    };
    Method::ALL
        .iter()
        .filter(sent_by_servers)
        .any(|name| glob_opt(Some(glob), Some(name)))
        || !known()
}
