//! The socket I/O path itself (issue 13): the proxy runs the path the suite asked for
//! (`harness::IO_PATH`) on every shard, and connections that come and go, many of them handed
//! between shards, leave nothing behind on the ring: no connection entry, no registered file
//! slot, no buffer ownership violation.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream, IO_PATH};
use crate::mcp;

#[test]
fn closed_and_handed_over_connections_release_their_ring_slots() {
    let proxy = Proxy::start(Setup::two(Upstream::Http));
    let rings = if IO_PATH == "uring" { 2.0 } else { 0.0 };
    assert_eq!(proxy.metric("shadowcat_io_uring_shards"), rings);
    let session = mcp::open_session(&mut proxy.conn());
    for i in 0..24 {
        // A fresh connection each time: about half land on the shard not owning the session
        // and move to its owner.
        let mut conn = proxy.conn();
        let answer = session.post(&mut conn, &mcp::echo(json!(i), "slots"));
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        assert_eq!(mcp::result_text(&answer.json()), "slots");
    }
    assert!(
        proxy.metric("shadowcat_handoffs_received_total") >= 1.0,
        "some connection was handed over"
    );
    // Only pooled upstream connections stay (requests were sequential: at most one a shard).
    proxy.await_metric(
        "shadowcat_io_uring_connections",
        |n| n <= 2.0,
        "client connections closed",
    );
    // Those, plus each shard's listener; a slot is free once the ring's close of it completed.
    proxy.await_metric(
        "shadowcat_io_uring_fixed_slots_used",
        |n| n <= 4.0,
        "registered file slots of closed connections released",
    );
    assert_eq!(
        proxy.metric("shadowcat_io_uring_buffer_violations_total"),
        0.0
    );
    proxy.stop();
}
