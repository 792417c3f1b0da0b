//! The response side of the `intercept` stage: [`AnswerScope`], the rule set and what the
//! request the answers belong to was (method, tool, principal, session, route), judging each
//! message the upstream sends back, one at a time (a JSON answer, or each event of an SSE
//! stream: progress and other notifications are matched by their own method, answers by their
//! request's). `block` and `mock` replace an answer (a notification keeps its bytes), `modify`
//! merges its patch into an answer's `result` or a notification's `params`; `delay` and
//! `pause` hold it ([`Outgoing::Hold`]): the proxy waits, then [`AnswerHold::decide`] applies
//! the decision.
//!
//! [`LiveAnswers`]: the scope of a long-lived stream, renewed when the rule set changes.
//!
//! Not here: the request side (request.rs), waiting (the proxy's intercept module), which
//! transports call it (every answer path calls `RouteStages::response`; streams that answer no
//! request, the proxy's `StreamAnswers`).
//! A batch of answers (a JSON array) is not judged. Hot path: a message costs one borrowing
//! parse of its `method` and `id` (no allocation) and the rules' glob tests.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
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

/// The response side of a long-lived stream (a session's GET stream, a legacy HTTP+SSE
/// stream): the [`AnswerScope`] of the rule set in force, renewed when the shard's set changes
/// (its generation), so a stream opened before a `PUT /api/intercept/rules` judges by the new
/// set. Checking costs one integer compare per message; a renewal happens once per new set.
#[derive(Debug, Default)]
pub struct LiveAnswers {
    /// The generation of the set `current` was built from.
    generation: Cell<u64>,
    /// The scope under that set (`None`: no rule of it may select this stream's messages).
    current: RefCell<Option<Rc<AnswerScope>>>,
}

impl LiveAnswers {
    /// A stream's response side under the set of `generation` (`scope`: its scope).
    pub fn new(generation: u64, scope: Option<Rc<AnswerScope>>) -> Self {
        LiveAnswers {
            generation: Cell::new(generation),
            current: RefCell::new(scope),
        }
    }

    /// Puts the set of `generation` in force for this stream when it is not already:
    /// `make` builds the scope under it. Returns whether any rule may judge the stream now.
    pub fn renew(&self, generation: u64, make: impl FnOnce() -> Option<Rc<AnswerScope>>) -> bool {
        if generation != self.generation.get() {
            self.generation.set(generation);
            *self.current.borrow_mut() = make();
        }
        self.current.borrow().is_some()
    }

    /// One message of the stream (see [`AnswerScope::judge`]); passed as it came without a
    /// scope.
    pub fn judge(&self, message: &[u8]) -> Outgoing {
        match self.current.borrow().as_ref() {
            Some(scope) => scope.judge(message),
            None => Outgoing::PASS,
        }
    }
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

    /// One message going to the client: what goes instead ([`Outgoing::Now`]), or the
    /// rule holding it ([`Outgoing::Hold`]: `delay`, `pause`).
    pub fn judge(self: &Rc<Self>, message: &[u8]) -> Outgoing {
        let Ok(head) = serde_json::from_slice::<Head<'_>>(message) else {
            return Outgoing::PASS;
        };
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
        let Some(rule) = first(&self.rules, &seen, &parsed) else {
            return Outgoing::PASS;
        };
        match &rule.action {
            Action::Delay(_) | Action::Pause { .. } => Outgoing::Hold(AnswerHold {
                scope: self.clone(),
                rule: self.rules.rules.iter().position(|r| std::ptr::eq(r, rule)),
                base: None,
            }),
            action => Outgoing::Now(apply(action, &head, &parsed, false)),
        }
    }

    /// The method the answers' request had.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The tool the answers' request called.
    pub fn tool(&self) -> Option<&str> {
        self.tool.as_deref()
    }

    /// The client session's id, when it has one.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
}

/// What the response side makes of one message going to the client.
#[derive(Debug)]
#[must_use]
pub enum Outgoing {
    /// Decided at once (no allocation when it goes as it came).
    Now(Sent),
    /// A rule holds it (`delay`, `pause`): `proxy::intercept::settle` waits and decides. Nothing
    /// after it on its stream goes to the client before.
    Hold(AnswerHold),
}

impl Outgoing {
    /// Send the original bytes.
    pub const PASS: Outgoing = Outgoing::Now(Sent::Original);

    /// This outcome for a message an earlier stage changed into `base` (`None`: unchanged),
    /// the bytes the rules judged.
    pub fn over(self, base: Option<Vec<u8>>) -> Outgoing {
        match (self, base) {
            (out, None) => out,
            (Outgoing::Now(Sent::Original), Some(base)) => Outgoing::Now(Sent::Changed(base)),
            (Outgoing::Hold(hold), base) => Outgoing::Hold(AnswerHold { base, ..hold }),
            (out, Some(_)) => out,
        }
    }

    /// Decided at once: the changed bytes, if any (`None` too for a hold: tests).
    #[cfg(test)]
    pub fn into_changed(self) -> Option<Vec<u8>> {
        match self {
            Outgoing::Now(Sent::Changed(bytes)) => Some(bytes),
            _ => None,
        }
    }
}

/// What goes to the client in a message's place.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// The message as the upstream sent it.
    Original,
    /// These bytes instead (a stage or rule changed it).
    Changed(Vec<u8>),
    /// Nothing: a notification or server request an operator (or a pause's default) blocked.
    Dropped,
}

impl Sent {
    /// The bytes to send for `original` (`None`: nothing is sent).
    pub fn bytes<'m>(&'m self, original: &'m [u8]) -> Option<&'m [u8]> {
        match self {
            Sent::Original => Some(original),
            Sent::Changed(bytes) => Some(bytes),
            Sent::Dropped => None,
        }
    }

    /// The bytes sent instead of the original, when changed.
    pub fn changed(&self) -> Option<&[u8]> {
        match self {
            Sent::Changed(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// What the tape writes as `forwarded`: absent (unchanged), the changed bytes, or `null`
    /// (dropped).
    pub fn forwarded(&self) -> Option<Option<&[u8]>> {
        match self {
            Sent::Original => None,
            Sent::Changed(bytes) => Some(Some(bytes)),
            Sent::Dropped => Some(None),
        }
    }
}

/// A message going to the client that a `delay` or `pause` rule holds: the rule (in the set
/// it was judged by) and the scope it was judged in.
#[derive(Debug)]
pub struct AnswerHold {
    scope: Rc<AnswerScope>,
    /// The rule's index in the scope's set.
    rule: Option<usize>,
    /// The message as an earlier stage changed it (`None`: as the upstream sent it).
    base: Option<Vec<u8>>,
}

impl AnswerHold {
    /// The rule that holds it.
    pub fn rule(&self) -> Option<&Rule> {
        self.scope.rules.rules.get(self.rule?)
    }

    /// The scope it was judged in.
    pub fn scope(&self) -> &AnswerScope {
        &self.scope
    }

    /// The message held (`original`, unless an earlier stage changed it).
    pub fn message<'m>(&'m self, original: &'m [u8]) -> &'m [u8] {
        self.base.as_deref().unwrap_or(original)
    }

    /// What `action` (the decision: `continue`, `modify`, `block`) makes of the held message:
    /// `block` turns an answer into the error with its id and drops anything else.
    pub fn decide(self, action: &Action, original: &[u8]) -> Sent {
        let message = self.message(original);
        let sent = match serde_json::from_slice::<Head<'_>>(message) {
            Ok(head) => apply(action, &head, &Parsed::new(message), true),
            Err(_) => Sent::Original,
        };
        match (sent, self.base) {
            (Sent::Original, Some(base)) => Sent::Changed(base),
            (sent, _) => sent,
        }
    }
}

/// What `action` makes of the message `head` and `parsed` describe: `block` and `mock`
/// replace an answer (a notification or server request keeps its bytes, unless `decided`:
/// an operator's `block` drops it), `modify` merges its patch.
fn apply(action: &Action, head: &Head<'_>, parsed: &Parsed<'_>, decided: bool) -> Sent {
    let answer = head.method.is_none();
    let id = || {
        let value: serde_json::Value = serde_json::from_str(head.id?.get()).ok()?;
        JsonRpcId::from_value(&value)
    };
    let changed = match action {
        Action::Block { code, message } if answer => {
            Some(error_answer(id().as_ref(), *code, message))
        }
        Action::Block { .. } if decided => return Sent::Dropped,
        Action::Mock(result) if answer => id().map(|id| result_answer(&id, result)),
        Action::Modify(patch) => parsed
            .get()
            .and_then(|m| patched(m, patch))
            .map(|m| to_bytes(&m)),
        _ => None,
    };
    changed.map_or(Sent::Original, Sent::Changed)
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
