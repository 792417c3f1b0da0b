//! The transport-neutral steps both legacy client transports share: what an `initialize`
//! declares ([`Hello`]) and where each later message goes ([`route`]).

use super::*;
use crate::mcp::{jsonrpc, Inspector};
use crate::pipeline::facts;
use crate::proxy::l2m::discover;

fn session() -> L2mSession {
    let found = discover::parse(
        br#"{"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"ttlMs":0,"cacheScope":"private"}}"#,
    )
    .unwrap();
    let hello = Hello::read(br#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#).unwrap();
    L2mSession::new(
        (
            crate::config::UpstreamId::test(0),
            crate::session::Principal::anonymous(),
        ),
        Rc::new(crate::config::UpstreamUrl {
            tls: false,
            host: "127.0.0.1".into(),
            port: 9,
            path: "/mcp".into(),
            authority: "127.0.0.1:9".into(),
            addrs: Vec::new(),
        }),
        hello.version(),
        hello.capabilities,
        hello.client_info,
        Rc::new(found),
    )
}

fn routed(session: &L2mSession, body: &str) -> Route {
    let facts = facts(Inspector::new().inspect(body.as_bytes()).unwrap());
    let message = facts.message().expect("one message");
    route(session, body.as_bytes(), &facts, message)
}

fn local(session: &L2mSession, body: &str) -> serde_json::Value {
    match routed(session, body) {
        Route::Local(answer) => serde_json::from_slice(&answer).unwrap(),
        other => panic!("not answered locally: {other:?}"),
    }
}

#[test]
fn hello_keeps_what_the_client_declared_and_fills_the_rest() {
    let hello = Hello::read(
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{"sampling":{}},"clientInfo":{"name":"c","version":"1"}}}"#,
    )
    .unwrap();
    assert_eq!(hello.version(), ProtocolVersion::V2024_11_05);
    assert_eq!(hello.meta().capabilities.get(), r#"{"sampling":{}}"#);
    assert_eq!(
        hello.meta().client_info.get(),
        r#"{"name":"c","version":"1"}"#
    );
    assert!(hello.meta().log_level.is_none());

    let bare = Hello::read(br#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#).unwrap();
    assert_eq!(bare.meta().capabilities.get(), "{}");
    assert_eq!(bare.version(), ProtocolVersion::negotiate(b""));
}

#[test]
fn local_requests_are_answered_here() {
    let s = session();
    assert_eq!(
        local(&s, r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#),
        serde_json::json!({"jsonrpc": "2.0", "id": "p", "result": {}})
    );
    let set = r#"{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"error"}}"#;
    assert_eq!(local(&s, set)["result"], serde_json::json!({}));
    assert_eq!(s.log_level.borrow().as_deref(), Some("error"));
    let bad = r#"{"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"loud"}}"#;
    assert_eq!(local(&s, bad)["error"]["code"], jsonrpc::INVALID_PARAMS);
    let again = r#"{"jsonrpc":"2.0","id":4,"method":"initialize","params":{}}"#;
    assert_eq!(local(&s, again)["error"]["code"], jsonrpc::INVALID_REQUEST);
    let changed = s.resubscribe.borrow().clone();
    let sub = r#"{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"a://b"}}"#;
    assert_eq!(local(&s, sub)["result"], serde_json::json!({}));
    assert!(changed.is_fired(), "a new subscription reopens the listen");
    assert!(s.subscriptions.borrow().contains("a://b"));
}

#[test]
fn other_requests_go_upstream_and_the_rest_is_accepted() {
    let s = session();
    let call = r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo"}}"#;
    assert!(matches!(
        routed(&s, call),
        Route::Upstream(JsonRpcId::Number(6))
    ));
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert!(matches!(routed(&s, note), Route::Accepted));
}

#[test]
fn a_client_response_reaches_the_exchange_waiting_for_it() {
    let s = session();
    let (tx, rx) = glommio::channels::local_channel::new_unbounded();
    let id = JsonRpcId::String("shadowcat-input-1".into());
    s.waiters.borrow_mut().insert(id.clone(), Rc::new(tx));
    let answer = r#"{"jsonrpc":"2.0","id":"shadowcat-input-1","result":{"ok":true}}"#;
    assert!(matches!(routed(&s, answer), Route::Accepted));
    assert!(s.waiters.borrow().is_empty(), "one answer per waiter");
    let (answered, bytes) = futures_lite::future::block_on(rx.recv()).unwrap();
    assert_eq!(answered, id);
    assert_eq!(bytes, answer.as_bytes());
    // An answer nobody waits for is accepted and dropped.
    assert!(matches!(routed(&s, answer), Route::Accepted));

    let cancel = Rc::new(shards::latch::Latch::default());
    s.inflight
        .borrow_mut()
        .insert(JsonRpcId::Number(9), cancel.clone());
    let cancelled =
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#;
    assert!(matches!(routed(&s, cancelled), Route::Accepted));
    assert!(cancel.is_fired());
}
