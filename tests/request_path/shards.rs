//! Two shards: a session minted on one shard and used from many new connections (the kernel
//! spreads them over both shards) is served by its owner, the connection moved by handoff;
//! the moved connection keeps serving, and session-less requests are served where they land.

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::mcp;

/// New connections per check: the chance that all land on the owner is 2^-CONNECTIONS.
const CONNECTIONS: usize = 32;

#[test]
fn session_reused_from_many_connections_is_handed_to_its_owner() {
    handed_to_owner(Upstream::Http);
}

#[test]
fn stdio_session_reused_from_many_connections_is_handed_to_its_owner() {
    // The session's child lives on the owner shard: only a handoff can reach it.
    handed_to_owner(Upstream::Stdio);
}

fn handed_to_owner(upstream: Upstream) {
    let proxy = Proxy::start(Setup::two(upstream));
    let session = mcp::open_session(&mut proxy.conn());
    for i in 0..CONNECTIONS {
        let mut conn = proxy.conn();
        // Two requests per connection: the second is served where the first left it.
        for j in 0..2 {
            let text = format!("c{i}r{j}");
            let answer = session.post(&mut conn, &mcp::echo(json!(j), &text));
            assert_eq!(answer.head.status, 200, "{}", answer.describe());
            assert_eq!(mcp::result_text(&answer.json()), text);
        }
    }
    let hops = proxy.metric("shadowcat_hops_total");
    assert!(
        hops >= 1.0,
        "no connection was handed to the owner: hops {hops}"
    );
    assert!(
        hops <= CONNECTIONS as f64,
        "a moved connection stays with the owner: hops {hops}"
    );
    assert_eq!(proxy.metric("shadowcat_handoffs_received_total"), hops);
    assert_eq!(proxy.metric("shadowcat_shards"), 2.0);
    assert_eq!(proxy.metric("shadowcat_sessions_active"), 1.0);
    // DELETE from yet another connection reaches the owner's table too.
    let mut conn = proxy.conn();
    let deleted = conn.request("DELETE", mcp::PATH, &session.get_headers(), b"");
    assert_eq!(deleted.head.status, 200, "{}", deleted.describe());
    assert_eq!(proxy.metric("shadowcat_sessions_active"), 0.0);
    proxy.stop();
}

#[test]
fn sessions_minted_on_both_shards_never_hop_on_their_own_connection() {
    let proxy = Proxy::start(Setup::two(Upstream::Http));
    let mut sessions = Vec::new();
    for i in 0..CONNECTIONS / 2 {
        let mut conn = proxy.conn();
        let session = mcp::open_session(&mut conn);
        let answer = session.post(&mut conn, &mcp::echo(json!(i), "local"));
        assert_eq!(mcp::result_text(&answer.json()), "local");
        sessions.push(session);
    }
    // Each session was minted by the shard that accepted its connection: no hop so far.
    assert_eq!(proxy.metric("shadowcat_hops_total"), 0.0);
    assert_eq!(
        proxy.metric("shadowcat_sessions_created_total"),
        sessions.len() as f64
    );
    // One connection alternating between all of them hops whenever the owner changes,
    // and every answer is still right.
    let mut conn = proxy.conn();
    for (i, session) in sessions.iter().enumerate() {
        let answer = session.post(&mut conn, &mcp::echo(json!(i), &session.id));
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        assert_eq!(mcp::result_text(&answer.json()), session.id);
    }
    // 16 sessions minted by whichever shard accepted: both owners appear (1 - 2^-15).
    assert!(proxy.metric("shadowcat_hops_total") >= 1.0);
}
