//! The `intercept` stage's response side on a long-lived stream that answers no request: a
//! session's GET stream (Streamable HTTP and stdio upstreams, translated sessions) and a legacy
//! HTTP+SSE stream. Each message is judged by its own method, with no tool, under the stream's
//! principal, session and route; the scope follows the shard's rule set, so a set put in force
//! while the stream is open judges its next message ([`StreamAnswers`]).
//!
//! Not here: matching (crate::pipeline::intercept), the answers to a request (post.rs builds
//! their scope with [`super::answer_scope`]).
//! Hot path: per message, one generation compare and a `RefCell` borrow; nothing allocates
//! unless a new set arrived (then the scope is rebuilt once).

use std::rc::Rc;

use crate::config::intercept::Direction;
use crate::pipeline::intercept::{AnswerScope, LiveAnswers, Outgoing, Seen};
use crate::session::SessionId;

use super::Scope;
use crate::proxy::state::ShardState;

/// One stream's response side, following the shard's rule set.
#[derive(Debug)]
pub struct StreamAnswers<'a> {
    state: &'a ShardState,
    scope: Scope<'a>,
    live: LiveAnswers,
}

impl<'a> StreamAnswers<'a> {
    /// The response side of the stream `scope` describes, under the set in force.
    pub fn open(state: &'a ShardState, scope: Scope<'a>) -> Self {
        let live = LiveAnswers::new(state.intercept.generation(), stream_scope(state, scope));
        StreamAnswers { state, scope, live }
    }

    /// Whether some rule of the set in force (taken now if it is newer) may judge a message
    /// of this stream.
    pub fn judging(&self) -> bool {
        let (state, scope) = (self.state, self.scope);
        self.live
            .renew(state.intercept.generation(), || stream_scope(state, scope))
    }

    /// One message going to the client: what goes instead, or the rule holding it (the
    /// caller settles it before anything after it on the stream).
    pub fn judge(&self, message: &[u8]) -> Outgoing {
        if !self.judging() {
            return Outgoing::PASS;
        }
        self.live.judge(message)
    }
}

/// The scope judging the messages of a stream that answers no request (`None`: no response
/// rule may select one of them).
pub fn stream_scope(state: &ShardState, scope: Scope<'_>) -> Option<Rc<AnswerScope>> {
    let rules = state.intercept.rules().filter(|r| r.responses)?;
    let seen = Seen {
        way: Direction::Response,
        method: None,
        tool: None,
        principal: scope.principal.name(),
        session: scope.session.map(SessionId::as_str),
        route: &state.config.route(scope.route).path,
    };
    AnswerScope::new(&rules, &seen)
}
