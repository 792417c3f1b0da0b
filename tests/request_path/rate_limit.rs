//! Rate limits (issue 10) on the request path: a principal's requests beyond its bucket get
//! 429 with `Retry-After` and the JSON-RPC error carrying the request's id, other principals
//! are not affected, `per_tool` buckets limit calls of matching tools only, and with two shards
//! the principal's one bucket (on its owner shard) holds however its connections land.
//! Buckets here refill at 1 per hour, so what is admitted is counted, not timed.

use serde_json::json;

use crate::auth::{in_session, initialize, proxy_on, KeyFile};
use crate::mcp::{self, PATH};
use crate::recorder::Recorder;

const RATE_LIMITED: i64 = -32015;

fn keys_lines(keys: &KeyFile, limit: &str) -> String {
    format!(
        "{}\n[listeners.main.routes.rate_limit]\n{limit}",
        keys.setting()
    )
}

#[test]
fn a_principal_over_its_bucket_gets_429_and_others_go_on() {
    let recorder = Recorder::start();
    let keys = KeyFile::new(
        "rates",
        &[("alice", "alice-secret-key"), ("bob", "bob-key-2")],
    );
    let proxy = proxy_on(
        &recorder,
        1,
        &keys_lines(&keys, "rate = \"1/h\"\nburst = 3\n"),
    );
    let alice = [("X-API-Key", "alice-secret-key")];
    let bob = [("X-API-Key", "bob-key-2")];
    let mut conn = proxy.conn();
    let sid = initialize(&mut conn, &alice).unwrap(); // 1
    let list = |id: i64| mcp::request(json!(id), "tools/list", json!({}));
    for id in [2, 3] {
        let answer = conn.request("POST", PATH, &in_session(&sid, &alice), &list(id));
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
    }
    // Notifications draw nothing.
    let note = mcp::notification("notifications/initialized");
    let answer = conn.request("POST", PATH, &in_session(&sid, &alice), &note);
    assert_eq!(answer.head.status, 202, "{}", answer.describe());
    let answer = conn.request("POST", PATH, &in_session(&sid, &alice), &list(4));
    mcp::assert_error(&answer, 429, RATE_LIMITED, &json!(4));
    let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&retry), "Retry-After {retry}");
    // The connection stays usable, and Bob has his own bucket.
    initialize(&mut conn, &bob).unwrap();
}

#[test]
fn per_tool_buckets_limit_calls_of_matching_tools_only() {
    let recorder = Recorder::start();
    let keys = KeyFile::new("tools", &[("alice", "alice-secret-key")]);
    let limit = "per_tool = { \"ech*\" = \"1/h\" }\n";
    let proxy = proxy_on(&recorder, 1, &keys_lines(&keys, limit));
    let alice = [("X-API-Key", "alice-secret-key")];
    let mut conn = proxy.conn();
    let sid = initialize(&mut conn, &alice).unwrap();
    let answer = conn.request(
        "POST",
        PATH,
        &in_session(&sid, &alice),
        &mcp::echo(json!(1), "a"),
    );
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let answer = conn.request(
        "POST",
        PATH,
        &in_session(&sid, &alice),
        &mcp::echo(json!(2), "b"),
    );
    mcp::assert_error(&answer, 429, RATE_LIMITED, &json!(2));
    let list = mcp::request(json!(3), "tools/list", json!({}));
    let answer = conn.request("POST", PATH, &in_session(&sid, &alice), &list);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
}

#[test]
fn two_shards_share_one_bucket_per_principal() {
    let recorder = Recorder::start();
    let keys = KeyFile::new("shards", &[("alice", "alice-secret-key")]);
    let proxy = proxy_on(
        &recorder,
        2,
        &keys_lines(&keys, "rate = \"1/h\"\nburst = 5\n"),
    );
    let alice = [("X-API-Key", "alice-secret-key")];
    // Stateless-looking initializes on fresh connections: the kernel spreads them over both
    // shards; the bucket is on one of them.
    let mut admitted = 0;
    let mut limited = 0;
    for _ in 0..16 {
        match initialize(&mut proxy.conn(), &alice) {
            Ok(_) => admitted += 1,
            Err(answer) => {
                assert_eq!(answer.head.status, 429, "{}", answer.describe());
                limited += 1;
            }
        }
    }
    assert_eq!((admitted, limited), (5, 11));
    // Some connections landed on the shard that does not own Alice's bucket and asked.
    assert!(proxy.metric("shadowcat_rate_limit_asked_total") > 0.0);
    let undecided = proxy.metric("shadowcat_rate_limit_undecided_total");
    assert_eq!(undecided, 0.0, "every question got its answer");
}
