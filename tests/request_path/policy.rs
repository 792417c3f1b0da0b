//! Authorization (issue 10): a route's policy rules judge each caller's requests. A tool denied
//! to a caller vanishes from that caller's `tools/list` and a call to it gets the unknown-tool
//! error, without reaching the upstream; a denied method gets `-32601`; rules about claims
//! read the caller's token; other callers are not affected.

use serde_json::{json, Value};

use crate::auth::{bearer, claims, in_session, initialize, proxy, KeyFile};
use crate::client::Conn;
use crate::issuer::{Issuer, SigningKey};
use crate::mcp::{self, assert_error, PATH};
use crate::recorder::Recorder;

/// The tool names of a `tools/list` answer.
fn listed(conn: &mut Conn, sid: &str, credential: &[(&str, &str)]) -> Vec<String> {
    let list = mcp::request(json!(5), "tools/list", json!({}));
    let answer = conn.request("POST", PATH, &in_session(sid, credential), &list);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let message = answer.messages().pop().expect("an answer");
    message["result"]["tools"]
        .as_array()
        .expect("a listing")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn denied_tools_and_methods_are_unknown_to_that_caller_only() {
    let recorder = Recorder::start();
    let keys = KeyFile::new(
        "policy",
        &[("alice", "alice-secret-key"), ("bob", "bob-key-2")],
    );
    let proxy = proxy(
        &recorder,
        &format!(
            "{}\n\
             [[listeners.main.routes.policy]]\naction = \"allow\"\nprincipals = [\"alice\"]\n\
             [[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"ec*\"]\n\
             [[listeners.main.routes.policy]]\naction = \"deny\"\nmethods = [\"resources/*\"]\n",
            keys.setting()
        ),
    );
    let alice = [("X-API-Key", "alice-secret-key")];
    let bob = [("X-API-Key", "bob-key-2")];
    let mut conn = proxy.conn();
    let alice_sid = initialize(&mut conn, &alice).unwrap();
    let bob_sid = initialize(&mut conn, &bob).unwrap();
    recorder.until("POST", Some("initialize"));
    recorder.until("POST", Some("initialize"));

    assert_eq!(listed(&mut conn, &alice_sid, &alice), ["echo"]);
    assert!(listed(&mut conn, &bob_sid, &bob).is_empty());
    let call = mcp::echo(json!(6), "hi");
    let answer = conn.request("POST", PATH, &in_session(&bob_sid, &bob), &call);
    assert_error(&answer, 200, -32602, &json!(6));
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("echo"));
    let read = mcp::request(json!(7), "resources/read", json!({"uri": "file:///x"}));
    let answer = conn.request("POST", PATH, &in_session(&bob_sid, &bob), &read);
    assert_error(&answer, 200, -32601, &json!(7));
    // Alice calls it; the upstream saw her listings and call, never Bob's refused ones.
    let answer = conn.request("POST", PATH, &in_session(&alice_sid, &alice), &call);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let (_, before) = recorder.until("POST", Some("tools/call"));
    let methods: Vec<_> = before.iter().filter_map(|h| h.rpc.as_deref()).collect();
    // Both listings went upstream (Bob's answer was cut on its way back); Bob's refused call
    // and read did not.
    assert_eq!(methods, ["tools/list", "tools/list"], "{methods:?}");
}

#[test]
fn rules_about_claims_read_the_callers_token() {
    let recorder = Recorder::start();
    let key = SigningKey::new("k1");
    let issuer = Issuer::start(&[&key]);
    let proxy = proxy(
        &recorder,
        &format!(
            "issuer = {:?}\n\
             [[listeners.main.routes.policy]]\naction = \"allow\"\nclaims = {{ groups = [\"admins\"] }}\n\
             [[listeners.main.routes.policy]]\naction = \"allow\"\nmethods = [\"initialize\", \"notifications/*\", \"tools/list\", \"ping\"]\n\
             [[listeners.main.routes.policy]]\naction = \"deny\"\n",
            issuer.url
        ),
    );
    let token = |sub: &str, groups: Value| {
        let mut c = claims(&issuer, &proxy, sub, "");
        c["groups"] = groups;
        bearer(&key.sign(&c))
    };
    let admin = token("ada", json!(["staff", "admins"]));
    let staff = token("sam", json!("staff"));
    let mut conn = proxy.conn();
    let admin_sid = initialize(&mut conn, &[("Authorization", &admin)]).unwrap();
    let staff_sid = initialize(&mut conn, &[("Authorization", &staff)]).unwrap();
    assert_eq!(
        listed(&mut conn, &admin_sid, &[("Authorization", &admin)]),
        ["echo"]
    );
    assert!(listed(&mut conn, &staff_sid, &[("Authorization", &staff)]).is_empty());
    let call = mcp::echo(json!(8), "hi");
    let answer = conn.request(
        "POST",
        PATH,
        &in_session(&staff_sid, &[("Authorization", &staff)]),
        &call,
    );
    assert_error(&answer, 200, -32602, &json!(8));
    let answer = conn.request(
        "POST",
        PATH,
        &in_session(&admin_sid, &[("Authorization", &admin)]),
        &call,
    );
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(mcp::result_text(&answer.json()), "recorded");
}
