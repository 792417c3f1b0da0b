//! A legacy HTTP+SSE message an interception rule holds (`delay`, `pause`): its POST was
//! answered `202` at once (the SDK's `sse_client` posts one message at a time, so a held 202
//! stalls the whole session: a paused message must hold only itself); the hold runs here, in
//! a task of its own, then the message goes on as any other, with its answer, or the refusal
//! that would have been the POST's, on the session's stream.
//!
//! Also what an interception outcome means for a legacy message ([`Admitted`], [`decided`]).
//! Not here: judging the message (crate::proxy::intercept), the exchanges (post.rs).
//! Cold path: only a held message comes here. The task keeps the request's tape current, so
//! the message is recorded once the hold decided, as on the POST.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::http::RequestHead;
use crate::mcp::ProtocolVersion;
use crate::pipeline::RequestCtx;
use crate::proxy::error::ProxyError;
use crate::proxy::intercept::{note_decided, Hold, Intercepted, Scope};
use crate::proxy::respond::error_message;
use crate::proxy::state::ShardState;
use crate::record::scope;
use crate::session::SessionId;

use super::{deliver, live, LegacyOut};

/// The upstream's session id and the client's version.
pub(super) type Session = (Option<Box<str>>, Option<ProtocolVersion>);

/// What sends an admitted message upstream (post.rs), owning what it takes.
pub(super) type Forward = fn(
    Rc<ShardState>,
    RequestCtx,
    (SessionId, Rc<LegacyOut>),
    RequestHead,
    Vec<u8>,
    Session,
) -> Pin<Box<dyn Future<Output = Result<(), ProxyError>>>>;

/// A held message and what sending it on takes.
pub(super) struct Held {
    /// Its request context.
    pub ctx: RequestCtx,
    /// Its bytes.
    pub body: Vec<u8>,
    /// Whether its note on the tape waits for the decision.
    pub deferred: bool,
    /// Its session.
    pub sid: SessionId,
    /// The POST's head (its headers go upstream).
    pub head: RequestHead,
    /// The upstream's session id and the client's version.
    pub session: Session,
}

/// What becomes of a message the route's stages and interception looked at.
pub(super) enum Admitted {
    /// It goes upstream now.
    Go,
    /// It goes no further (dropped, or answered on the stream).
    Stop,
    /// A rule holds it.
    Held(Hold),
}

/// Where a decided message goes (an answer in its place goes on the stream).
pub(super) fn decided(state: &ShardState, sid: &SessionId, outcome: Intercepted) -> Admitted {
    match outcome {
        Intercepted::Forward { .. } => Admitted::Go,
        Intercepted::Drop => Admitted::Stop,
        Intercepted::Answer(answer) => {
            deliver(state, sid, answer);
            Admitted::Stop
        }
        // (A legacy client sends no batches; were it to, its answers go on.)
        Intercepted::Split { answer, .. } => {
            deliver(state, sid, answer);
            Admitted::Go
        }
    }
}

/// Runs the hold, then `forward` (what sends an admitted message upstream), in a detached
/// task, in the request's recording scope.
pub(super) fn spawn(state: &Rc<ShardState>, hold: Hold, held: Held, forward: Forward) {
    let state = state.clone();
    match scope::recorder() {
        Some(recorder) => {
            let tape = scope::current();
            let task = scope::connection(recorder, async move {
                scope::begin(tape);
                run(state, hold, held, forward).await;
            });
            glommio::spawn_local(task).detach();
        }
        None => {
            glommio::spawn_local(run(state, hold, held, forward)).detach();
        }
    }
}

async fn run(state: Rc<ShardState>, hold: Hold, held: Held, forward: Forward) {
    let Held {
        mut ctx,
        mut body,
        deferred,
        sid,
        head,
        session,
    } = held;
    let scope = Scope {
        route: ctx.route,
        principal: &ctx.principal,
        session: Some(&sid),
    };
    let outcome = hold.finish(&state, scope, &mut ctx.facts, &mut body).await;
    if deferred {
        note_decided(&body, outcome.as_ref().ok());
    }
    // The session may have ended while the message was held: its stream is gone, so there
    // is no one to answer and nothing goes upstream.
    let Some(out) = live(&state, &sid) else {
        tracing::debug!(session = %sid.as_str(), "held message dropped: its session ended");
        return;
    };
    let id = ctx.facts.id().cloned();
    let sent = match outcome.map(|outcome| decided(&state, &sid, outcome)) {
        Ok(Admitted::Go) => forward(state.clone(), ctx, (sid, out), head, body, session).await,
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(refused) = sent {
        refuse(&state, &sid, &refused, id.as_ref());
    }
}

/// A refusal after the 202: as an error answer on the stream.
fn refuse(
    state: &ShardState,
    sid: &SessionId,
    refused: &ProxyError,
    id: Option<&crate::mcp::JsonRpcId>,
) {
    crate::proxy::audit::note_error(refused);
    if id.is_none() {
        return;
    }
    let mut message = Vec::with_capacity(128);
    error_message(&mut message, refused, id);
    deliver(state, sid, message);
}
