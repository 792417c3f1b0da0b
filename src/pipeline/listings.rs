//! [`ListingWatch`]: the response side for a sink that receives every message of a client
//! session in one stream (a legacy HTTP+SSE session's stream), where no single request's
//! method says what a message answers. It remembers the ids of the session's `tools/list`
//! requests not answered yet and judges only the answers under those ids; each id is
//! forgotten once its answer passed, so a later request reusing it is not judged. Every other
//! message (answers to other requests, notifications such as
//! `notifications/tools/list_changed`, server→client requests) keeps its bytes.
//!
//! Also keeps the interception holds of messages queued for such a stream until it takes
//! them ([`ListingWatch::park`]).
//! Not here: the filter itself (tool_filter.rs), where the ids come from (the transport notes
//! them before a request goes out).
//! Bounded: at most [`MAX_PENDING`] ids per session. A client with more unanswered listings
//! than that (or an upstream that never answers them) puts the session in the stricter mode
//! the filter had before ids were tracked: every answer is judged for the rest of the session,
//! so no listing ever passes uncut. Hot path: with no listing pending, a message costs one
//! length test.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use crate::mcp::{JsonRpcId, Method};

use super::intercept::{AnswerHold, LiveAnswers, Outgoing};
use super::RouteStages;

/// Most `tools/list` ids awaiting an answer that one session remembers (see the module doc).
pub(super) const MAX_PENDING: usize = 64;

/// A session's route stages and the ids of its `tools/list` requests awaiting answers.
#[derive(Debug)]
pub struct ListingWatch {
    stages: RouteStages,
    /// Ids of pending `tools/list` requests, oldest first (a `Vec`: at most [`MAX_PENDING`],
    /// and a reused id is remembered once per request, so each answer forgets one).
    pending: RefCell<Vec<JsonRpcId>>,
    /// Set once an id did not fit: from then on every answer is judged.
    overflowed: Cell<bool>,
    /// Messages queued for the stream that an interception rule holds, by their number in
    /// the queue (the stream settles each when it takes it); at most the queue's length.
    held: RefCell<VecDeque<(u64, AnswerHold)>>,
    /// The interception rules' response side for every message of the stream (renewed by
    /// the transport when the shard's rule set changes).
    answers: LiveAnswers,
}

impl ListingWatch {
    /// A watch over the answers of a session on a route with `stages`.
    pub fn new(stages: RouteStages) -> Self {
        Self::with_answers(stages, LiveAnswers::default())
    }

    /// A watch whose stream also passes the interception rules' response side (`answers`).
    pub fn with_answers(stages: RouteStages, answers: LiveAnswers) -> Self {
        ListingWatch {
            stages,
            pending: RefCell::default(),
            overflowed: Cell::new(false),
            held: RefCell::default(),
            answers,
        }
    }

    /// The interception rules' response side of the stream.
    pub fn answers(&self) -> &LiveAnswers {
        &self.answers
    }

    /// The route's stages.
    pub fn stages(&self) -> &RouteStages {
        &self.stages
    }

    /// Notes a client request about to go out: when it is a `tools/list` request (`id` is
    /// `Some` for requests only) on a filtered route, its answer will be judged. Returns the
    /// id noted, for [`ListingWatch::forget`] should the request never go out.
    pub fn expect(&self, method: Method, id: Option<&JsonRpcId>) -> Option<JsonRpcId> {
        if method != Method::ToolsList || self.stages.is_empty() || self.overflowed.get() {
            return None;
        }
        let id = id?;
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= MAX_PENDING {
            tracing::warn!(
                pending = MAX_PENDING,
                "too many tools/list requests unanswered; every answer of this session is judged from now on"
            );
            self.overflowed.set(true);
            pending.clear();
            return None;
        }
        pending.push(id.clone());
        Some(id.clone())
    }

    /// Forgets one pending `id` (its request never went out).
    pub fn forget(&self, id: &JsonRpcId) {
        forget_one(&mut self.pending.borrow_mut(), id);
    }

    /// The response side for one message going to the client: changed when it is an answer
    /// to a pending `tools/list` request that lost a hidden tool, or when an interception rule
    /// changes or holds it. Any answer under a pending id forgets it, listing or error.
    pub fn judge(&self, message: &[u8]) -> Outgoing {
        let filtered = self.filter(message);
        // The `intercept` stage's response side: every message of the stream, one by one.
        self.answers
            .judge(filtered.as_deref().unwrap_or(message))
            .over(filtered)
    }

    /// Keeps the hold of the message queued as number `n`.
    pub fn park(&self, n: u64, hold: AnswerHold) {
        self.held.borrow_mut().push_back((n, hold));
    }

    /// The hold of the message taken as number `n`, if a rule holds it (numbers are taken in
    /// order: older ones left behind by a queue that ended are dropped).
    pub fn unpark(&self, n: u64) -> Option<AnswerHold> {
        let mut held = self.held.borrow_mut();
        while held.front().is_some_and(|(at, _)| *at < n) {
            held.pop_front();
        }
        match held.front() {
            Some((at, _)) if *at == n => held.pop_front().map(|(_, hold)| hold),
            _ => None,
        }
    }

    /// The tool filter's part of [`ListingWatch::judge`].
    fn filter(&self, message: &[u8]) -> Option<Vec<u8>> {
        if self.overflowed.get() {
            // The route's own stages: every answer judged, after the cheap may-list search.
            return self.stages.filter_listing(message);
        }
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            return None;
        }
        self.stages
            .response_to(message, &mut |id| forget_one(&mut pending, id))
    }
}

/// Removes the oldest occurrence of `id`; whether there was one.
fn forget_one(pending: &mut Vec<JsonRpcId>, id: &JsonRpcId) -> bool {
    match pending.iter().position(|p| p == id) {
        Some(at) => {
            pending.remove(at);
            true
        }
        None => false,
    }
}

#[cfg(test)]
#[path = "listings_tests.rs"]
mod tests;
