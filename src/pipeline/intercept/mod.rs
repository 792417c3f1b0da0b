//! The `intercept` stage: the operator's rules (`[[intercept.rules]]`, or the admin API's set)
//! matched against every client message (request side, [`judge_request`]) and every message
//! coming back (response side, [`AnswerScope`]); first match wins. What a rule decides comes
//! back as a [`RequestStep`] or, on the response side, an [`Outgoing`] (the proxy runs the
//! parts that wait, `delay` and `pause`, on either side).
//!
//! Not here: the rule schema and its compilation (config::intercept), the shard's rule set and
//! pause table, writing answers (the proxy's `intercept` module).
//! Hot path: a message no rule's direction, method, tool, principal, session or route glob
//! selects costs those byte comparisons and no allocation; the message is parsed only for a
//! rule with pointer conditions whose globs matched, and written anew only when a rule
//! changes it (`modify`, `mock`, `block`).

mod answers;
mod patch;
mod request;

pub use answers::{AnswerHold, AnswerScope, LiveAnswers, Outgoing, Sent};
pub use patch::{error_answer, merge_patch, patch_member, patched, result_answer};
pub use request::{act, judge_request, RequestStep, FORWARD};

use std::cell::OnceCell;

use serde_json::Value;

use crate::config::intercept::{glob_opt, Direction, InterceptRules, Rule};
use crate::config::RouteConfig;

/// The stage's name in `config check`.
pub(super) const NAME: &str = "intercept";

/// What rules are matched on, besides the message's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// Which way the message goes.
    pub way: Direction,
    /// Its method (an answer: its request's).
    pub method: Option<&'a str>,
    /// The tool a `tools/call` names (an answer: its call's).
    pub tool: Option<&'a str>,
    /// Who sent the request.
    pub principal: &'a str,
    /// The client session's id, when it has one.
    pub session: Option<&'a str>,
    /// The route's path.
    pub route: &'a str,
}

/// A message parsed at most once, when a rule's conditions need it.
#[derive(Debug)]
pub struct Parsed<'b> {
    source: Source<'b>,
    value: OnceCell<Option<Value>>,
}

/// Where a [`Parsed`] message's JSON comes from.
#[derive(Debug)]
enum Source<'b> {
    /// Its own bytes.
    Bytes(&'b [u8]),
    /// Element `at` of a batch.
    Element(&'b Batch<'b>, usize),
}

/// A batch's bytes, parsed at most once (when an element's rule needs it).
#[derive(Debug)]
pub struct Batch<'b> {
    bytes: &'b [u8],
    all: OnceCell<Vec<Value>>,
}

impl<'b> Batch<'b> {
    /// A batch not parsed yet.
    pub fn new(bytes: &'b [u8]) -> Self {
        Batch {
            bytes,
            all: OnceCell::new(),
        }
    }

    /// Its elements (none when it does not parse).
    pub fn elements(&self) -> &[Value] {
        self.all
            .get_or_init(|| serde_json::from_slice(self.bytes).unwrap_or_default())
    }

    /// Its elements as the client wrote them (none when it does not parse).
    pub fn raw_elements(&self) -> Vec<&'b serde_json::value::RawValue> {
        serde_json::from_slice(self.bytes).unwrap_or_default()
    }

    /// Its elements, owned.
    pub fn into_elements(self) -> Vec<Value> {
        let _ = self.elements();
        self.all.into_inner().unwrap_or_default()
    }
}

impl<'b> Parsed<'b> {
    /// A message not parsed yet.
    pub fn new(bytes: &'b [u8]) -> Self {
        Parsed {
            source: Source::Bytes(bytes),
            value: OnceCell::new(),
        }
    }

    /// Element `at` of `batch`.
    pub fn element(batch: &'b Batch<'b>, at: usize) -> Self {
        Parsed {
            source: Source::Element(batch, at),
            value: OnceCell::new(),
        }
    }

    /// The message as JSON (`None`: not JSON).
    pub fn get(&self) -> Option<&Value> {
        match self.source {
            Source::Bytes(bytes) => self
                .value
                .get_or_init(|| serde_json::from_slice(bytes).ok())
                .as_ref(),
            Source::Element(batch, at) => batch.elements().get(at),
        }
    }
}

/// The first rule of `rules` that selects the message `seen` describes.
pub fn first<'r>(
    rules: &'r InterceptRules,
    seen: &Seen<'_>,
    message: &Parsed<'_>,
) -> Option<&'r Rule> {
    rules.rules.iter().find(|rule| selects(rule, seen, message))
}

fn selects(rule: &Rule, seen: &Seen<'_>, message: &Parsed<'_>) -> bool {
    rule.direction.covers(seen.way)
        && glob_opt(rule.method.as_deref(), seen.method)
        && glob_opt(rule.tool.as_deref(), seen.tool)
        && glob_opt(rule.principal.as_deref(), Some(seen.principal))
        && glob_opt(rule.route.as_deref(), Some(seen.route))
        && rule
            .session
            .as_deref()
            .is_none_or(|glob| session_matches(glob, seen.session))
        && (rule.when.is_empty()
            || message
                .get()
                .is_some_and(|value| rule.when.iter().all(|c| c.holds(value))))
}

/// A session glob against the id, or (a glob starting `sha256:`) against its hash.
fn session_matches(glob: &str, session: Option<&str>) -> bool {
    match session {
        Some(id) if glob.starts_with("sha256:") => {
            // The hash as the audit log writes it, on the stack: no allocation per message.
            let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
            let mut text = *b"sha256:00000000000000000000000000000000";
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for (i, byte) in digest.as_ref().iter().take(16).enumerate() {
                text[7 + 2 * i] = HEX[usize::from(byte >> 4)];
                text[8 + 2 * i] = HEX[usize::from(byte & 15)];
            }
            glob_opt(Some(glob), std::str::from_utf8(&text).ok())
        }
        session => glob_opt(Some(glob), session),
    }
}

/// The route path rules see.
pub fn route_path(route: &RouteConfig) -> &str {
    &route.path
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "hold_tests.rs"]
mod hold_tests;
