//! The `rate_limit` stage: each principal's token buckets (`[listeners.NAME.routes.
//! rate_limit]`) live on the shard the ring assigns to the principal, so the configured rate
//! holds however the principal's connections and sessions are spread over shards. A request
//! decided on its principal's own shard costs a map lookup; elsewhere it asks that shard over
//! the mesh and waits for the answer (bounded: a shard that does not answer within
//! [`ASK_TIMEOUT`] lets the request through and counts it, rather than stalling the client).
//!
//! A request draws one token from the principal's bucket, and a `tools/call` one more from
//! each `per_tool` bucket its tool matches; a batch draws for each request in it;
//! notifications and answers draw nothing. Over the limit: 429 with `Retry-After`.
//! Not here: the buckets' arithmetic and the per-shard maps (`state::rate_bucket`), the limits
//! (config::RateLimit).

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel;
use shards::ShardId;

use crate::config::{Rate, RateLimit, RouteId};
use crate::mcp::{Kind, Method, Target};
use crate::pipeline::Facts;
use crate::session::Principal;

use super::error::ProxyError;
use super::metrics::Counter;
use super::state::{Bucket, MeshMsg, PrincipalBuckets, ShardState};

/// How long a request waits for its principal's shard to decide.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// Principals whose buckets a shard keeps before it forgets the full ones.
const KEEP_PRINCIPALS: usize = 4096;

/// Shortest time between two sweeps of full buckets.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub use super::state::Draw;

/// Admits `facts` from `principal` on `route`, or refuses it with how long to wait.
///
/// # Errors
/// [`ProxyError::RateLimited`] carrying the request's id and the wait.
pub async fn admit(
    state: &Rc<ShardState>,
    route: RouteId,
    principal: &Principal,
    facts: &Facts,
) -> Result<(), ProxyError> {
    let Some(limit) = state.config.route(route).rate_limit.as_ref() else {
        return Ok(());
    };
    let draws = draws(limit, facts);
    if draws.is_empty() {
        return Ok(());
    }
    let owner = state.ring.owner(principal.as_str().as_bytes());
    let wait_ms = if owner == state.id() {
        decide(state, route, principal.as_str(), &draws)
    } else {
        ask(state, owner, route, principal.as_str(), draws).await
    };
    if wait_ms == 0 {
        return Ok(());
    }
    state.metrics.incr(Counter::RateLimited);
    Err(ProxyError::RateLimited {
        id: facts.id().cloned(),
        retry_after_secs: wait_ms.div_ceil(1000).max(1),
    })
}

/// The draws of one body.
fn draws(limit: &RateLimit, facts: &Facts) -> Vec<Draw> {
    let mut requests: u32 = 0;
    let mut draws: Vec<Draw> = Vec::new();
    let mut tool_call = |name: &str| {
        for (index, _) in limit.tool_rates(name) {
            let bucket = u16::try_from(index + 1).unwrap_or(u16::MAX);
            match draws.iter_mut().find(|(b, _)| *b == bucket) {
                Some((_, cost)) => *cost += 1,
                None => draws.push((bucket, 1)),
            }
        }
    };
    if facts.is_batch() {
        for element in facts.elements.iter().filter(|e| e.kind == Kind::Request) {
            requests += 1;
            if let (Some(Method::ToolsCall), Some(Target::Tool(name))) =
                (element.method, &element.target)
            {
                tool_call(name);
            }
        }
    } else if facts.kind() == Some(Kind::Request) {
        requests = 1;
        if let (Method::ToolsCall, Some(name)) = (facts.method, facts.mcp_name.as_deref()) {
            tool_call(name);
        }
    }
    if requests > 0 {
        draws.insert(0, (0, requests));
    }
    draws
}

/// The rate of bucket `bucket` of `principal` on `route` (`None`: unlimited).
fn rate_of(state: &ShardState, route: RouteId, bucket: u16, principal: &str) -> Option<Rate> {
    let limit = state.config.route(route).rate_limit.as_ref()?;
    match bucket {
        0 => limit.principal_rate(Principal::name_of(principal)),
        n => limit
            .per_tool
            .get(usize::from(n) - 1)
            .map(|(_, rate)| *rate),
    }
}

/// Decides on this shard (the principal's owner): milliseconds to wait, 0 when admitted (and
/// the tokens taken from every bucket drawn). A draw larger than its bucket (a batch of more
/// requests than the burst) costs a whole bucket.
pub fn decide(state: &ShardState, route: RouteId, principal: &str, draws: &[Draw]) -> u32 {
    let now = Instant::now();
    let mut all = state.rates.buckets.borrow_mut();
    if all.len() >= KEEP_PRINCIPALS && !all.contains_key(principal) {
        forget_full(state, &mut all, now);
    }
    let mine = all.entry(principal.into()).or_default();
    let mut wait = Duration::ZERO;
    let mut chosen = Vec::with_capacity(draws.len());
    for &(bucket, cost) in draws {
        let Some(rate) = rate_of(state, route, bucket, principal) else {
            continue; // unlimited
        };
        let cost = cost.min(rate.burst);
        let at = match mine
            .iter()
            .position(|(r, b, _)| *r == route && *b == bucket)
        {
            Some(at) => at,
            None => {
                mine.push((route, bucket, Bucket::full(rate, now)));
                mine.len() - 1
            }
        };
        wait = wait.max(mine[at].2.wait(rate, cost, now));
        chosen.push((at, cost));
    }
    if wait.is_zero() {
        for (at, cost) in chosen {
            mine[at].2.take(cost);
        }
        return 0;
    }
    u32::try_from(wait.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// Drops the principals whose buckets are all full again (a new bucket would be the same), at
/// most once per [`SWEEP_EVERY`]: with many active principals the map may stay larger, bounded
/// by the principals active within a refill time.
fn forget_full(state: &ShardState, all: &mut HashMap<Box<str>, PrincipalBuckets>, now: Instant) {
    let last = state.rates.swept.get();
    if last.is_some_and(|at| now.saturating_duration_since(at) < SWEEP_EVERY) {
        return;
    }
    state.rates.swept.set(Some(now));
    all.retain(|principal, buckets| {
        buckets.iter().any(|(route, bucket, tokens)| {
            rate_of(state, *route, *bucket, principal)
                .is_some_and(|rate| !tokens.full_at(rate, now))
        })
    });
}

/// Asks `owner` to decide; lets the request through if it does not answer in time.
async fn ask(
    state: &Rc<ShardState>,
    owner: ShardId,
    route: RouteId,
    principal: &str,
    draws: Vec<Draw>,
) -> u32 {
    state.metrics.incr(Counter::RateAsked);
    let rates = &state.rates;
    let seq = rates.seq.get() + 1;
    rates.seq.set(seq);
    let (tx, rx) = local_channel::new_bounded(1);
    rates.pending.borrow_mut().insert(seq, tx);
    // Removes the question however this ends (answered, timed out, or the request dropped).
    let _pending = Pending(state, seq);
    let msg = MeshMsg::RateAsk {
        from: state.id(),
        seq,
        route,
        principal: principal.into(),
        draws,
    };
    // The whole exchange is bounded: a full channel to the owner waits no longer than an answer.
    let exchange = async {
        state.mesh.send_to(owner, msg).await.ok()?;
        rx.recv().await
    };
    let answer = shards::timeout::within(ASK_TIMEOUT, exchange)
        .await
        .flatten();
    answer.unwrap_or_else(|| {
        state.metrics.incr(Counter::RateUndecided);
        tracing::debug!(
            owner = owner.0,
            "rate limit: the principal's shard did not answer; admitted"
        );
        0
    })
}

/// A question awaiting its answer, forgotten on drop.
struct Pending<'s>(&'s ShardState, u64);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.rates.pending.borrow_mut().remove(&self.1);
    }
}

/// Answers a peer's question (on the principal's owner).
pub fn answer(
    state: &Rc<ShardState>,
    asker: ShardId,
    (seq, route): (u64, RouteId),
    principal: &str,
    draws: &[Draw],
) {
    let wait_ms = decide(state, route, principal, draws);
    let st = state.clone();
    glommio::spawn_local(async move {
        let _ = st
            .mesh
            .send_to(asker, MeshMsg::RateAnswer { seq, wait_ms })
            .await;
    })
    .detach();
}

/// Hands an answer to the request waiting for it (a late one is dropped).
pub fn deliver(state: &ShardState, seq: u64, wait_ms: u32) {
    if let Some(tx) = state.rates.pending.borrow_mut().remove(&seq) {
        let _ = tx.try_send(wait_ms);
    }
}
