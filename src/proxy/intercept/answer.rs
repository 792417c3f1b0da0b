//! Settles a message going to the client that a response rule holds ([`settle`]): waits
//! the `delay`, or pauses it until an operator decides (`resume`, `modify`, `block`), its
//! timeout passes (the rule's `default`) or shutdown comes, then what goes to the client.
//!
//! Not here: judging (`RouteStages::response`, which gives the hold), the transports, which
//! await this only when a rule holds a message and send nothing after it on its stream
//! meanwhile; the client going away drops this future, and with it the pause.
//! Cold path: only a held message comes here.

use crate::config::intercept::{Action, Direction};
use crate::pipeline::intercept::{AnswerHold, Sent};
use crate::proxy::state::intercept::PauseInfo;
use crate::proxy::state::ShardState;

/// Waits out `hold` (a message going to the client, `original` as the upstream sent it) and
/// what goes to the client instead: the message, changed, or nothing.
pub async fn settle(state: &ShardState, hold: AnswerHold, original: &[u8]) -> Sent {
    let action = match hold.rule().map(|rule| (rule, &rule.action)) {
        Some((_, Action::Delay(delay))) => {
            super::hold::delayed(state, *delay).await;
            Action::Continue
        }
        Some((rule, Action::Pause { .. })) => {
            let scope = hold.scope();
            let message = hold.message(original);
            // A notification or server request shows its own method; an answer its request's.
            let own = own_method(message);
            let answer = own.is_none();
            let info = PauseInfo {
                direction: Direction::Response,
                rule: rule.name.clone(),
                method: own.or_else(|| scope.method().map(Into::into)),
                tool: scope.tool().filter(|_| answer).map(Into::into),
                session: scope.session().map(crate::audit::session_hash),
                message: super::hold::shown(message),
            };
            super::hold::decision(state, rule, info, scope.session().is_some()).await
        }
        _ => Action::Continue,
    };
    hold.decide(&action, original)
}

/// Whether `message` answers a request (has no method of its own; anything unreadable counts:
/// a hold on it is as good as over for the upstream).
pub fn is_answer(message: &[u8]) -> bool {
    own_method(message).is_none()
}

/// A message's own method (a notification's or server request's).
fn own_method(message: &[u8]) -> Option<Box<str>> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow, default)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    let head: Head<'_> = serde_json::from_slice(message).ok()?;
    head.method.map(|m| m.into())
}
