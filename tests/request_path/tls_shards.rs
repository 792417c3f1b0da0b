//! A TLS listener on two shards (issues 12, 13): a TLS connection cannot move to the shard
//! owning its request's session, so the shard it landed on either relays its plaintext to the
//! owner over a local socket pair (`runtime.hops = "move"`, `shadowcat_tls_tunnels_total`) or,
//! by default, forwards each such request there (`shadowcat_hops_forwarded_total`). Each test
//! runs both ways. Sessions minted on both shards are used over one keep-alive TLS connection
//! and over many; SSE answers (a POST's progress, a GET stream's notifications) pass through as
//! they come; a client certificate's principal comes along (another certificate's request for a
//! session is still a 404 on its owner); a 2026-07-28 retry whose exchange the other shard holds
//! goes there too; every relay ends with its connection.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::Conn;
use crate::harness::Proxy;
use crate::mcp;
use crate::tls_peer::{TempFile, TestPki, TlsProxy};
use crate::translation::{sampling_retry, sampling_round};

/// Sessions (each minted on the shard its connection landed on): the chance that all belong
/// to one shard is 2^(1-SESSIONS).
const SESSIONS: usize = 16;

/// How a request reaches the shard owning it.
#[derive(Debug, Clone, Copy)]
enum Hop {
    /// `hops = "move"`: the TLS connection is relayed to the owner.
    Relay,
    /// `hops = "auto"` (the default): each request is forwarded to the owner.
    Forward,
}

impl Hop {
    fn runtime(self) -> &'static str {
        match self {
            Hop::Relay => "hops = \"move\"",
            Hop::Forward => "hops = \"auto\"",
        }
    }
}

/// Two shards with a TLS listener (`extra` lines on it) in front of `upstream`, hopping `hop`.
fn two_shards(pki: &TestPki, extra: &str, upstream: Option<&str>, hop: Hop) -> Proxy {
    let base = TlsProxy::default();
    TlsProxy {
        shards: 2,
        extra,
        upstream: upstream.unwrap_or(base.upstream),
        runtime: hop.runtime(),
        ..base
    }
    .start(pki)
}

/// Whether some request went to the other shard (the way `hop` says).
fn hopped(proxy: &Proxy, hop: Hop) -> bool {
    match hop {
        Hop::Relay => proxy.metric("shadowcat_tls_tunnels_total") > 0.0,
        Hop::Forward => proxy.metric("shadowcat_hops_forwarded_total") > 0.0,
    }
}

/// Checks that requests went to the other shard only the way `hop` says, and that every relay
/// has ended (their connections are closed).
fn hops_all_done(proxy: &Proxy, hop: Hop) {
    match hop {
        Hop::Relay => relays_all_ended(proxy),
        Hop::Forward => {
            let forwarded = proxy.metric("shadowcat_hops_forwarded_total");
            assert!(forwarded >= 1.0, "no request was forwarded");
            assert_eq!(proxy.metric("shadowcat_hops_total"), forwarded);
            assert_eq!(proxy.metric("shadowcat_tls_tunnels_total"), 0.0);
        }
    }
}

/// Both ways of each test below.
macro_rules! both_ways {
    ($($name:ident => $body:ident;)*) => {
        mod relayed {
            $(#[test]
            fn $name() {
                super::$body(super::Hop::Relay);
            })*
        }
        mod forwarded {
            $(#[test]
            fn $name() {
                super::$body(super::Hop::Forward);
            })*
        }
    };
}

both_ways! {
    sessions_of_both_shards_are_served_over_one_tls_connection_and_many => one_and_many;
    a_posts_progress_passes_through_event_by_event => progress;
    a_get_stream_receives_the_sessions_notifications => get_stream;
    a_client_certificate_principal_comes_along_to_the_owner => principal;
    a_retry_whose_exchange_the_other_shard_holds_goes_to_it => retry;
}

/// A new TLS connection to `proxy` (showing `pki`'s client certificate when `mtls`).
fn tls_conn(proxy: &Proxy, pki: &TestPki, mtls: bool) -> Conn {
    Conn::connect_tls(proxy.addr, pki.client_config(mtls.then_some(pki)))
}

/// [`SESSIONS`] sessions, each opened on a new TLS connection.
fn sessions(proxy: &Proxy, pki: &TestPki) -> Vec<mcp::Session> {
    (0..SESSIONS)
        .map(|_| mcp::open_session(&mut tls_conn(proxy, pki, false)))
        .collect()
}

/// Waits until every relay has ended (their connections are closed) and checks there were
/// some.
fn relays_all_ended(proxy: &Proxy) {
    let opened = proxy.metric("shadowcat_tls_tunnels_total");
    assert!(opened >= 1.0, "no TLS connection was relayed");
    proxy.await_metric(
        "shadowcat_tls_tunnels_closed_total",
        |closed| closed == opened,
        "relays outlive their connections",
    );
    let hops = proxy.metric("shadowcat_hops_total");
    assert!(hops >= opened, "a relay is a hop: {hops} < {opened}");
}

fn one_and_many(hop: Hop) {
    let pki = TestPki::new("shadowcat test CA");
    let proxy = two_shards(&pki, "", None, hop);
    let sessions = sessions(&proxy, &pki);
    // Minted where they landed: nothing hopped yet.
    assert_eq!(proxy.metric("shadowcat_hops_total"), 0.0);
    // One keep-alive connection going round all of them twice: relayed, its relayed end moves
    // on by the ordinary handoff whenever the owner changes; forwarded, it stays. The second
    // round's messages span many relay buffers both ways.
    let mut conn = tls_conn(&proxy, &pki, false);
    for round in 0..2 {
        for (i, session) in sessions.iter().enumerate() {
            let text = format!("r{round}s{i}{}", "x".repeat(round * 100_000));
            let answer = session.post(&mut conn, &mcp::echo(json!(i), &text));
            assert_eq!(answer.head.status, 200, "{}", answer.describe());
            assert_eq!(mcp::result_text(&answer.json()), text);
        }
    }
    drop(conn);
    // Many connections, two requests each.
    for (i, session) in sessions.iter().enumerate() {
        let mut conn = tls_conn(&proxy, &pki, false);
        for j in 0..2 {
            let text = format!("c{i}r{j}");
            let answer = session.post(&mut conn, &mcp::echo(json!(j), &text));
            assert_eq!(mcp::result_text(&answer.json()), text);
        }
    }
    assert_eq!(proxy.metric("shadowcat_sessions_active"), SESSIONS as f64);
    hops_all_done(&proxy, hop);
    proxy.stop();
}

fn progress(hop: Hop) {
    let pki = TestPki::new("shadowcat test CA");
    let proxy = two_shards(&pki, "", None, hop);
    for (i, session) in sessions(&proxy, &pki).iter().enumerate() {
        let mut conn = tls_conn(&proxy, &pki, false);
        let token = format!("p{i}");
        let slow = mcp::request(
            json!(i),
            "tools/call",
            json!({"name": "slow", "arguments": {"steps": 2, "delay_ms": 1},
                   "_meta": {"progressToken": token}}),
        );
        let head = conn.sse_head("POST", mcp::PATH, &session.post_headers(), &slow);
        let mut events = conn.events(&head);
        for step in 1..=2 {
            let message = events.expect_event("a progress notification").json();
            assert_eq!(
                message["params"]["progressToken"],
                json!(token),
                "{message}"
            );
            assert_eq!(message["params"]["progress"], json!(step), "{message}");
        }
        let result = events.expect_event("the tool result").json();
        assert_eq!(result["id"], json!(i), "{result}");
        assert!(events.ended());
        // The connection goes on after the stream.
        let again = session.post(&mut conn, &mcp::echo(json!(99), "after"));
        assert_eq!(mcp::result_text(&again.json()), "after");
    }
    hops_all_done(&proxy, hop);
    proxy.stop();
}

/// A stdio child answering `initialize` and `tools/list`, and each `tools/call` with a result
/// and then a notification no call explains (it goes to the session's GET stream).
const NOTIFIES_AFTER_CALLS: &str = r#"
while IFS= read -r line; do
  id=$(printf '%s\n' "$line" | sed -n 's/.*"id":\([^,}]*\).*/\1/p')
  case "$line" in
    *'"method":"initialize"'*) printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{\"listChanged\":true}},\"serverInfo\":{\"name\":\"script\",\"version\":\"1\"}}}" ;;
    *'"method":"tools/list"'*) printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"tools\":[]}}" ;;
    *'"method":"tools/call"'*)
      printf '%s\n' "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"content\":[]}}"
      printf '%s\n' "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}" ;;
  esac
done
"#;

fn get_stream(hop: Hop) {
    let pki = TestPki::new("shadowcat test CA");
    let script = TempFile::new(NOTIFIES_AFTER_CALLS.as_bytes());
    let upstream = format!(
        "[upstreams.demo]\ncommand = [\"sh\", {}]\nrequest_timeout = \"10s\"\n\
         warm = 0\nmax = {SESSIONS}\nkill_grace = \"1s\"\n",
        script.toml()
    );
    let proxy = two_shards(&pki, "", Some(&upstream), hop);
    let mut open = Vec::new();
    for (i, session) in sessions(&proxy, &pki).iter().enumerate() {
        let mut stream = tls_conn(&proxy, &pki, false);
        let head = stream.sse_head("GET", mcp::PATH, &session.get_headers(), b"");
        let mut events = stream.events(&head);
        let call = mcp::request(json!(i), "tools/call", json!({"name": "x"}));
        let answer = session.post(&mut tls_conn(&proxy, &pki, false), &call);
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        let note = events.expect_event("the list change notification").json();
        assert_eq!(note["method"], "notifications/tools/list_changed", "{note}");
        open.push((stream, head));
    }
    assert!(hopped(&proxy, hop), "no stream went to the other shard");
    // Shutdown ends the streams, relayed or not, and no relay holds it up until its grace
    // (2 s) is over: the owner closes its end, and the relay ends with it.
    let stopping = Instant::now();
    proxy.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    for (mut stream, head) in open {
        assert!(
            stream.events(&head).ended(),
            "shutdown ends every GET stream"
        );
    }
}

fn principal(hop: Hop) {
    let pki = TestPki::new("shadowcat mTLS CA");
    let other = pki.client_named("mallory");
    let mtls = format!("tls_client_ca = {}", pki.ca.toml());
    let proxy = two_shards(&pki, &mtls, None, hop);
    // Sessions of the PKI's client certificate, minted on both shards.
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|_| mcp::open_session(&mut tls_conn(&proxy, &pki, true)))
        .collect();
    let mut mine = tls_conn(&proxy, &pki, true);
    let mut theirs = Conn::connect_tls(proxy.addr, pki.client_config_with(Some(&other)));
    for (i, session) in sessions.iter().enumerate() {
        let answer = session.post(&mut mine, &mcp::echo(json!(i), "mine"));
        assert_eq!(mcp::result_text(&answer.json()), "mine");
        // Another certificate's request finds no session, relayed or not (on the owner, as
        // the principal it came with), and its connection goes on.
        let answer = session.post(&mut theirs, &mcp::echo(json!(i), "theirs"));
        mcp::assert_error(&answer, 404, -32001, &json!(i));
    }
    drop((mine, theirs));
    hops_all_done(&proxy, hop);
    proxy.stop();
}

fn retry(hop: Hop) {
    let pki = TestPki::new("shadowcat test CA");
    let upstream = format!(
        "[upstreams.demo]\ncommand = [{:?}, \"demo-server\", \"--stdio\"]\n\
         request_timeout = \"10s\"\nwarm = 1\nmax = 16\nkill_grace = \"1s\"\n",
        env!("CARGO_BIN_EXE_shadowcat")
    );
    let proxy = two_shards(&pki, "", Some(&upstream), hop);
    // Each round's retry lands on either shard; the one holding its exchange is where the
    // round was asked.
    for _ in 0..SESSIONS {
        let round = sampling_round(&mut tls_conn(&proxy, &pki, false));
        sampling_retry(&mut tls_conn(&proxy, &pki, false), &round);
        if hopped(&proxy, hop) {
            break;
        }
    }
    hops_all_done(&proxy, hop);
    proxy.stop();
}
