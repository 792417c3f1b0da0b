//! The admin API's questions to the shards (the paused list, decisions, a new rule set): the
//! messages shards send each other for them, answering one, and asking one or all from the
//! shard the admin request landed on.
//!
//! Not here: the HTTP side (the admin module), the pause table itself (pause.rs).
//! Control plane: none of this runs on a client request's path.

use std::rc::Rc;
use std::time::Duration;

use shards::ShardId;

use crate::proxy::state::intercept::{InterceptMsg, Op, Reply};
use crate::proxy::state::{MeshMsg, ShardState};

/// How long an admin question waits for another shard.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers `op` on this shard.
pub(super) fn local(state: &ShardState, op: Op) -> Reply {
    let intercept = &state.intercept;
    match op {
        Op::List => Reply::Listed(intercept.paused.list(state.id())),
        Op::Decide { n, decision } => Reply::Done(intercept.paused.decide(n, decision)),
        Op::Install(raw) => Reply::Done(intercept.install(raw)),
    }
}

/// A message from another shard.
pub fn on_mesh(state: &Rc<ShardState>, msg: InterceptMsg) {
    match msg {
        InterceptMsg::Ask {
            from: asker,
            seq,
            op,
        } => {
            let reply = local(state, op);
            let state = state.clone();
            glommio::spawn_local(async move {
                let answer = InterceptMsg::Answer { seq, reply };
                let _ = state
                    .mesh
                    .send_to(asker, MeshMsg::Intercept(Box::new(answer)))
                    .await;
            })
            .detach();
        }
        InterceptMsg::Answer { seq, reply } => {
            state.intercept.inbox.deliver(seq, reply);
        }
    }
}

/// Asks each of `shards` `op` (this shard answers itself) and gathers the replies; a shard
/// that does not answer in time is left out.
pub async fn ask(state: &Rc<ShardState>, shards: &[ShardId], op: &Op) -> Vec<Reply> {
    let inbox = &state.intercept.inbox;
    let (seq, _turn) = inbox.start().await;
    let mut replies = Vec::with_capacity(shards.len());
    let mut asked = 0;
    for &shard in shards {
        if shard == state.id() {
            replies.push(local(state, op.clone()));
            continue;
        }
        let question = InterceptMsg::Ask {
            from: state.id(),
            seq,
            op: op.clone(),
        };
        let msg = MeshMsg::Intercept(Box::new(question));
        if state.mesh.send_to(shard, msg).await.is_ok() {
            asked += 1;
        }
    }
    let wanted = replies.len() + asked;
    inbox.collect(seq, &mut replies, wanted, ASK_TIMEOUT).await;
    replies
}

/// Every shard's id.
pub fn all_shards(state: &ShardState) -> Vec<ShardId> {
    (0..state.ctx.shard_count).map(ShardId).collect()
}
