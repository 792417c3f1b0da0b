//! The request side of the `intercept` stage: the first rule matching a client message (or,
//! in a batch, each element) and what it makes of it ([`RequestStep`]).
//!
//! Not here: waiting (`delay`, `pause`: the proxy), writing answers to the client.
//! Batches (2025-03-26): each element is matched; `modify` changes its element, `delay` holds
//! the batch (the longest), `block` answers every request of the batch with its error: of the
//! batch only the client's answers to server requests and the notifications no `block` rule
//! selected go on, unchanged; `mock` and `pause` do not apply inside a batch (the element goes
//! on).

use std::time::Duration;

use serde_json::Value;

use crate::config::intercept::{Action, Direction, InterceptRules, Rule};
use crate::mcp::{JsonRpcId, Kind, Method, Target};

use super::patch::{error_answer, patched, result_answer, to_bytes};
use super::{first, Batch, Parsed, Seen};
use crate::pipeline::Facts;

/// What the request side decided.
#[derive(Debug)]
pub enum RequestStep<'r> {
    /// Send it on: `body` when a rule changed the message, after `delay` when one holds it.
    Forward {
        /// The changed message (`None`: the original bytes).
        body: Option<Vec<u8>>,
        /// How long to hold it first.
        delay: Option<Duration>,
    },
    /// Answer the client with this message; the upstream never sees the request.
    Answer(Vec<u8>),
    /// A notification a rule blocked or answered: it goes no further.
    Drop,
    /// A blocked batch that also held the client's answers to server requests: `answer` (the
    /// errors of its requests) goes to the client, `forward` (those answers alone, as a
    /// batch) goes on, since the server waits for them.
    Split {
        /// The batch of errors for the client.
        answer: Vec<u8>,
        /// The client's answers, for the upstream.
        forward: Vec<u8>,
    },
    /// Hold it until an operator decides (or the rule's timeout).
    Pause(&'r Rule),
}

/// Forward the original bytes.
pub const FORWARD: RequestStep<'static> = RequestStep::Forward {
    body: None,
    delay: None,
};

/// The request side for the client message `body` (inspected into `facts`); `base` holds the
/// principal, session and route (its method and tool are filled in here).
pub fn judge_request<'r>(
    rules: &'r InterceptRules,
    base: Seen<'_>,
    facts: &Facts,
    body: &[u8],
) -> RequestStep<'r> {
    if !rules.requests {
        return FORWARD;
    }
    if facts.is_batch() {
        return judge_batch(rules, base, facts, body);
    }
    if matches!(facts.kind(), Some(Kind::Response | Kind::ErrorResponse)) {
        // The client's answer to a server request (sampling, elicitation, roots): it is not a
        // request, and an answer sent back in its place would settle the client's own request
        // of that id while the server waits forever.
        return FORWARD;
    }
    let seen = Seen {
        way: Direction::Request,
        method: name_of(facts.method, facts.unknown_method.as_deref()),
        tool: facts
            .mcp_name
            .as_deref()
            .filter(|_| facts.method == Method::ToolsCall),
        ..base
    };
    let message = Parsed::new(body);
    match first(rules, &seen, &message) {
        None => FORWARD,
        Some(rule) => {
            let notification = facts.kind() == Some(Kind::Notification);
            act(rule, &rule.action, (facts.id(), notification), &message)
        }
    }
}

/// What `action` (of `rule`, or an operator's decision) does to one message.
pub fn act<'r>(
    rule: &'r Rule,
    action: &Action,
    (id, notification): (Option<&JsonRpcId>, bool),
    message: &Parsed<'_>,
) -> RequestStep<'r> {
    match action {
        Action::Continue => FORWARD,
        Action::Block { .. } | Action::Mock(_) if notification => RequestStep::Drop,
        Action::Block { code, message } => RequestStep::Answer(error_answer(id, *code, message)),
        Action::Mock(result) => match id {
            Some(id) => RequestStep::Answer(result_answer(id, result)),
            None => RequestStep::Drop,
        },
        Action::Modify(patch) => RequestStep::Forward {
            body: message
                .get()
                .and_then(|m| patched(m, patch))
                .map(|m| to_bytes(&m)),
            delay: None,
        },
        Action::Delay(delay) => RequestStep::Forward {
            body: None,
            delay: Some(*delay),
        },
        Action::Pause { .. } => RequestStep::Pause(rule),
    }
}

/// A batch: every element matched, in body order (see the module doc).
fn judge_batch<'r>(
    rules: &'r InterceptRules,
    base: Seen<'_>,
    facts: &Facts,
    body: &[u8],
) -> RequestStep<'r> {
    let batch = Batch::new(body);
    // Each element's rule (a client's answer to a server request: none).
    let picked: Vec<Option<&'r Rule>> = facts
        .elements
        .iter()
        .enumerate()
        .map(|(at, info)| {
            let method = info.method?;
            let tool = match &info.target {
                Some(Target::Tool(name)) if method == Method::ToolsCall => Some(name.as_str()),
                _ => None,
            };
            let seen = Seen {
                way: Direction::Request,
                method: name_of(method, info.unknown_method.as_deref()),
                tool,
                ..base
            };
            first(rules, &seen, &Parsed::element(&batch, at))
        })
        .collect();
    let mut changes: Vec<(usize, Value)> = Vec::new();
    let mut delay: Option<Duration> = None;
    for (at, rule) in picked.iter().enumerate() {
        let Some(rule) = rule else {
            continue;
        };
        match &rule.action {
            Action::Block { code, message } => {
                return block_batch(facts, &batch, &picked, (*code, message))
            }
            Action::Modify(patch) => {
                let message = Parsed::element(&batch, at);
                if let Some(new) = message.get().and_then(|m| patched(m, patch)) {
                    changes.push((at, new));
                }
            }
            Action::Delay(d) => delay = delay.max(Some(*d)),
            Action::Continue | Action::Mock(_) | Action::Pause { .. } => {}
        }
    }
    if changes.is_empty() {
        return RequestStep::Forward { body: None, delay };
    }
    let mut all = batch.into_elements();
    for (at, new) in changes {
        if let Some(slot) = all.get_mut(at) {
            *slot = new;
        }
    }
    RequestStep::Forward {
        body: Some(to_bytes(&Value::Array(all))),
        delay,
    }
}

/// Every request of the batch answered with the rule's error; nothing of the batch goes on
/// but the client's answers to server requests (the server waits for them: dropping them would
/// leave its request hanging) and the notifications no `block` rule selected (a
/// `notifications/cancelled` for an earlier request, say), as the client sent them.
fn block_batch(
    facts: &Facts,
    batch: &Batch<'_>,
    picked: &[Option<&Rule>],
    (code, message): (i32, &str),
) -> RequestStep<'static> {
    let answers = forwarded_elements(facts, batch, picked);
    match (block_answers(facts, code, message), answers) {
        (Some(answer), Some(forward)) => RequestStep::Split { answer, forward },
        (Some(answer), None) => RequestStep::Answer(answer),
        (None, Some(forward)) => RequestStep::Forward {
            body: Some(forward),
            delay: None,
        },
        (None, None) => RequestStep::Drop,
    }
}

/// What of a blocked batch still goes on (`None`: nothing), as a batch of its own: the
/// client's answers to server requests and the notifications no `block` rule selected, each
/// element's bytes as the client sent them.
fn forwarded_elements(
    facts: &Facts,
    batch: &Batch<'_>,
    picked: &[Option<&Rule>],
) -> Option<Vec<u8>> {
    let goes_on = |at: usize, kind: &Kind| match kind {
        Kind::Response | Kind::ErrorResponse => true,
        Kind::Notification => !matches!(
            picked.get(at),
            Some(Some(Rule {
                action: Action::Block { .. },
                ..
            }))
        ),
        Kind::Request => false,
    };
    if !facts
        .elements
        .iter()
        .enumerate()
        .any(|(at, e)| goes_on(at, &e.kind))
    {
        return None;
    }
    let raw = batch.raw_elements();
    let mut out = vec![b'['];
    for (at, (info, element)) in facts.elements.iter().zip(raw.iter()).enumerate() {
        if !goes_on(at, &info.kind) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(element.get().as_bytes());
    }
    out.push(b']');
    (out.len() > 2).then_some(out)
}

/// The batch of errors answering every request of a blocked batch (`None`: it holds none).
fn block_answers(facts: &Facts, code: i32, message: &str) -> Option<Vec<u8>> {
    let ids: Vec<&JsonRpcId> = facts
        .elements
        .iter()
        .filter(|e| e.kind == Kind::Request)
        .filter_map(|e| e.id.as_ref())
        .collect();
    if ids.is_empty() {
        return None;
    }
    let mut out = vec![b'['];
    for (n, id) in ids.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&error_answer(Some(id), code, message));
    }
    out.push(b']');
    Some(out)
}

/// A method's wire name.
fn name_of(method: Method, unknown: Option<&str>) -> Option<&str> {
    match method {
        Method::Other => unknown,
        known => Some(known.as_str()),
    }
}
