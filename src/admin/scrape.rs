//! Gathers every shard's metrics over the mesh for one scrape.
//!
//! Not here: rendering (prometheus.rs). A scrape on shard k asks each peer for a report and
//! waits (bounded) for the answers; replies carry the scrape's sequence number so a late reply
//! to an abandoned scrape is dropped instead of polluting the next one.

use std::rc::Rc;
use std::time::Duration;

use shards::ShardId;

use crate::proxy::state::{MeshMsg, MetricsReport, ShardState};

/// How long a scrape waits for the other shards.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// This shard's own report.
pub fn local_report(state: &ShardState) -> MetricsReport {
    MetricsReport {
        snapshot: state.metrics.general.snapshot(),
        methods: state.metrics.methods.snapshot(),
        sessions: state.sessions.borrow().len() as u64,
        legacy_streams: state.legacy.borrow().len() as u64,
        buffers: state.bufs.stats(),
        children: state.all_children().map(|c| c.stats()).fold(
            Default::default(),
            |sum: crate::upstream::children::ChildStats, s| crate::upstream::children::ChildStats {
                live: sum.live + s.live,
                started: sum.started + s.started,
                crashed: sum.crashed + s.crashed,
                dropped: sum.dropped + s.dropped,
            },
        ),
        token_refusals: state.all_credentials().map(|c| c.refusals()).sum(),
        token_exchanges: state.all_credentials().map(|c| c.exchanges_asked()).sum(),
        uring: state.io.stats(),
        seq: 0,
    }
}

/// Answers a peer's query with our report.
pub fn answer_query(state: &Rc<ShardState>, asker: ShardId, seq: u64) {
    let mut report = local_report(state);
    report.seq = seq;
    let st = state.clone();
    glommio::spawn_local(async move {
        let _ = st
            .mesh
            .send_to(asker, MeshMsg::MetricsReply(Box::new(report)))
            .await;
    })
    .detach();
}

/// Delivers a peer's reply to the waiting scrape.
pub fn collect_reply(state: &Rc<ShardState>, _from: ShardId, report: MetricsReport) {
    let seq = report.seq;
    state.scrape.deliver(seq, report);
}

/// All shards' reports (ours first); peers that do not answer in time are left out.
pub async fn gather(state: &Rc<ShardState>) -> Vec<MetricsReport> {
    let inbox = &state.scrape;
    let (seq, _turn) = inbox.start().await;
    let mut reports = vec![local_report(state)];
    let mut asked = 0;
    for peer in 0..state.ctx.shard_count {
        let peer = ShardId(peer);
        if peer == state.id() {
            continue;
        }
        if state
            .mesh
            .send_to(
                peer,
                MeshMsg::MetricsQuery {
                    from: state.id(),
                    seq,
                },
            )
            .await
            .is_ok()
        {
            asked += 1;
        }
    }
    inbox
        .collect(seq, &mut reports, asked + 1, SCRAPE_TIMEOUT)
        .await;
    reports
}
