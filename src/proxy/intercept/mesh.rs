//! The admin API's questions to the shards (the paused list, decisions, a new rule set): the
//! messages shards send each other for them, answering one, and asking one or all from the
//! shard the admin request landed on.
//!
//! Not here: the HTTP side (the admin module), the pause table itself (pause.rs).
//! Control plane: none of this runs on a client request's path.

use std::rc::Rc;
use std::time::Duration;

use shards::ShardId;

use crate::config::intercept::RawRule;
use crate::proxy::state::intercept::{InterceptMsg, Op, Reply};
use crate::proxy::state::{MeshMsg, ShardState};

/// How long an admin question waits for another shard.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// The shard every `PUT` of a rule set goes through.
const COORDINATOR: ShardId = ShardId(0);

/// Answers `op` on this shard.
pub(super) fn local(state: &ShardState, op: Op) -> Reply {
    let intercept = &state.intercept;
    match op {
        Op::List => Reply::Listed(intercept.paused.list(state.id())),
        Op::Decide { n, decision } => Reply::Decided(intercept.paused.decide(n, decision)),
        Op::Install(raw, generation) => Reply::Done(intercept.install(raw, generation)),
        // Answered by `coordinate` (it waits for the shards): never asked of `local`.
        Op::Put(_) => Reply::Put(Err("not the coordinator".into())),
    }
}

/// On shard 0: gives `raw` (validated) the next generation and puts it in force on every
/// shard; the generation and how many shards took it.
///
/// # Errors
/// Not every shard took it in time.
async fn coordinate(state: &Rc<ShardState>, raw: Vec<RawRule>) -> Result<(u64, usize), String> {
    let generation = state.intercept.issue();
    let shards = all_shards(state);
    let replies = ask(state, &shards, &Op::Install(raw, generation)).await;
    let installed = replies
        .iter()
        .filter(|r| matches!(r, Reply::Done(Ok(()))))
        .count();
    if installed < shards.len() {
        return Err("not every shard took the new rules in time".into());
    }
    Ok((generation, installed))
}

/// Puts `raw` (validated) in force on every shard through the coordinator, shard 0 (from
/// any shard: concurrent `PUT`s get increasing generations there, and every shard keeps the
/// newest).
///
/// # Errors
/// Why not (the coordinator or a shard did not answer in time).
pub async fn put(state: &Rc<ShardState>, raw: Vec<RawRule>) -> Result<(u64, usize), String> {
    if state.id() == COORDINATOR {
        return coordinate(state, raw).await;
    }
    let replies = ask_within(state, &[COORDINATOR], &Op::Put(raw), 3 * ASK_TIMEOUT).await;
    match replies.into_iter().next() {
        Some(Reply::Put(result)) => result,
        _ => Err("the coordinating shard did not answer in time".into()),
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
            let state = state.clone();
            glommio::spawn_local(async move {
                let reply = match op {
                    Op::Put(raw) => Reply::Put(coordinate(&state, raw).await),
                    op => local(&state, op),
                };
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
    ask_within(state, shards, op, ASK_TIMEOUT).await
}

/// [`ask`], waiting at most `timeout` for the replies.
async fn ask_within(
    state: &Rc<ShardState>,
    shards: &[ShardId],
    op: &Op,
    timeout: Duration,
) -> Vec<Reply> {
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
    inbox.collect(seq, &mut replies, wanted, timeout).await;
    replies
}

/// Every shard's id.
pub fn all_shards(state: &ShardState) -> Vec<ShardId> {
    (0..state.ctx.shard_count).map(ShardId).collect()
}
