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

use crate::config::intercept::{Action, Direction, InterceptRules};
use crate::mcp::JsonRpcId;

use super::patch::{error_answer, patched, result_answer, to_bytes};
use super::{first, Parsed, Seen};

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
    pub fn new(rules: &Rc<InterceptRules>, seen: &Seen<'_>) -> Option<Rc<AnswerScope>> {
        rules.responses.then(|| {
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
