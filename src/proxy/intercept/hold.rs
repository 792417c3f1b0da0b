//! The waiting both sides of the `intercept` stage share: a `delay` ([`delayed`]) and a
//! `pause` in the shard's pause table until an operator's decision, the rule's timeout or
//! shutdown ([`decision`]), turned into the action that settles the message.
//!
//! Not here: what the action makes of a request (request.rs) or of a message going to the
//! client (answer.rs).
//! Cold path: only a held message comes here. A pause's entry leaves the table when the wait
//! ends or its future is dropped (the client went away): nothing is left behind.

use std::time::Duration;

use shards::timeout::within;

use crate::config::intercept::{Action, Rule, DEFAULT_BLOCK_CODE, DEFAULT_BLOCK_MESSAGE};
use crate::proxy::metrics::Counter;
use crate::proxy::state::intercept::{Decision, PauseInfo};
use crate::proxy::state::ShardState;

/// Waits `delay` (shutdown ends it early: the drain does not wait for it).
pub(super) async fn delayed(state: &ShardState, delay: Duration) {
    state.metrics.incr(Counter::InterceptDelayed);
    futures_lite::future::or(glommio::timer::sleep(delay), async {
        state.shutdown.wait().await;
    })
    .await;
}

/// Holds the message `info` describes in the pause table until an operator decides, `rule`'s
/// timeout passes or shutdown comes (then the rule's default); the action that settles it.
/// A message of a session (`in_session`) waits at most the session's idle lifetime: the
/// pause must not outlive the session it belongs to by itself.
pub(super) async fn decision(
    state: &ShardState,
    rule: &Rule,
    info: PauseInfo,
    in_session: bool,
) -> Action {
    let Action::Pause { timeout, default } = &rule.action else {
        return Action::Continue;
    };
    state.metrics.incr(Counter::InterceptPaused);
    let held = state.intercept.paused.hold(info);
    tracing::info!(pause = %format_args!("{}-{}", state.id().0, held.number()), rule = %rule.name, "message paused");
    // Shutdown ends a pause early, with its default: the drain does not wait for operators.
    let decided = futures_lite::future::or(async { held.decision.recv().await }, async {
        state.shutdown.wait().await;
        None
    });
    let timeout = match in_session {
        true => (*timeout).min(state.config.sessions.ttl),
        false => *timeout,
    };
    let decision = within(timeout, decided).await.flatten();
    drop(held);
    match decision {
        None => {
            state.metrics.incr(Counter::InterceptPauseTimeouts);
            (**default).clone()
        }
        Some(Decision::Resume) => Action::Continue,
        Some(Decision::Modify(patch)) => Action::Modify(patch),
        Some(Decision::Block(message)) => {
            let (code, rule_message) = match &**default {
                Action::Block { code, message } => (*code, &**message),
                _ => (DEFAULT_BLOCK_CODE, DEFAULT_BLOCK_MESSAGE),
            };
            Action::Block {
                code,
                message: message.as_deref().unwrap_or(rule_message).into(),
            }
        }
    }
}

/// The message as the paused list shows it: JSON when it parses, else its text.
pub(super) fn shown(message: &[u8]) -> serde_json::Value {
    serde_json::from_slice(message).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(message).into_owned())
    })
}
