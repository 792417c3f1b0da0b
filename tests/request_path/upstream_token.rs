//! OAuth tokens towards an upstream (`[upstreams.NAME.oauth]`) on the request path, against
//! the test issuer (issuer.rs: its `/exchange` names the caller token it exchanged) and a
//! recording upstream:
//!
//! - token exchange: two clients of one user with different access tokens, their requests
//!   interleaved, each reach the upstream with the token exchanged for its own caller token;
//! - requests arriving at once with one new token wait for one exchange;
//! - the exchange happens only for a request that goes upstream: a call the policy denies gets
//!   the policy's answer with the authorization server down, and no exchange is asked for; the
//!   audit record of a request whose exchange fails names the caller;
//! - an upstream's 401 to a legacy HTTP+SSE client's message counts as a refused token
//!   (`shadowcat_upstream_token_refusals_total`), as on the other transports.

use serde_json::json;

use crate::audit::{await_lines, summary, AuditFile};
use crate::auth::{bearer, claims, in_session, initialize};
use crate::harness::{Proxy, IO_PATH};
use crate::issuer::{exchanged_for, Issuer, SigningKey};
use crate::mcp::{self, assert_error, PATH};
use crate::recorder::Recorder;

/// -32016: no token for the upstream (the authorization server cannot be reached).
const TOKEN_UNAVAILABLE: i64 = -32016;

/// One shard: `/mcp` (legacy SSE too) with `route_lines` under the route (its `auth`,
/// policies) to the recorder, with `oauth_lines` under `[upstreams.rec.oauth]` (and `tables`
/// after it: `[audit]`).
fn proxy(recorder: &Recorder, route_lines: &str, oauth_lines: &str) -> Proxy {
    let toml = format!(
        "[runtime]\nshards = 1\nio_memory = \"256KiB\"\nio = \"{IO_PATH}\"\n\n\
         [listeners.main]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"rec\"\nlegacy_sse = true\n\
         {route_lines}\n\n\
         [upstreams.rec]\nurl = \"http://{}/mcp\"\nrequest_timeout = \"10s\"\n\
         [upstreams.rec.oauth]\nclient_id = \"rp\"\nclient_secret_env = \"PATH\"\n{oauth_lines}\n\n\
         [timeouts]\nshutdown_grace = \"1s\"\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n",
        recorder.addr
    );
    Proxy::start_toml(&toml, 1, format!("upstream-token-{}", std::process::id()))
}

/// A route checking tokens of `issuer` with `policy`, an upstream exchanging them at
/// `exchange_url`, and top-level `tables` (`[audit]`).
fn exchanging_proxy(
    recorder: &Recorder,
    (issuer, exchange_url): (&Issuer, &str),
    (policy, tables): (&str, &str),
) -> Proxy {
    let route = format!(
        "[listeners.main.routes.auth]\nissuer = {:?}\n{policy}",
        issuer.url
    );
    let oauth = format!("token_url = \"{exchange_url}\"\ntoken_exchange = true\n{tables}");
    proxy(recorder, &route, &oauth)
}

#[test]
fn each_request_goes_with_the_exchange_of_its_own_callers_token() {
    let recorder = Recorder::start();
    let key = SigningKey::new("k1");
    let issuer = Issuer::start(&[&key]);
    issuer.exchanging();
    let exchange_url = format!("{}/exchange", issuer.url);
    let proxy = exchanging_proxy(&recorder, (&issuer, &exchange_url), ("", ""));
    // One user, two clients: a narrow token and a broad one.
    let narrow = key.sign(&claims(&issuer, &proxy, "carol", "mcp:tools"));
    let broad = key.sign(&claims(&issuer, &proxy, "carol", "mcp:tools mcp:admin"));
    let (narrow_auth, broad_auth) = (bearer(&narrow), bearer(&broad));
    let narrow_sent = bearer(&exchanged_for(&narrow));
    let broad_sent = bearer(&exchanged_for(&broad));
    assert_ne!(narrow_sent, broad_sent);
    let as_narrow = [("Authorization", narrow_auth.as_str())];
    let as_broad = [("Authorization", broad_auth.as_str())];

    let mut a = proxy.conn();
    let sid_a = initialize(&mut a, &as_narrow).unwrap();
    let (head, _) = recorder.until("POST", Some("initialize"));
    assert_eq!(head.values("authorization"), [narrow_sent.as_str()]);
    let mut b = proxy.conn();
    let sid_b = initialize(&mut b, &as_broad).unwrap();
    let (head, _) = recorder.until("POST", Some("initialize"));
    assert_eq!(head.values("authorization"), [broad_sent.as_str()]);

    // A calls (its token's exchange is the one at hand now), then A's next call: its head
    // (authenticated) now, its body only after B's whole call went through with the broad
    // token.
    let first = mcp::echo(json!("a0"), "from a");
    let answer = a.request("POST", PATH, &in_session(&sid_a, &as_narrow), &first);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let (head, _) = recorder.until("POST", Some("tools/call"));
    assert_eq!(head.values("authorization"), [narrow_sent.as_str()], "A");
    let call_a = mcp::echo(json!("a"), "from a");
    let mut head_a = format!("POST {PATH} HTTP/1.1\r\nHost: {}\r\n", proxy.addr);
    for (name, value) in in_session(&sid_a, &as_narrow) {
        head_a.push_str(&format!("{name}: {value}\r\n"));
    }
    head_a.push_str(&format!("Content-Length: {}\r\n\r\n", call_a.len()));
    a.send_raw(head_a.as_bytes());
    let call_b = mcp::echo(json!("b"), "from b");
    let answer = b.request("POST", PATH, &in_session(&sid_b, &as_broad), &call_b);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let (head, _) = recorder.until("POST", Some("tools/call"));
    assert_eq!(head.values("authorization"), [broad_sent.as_str()], "B");
    a.send_raw(&call_a);
    let answer = a.response("POST");
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let (head, _) = recorder.until("POST", Some("tools/call"));
    assert_eq!(head.values("authorization"), [narrow_sent.as_str()], "A");

    // A session's DELETE goes with the token of the request that sends it.
    let mut delete = in_session(&sid_a, &as_narrow);
    delete[0] = ("Accept", "text/event-stream");
    let answer = a.request("DELETE", PATH, &delete, b"");
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let (head, _) = recorder.until("DELETE", None);
    assert_eq!(head.values("authorization"), [narrow_sent.as_str()]);
    assert_eq!(
        issuer.fetches("/exchange"),
        2,
        "one exchange per caller token"
    );
}

/// Four `initialize`s with one new token sent before any answer is read, to a proxy whose
/// issuer answers exchanges when `exchanging` (else refuses them: 404); their statuses and the
/// exchanges the proxy asked for.
fn at_once(exchanging: bool) -> (Vec<u16>, f64) {
    let recorder = Recorder::start();
    let key = SigningKey::new("k1");
    let issuer = Issuer::start(&[&key]);
    if exchanging {
        issuer.exchanging();
    }
    let exchange_url = format!("{}/exchange", issuer.url);
    let proxy = exchanging_proxy(&recorder, (&issuer, &exchange_url), ("", ""));
    let token = key.sign(&claims(&issuer, &proxy, "erin", "mcp:tools"));
    let authorization = bearer(&token);
    let mut headers = mcp::fresh_headers();
    headers.push(("Authorization", &authorization));
    let mut conns: Vec<_> = (0..4).map(|_| proxy.conn()).collect();
    for conn in &mut conns {
        conn.send("POST", PATH, &headers, &mcp::initialize(json!(0)));
    }
    let statuses = conns
        .iter_mut()
        .map(|conn| conn.response("POST").head.status)
        .collect();
    assert_eq!(
        issuer.fetches("/exchange") as f64,
        proxy.metric("shadowcat_upstream_token_exchanges_total")
    );
    (
        statuses,
        proxy.metric("shadowcat_upstream_token_exchanges_total"),
    )
}

#[test]
fn requests_arriving_at_once_with_a_new_token_share_one_exchange() {
    assert_eq!(at_once(true), (vec![200; 4], 1.0));
    // A refusal reaches the requests that waited for it (a request arriving after it asks
    // again: refusals are not kept).
    let (statuses, exchanges) = at_once(false);
    assert_eq!(statuses, [403; 4]);
    assert!((1.0..=4.0).contains(&exchanges), "{exchanges}");
}

#[test]
fn a_denied_call_gets_the_policys_answer_without_an_exchange() {
    let recorder = Recorder::start();
    let key = SigningKey::new("k1");
    let issuer = Issuer::start(&[&key]);
    // The token endpoint cannot be reached (nothing listens on port 1): nor can the exchange
    // have been tried when the issuer's own `/exchange` counts none.
    let policy = "[[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"echo\"]\n";
    let audit = AuditFile::new("exchange");
    let tables = audit.table("");
    let unreachable = "http://127.0.0.1:1/exchange";
    let proxy = exchanging_proxy(&recorder, (&issuer, unreachable), (policy, &tables));
    let token = key.sign(&claims(&issuer, &proxy, "dave", "mcp:tools"));
    let authorization = bearer(&token);

    let call = mcp::modern_call(json!(1), "echo");
    let mut headers = call.headers();
    headers.push(("Authorization", &authorization));
    let answer = proxy.conn().request("POST", PATH, &headers, &call.body);
    assert_error(&answer, 200, -32602, &json!(1));
    assert_eq!(
        proxy.metric("shadowcat_upstream_token_exchanges_total"),
        0.0
    );

    // A request that goes upstream needs the exchange, which cannot happen now.
    let list = mcp::modern(json!(2), "tools/list", json!({}), None, json!({}));
    let mut headers = list.headers();
    headers.push(("Authorization", &authorization));
    let answer = proxy.conn().request("POST", PATH, &headers, &list.body);
    assert_error(&answer, 503, TOKEN_UNAVAILABLE, &json!(2));
    assert_eq!(
        proxy.metric("shadowcat_upstream_token_exchanges_total"),
        1.0
    );
    // Both audit records name the caller, the failed exchange's too.
    await_lines(&proxy, 2);
    let lines: Vec<String> = audit.lines().iter().map(summary).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("dave tools/call denied"), "{lines:?}");
    assert!(lines[1].starts_with("dave tools/list"), "{lines:?}");
}

#[test]
fn an_upstream_401_to_a_legacy_clients_message_refuses_the_token() {
    let recorder = Recorder::start();
    let issuer = Issuer::start(&[]);
    issuer.set(
        "/token",
        json!({"access_token": "cc-token", "token_type": "Bearer", "expires_in": 3600}),
    );
    let oauth = format!("token_url = \"{}/token\"", issuer.url);
    let proxy = proxy(&recorder, "", &oauth);
    let mut stream_conn = proxy.conn();
    let (mut events, endpoint) = crate::legacy::open_stream(&mut stream_conn);
    // The first token may still be on its way (503 on the POST, nothing sent upstream).
    let deadline = std::time::Instant::now() + crate::client::IO_TIMEOUT;
    loop {
        let answer = crate::legacy::post(&mut proxy.conn(), &endpoint, &mcp::initialize(json!(0)));
        if answer.head.status != 503 {
            assert_eq!(answer.head.status, 202, "{}", answer.describe());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no token in time");
        std::thread::yield_now();
    }
    let init = crate::legacy::next_message(&mut events, "the initialize answer");
    assert_eq!(init["id"], 0, "{init}");
    assert_eq!(proxy.metric("shadowcat_upstream_token_refusals_total"), 0.0);

    let refused = mcp::request(json!(1), "tools/call", json!({"name": "refuse"}));
    crate::legacy::post_accepted(&mut proxy.conn(), &endpoint, &refused);
    let (head, _) = recorder.until("POST", Some("tools/call"));
    assert_eq!(head.values("authorization"), ["Bearer cc-token"]);
    let error = crate::legacy::next_message(&mut events, "the refusal");
    assert_eq!(error["id"], 1, "{error}");
    proxy.await_metric(
        "shadowcat_upstream_token_refusals_total",
        |n| n == 1.0,
        "the 401 counts",
    );
}
