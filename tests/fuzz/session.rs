//! Session ids from clients: the `Mcp-Session-Id` parser (`session::id::SessionId::parse`) and
//! the legacy `POST /messages?sessionId=ID` query (`proxy::legacy::messages_session`). Any bytes:
//! no panic, and the answer is the one a plain reading of the rule gives.
//!
//! Not here: minting ids (needs the ring, not input).

use proptest::prelude::*;
use shadowcat::config::{from_toml_str, Config, ListenerId};
use shadowcat::http::{parse_request, Limits};
use shadowcat::proxy::legacy::messages_session;
use shadowcat::session::id::{SessionId, SESSION_ID_LEN};

use crate::common::check;

#[test]
fn session_ids_are_exactly_32_lowercase_hex() {
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[0-9a-fA-G]{30,34}".prop_map(String::into_bytes),
        "[0-9a-f]{32}".prop_map(String::into_bytes),
    ];
    check("session_id_parse", 2000, value, |value| {
        let expected = value.len() == SESSION_ID_LEN
            && value.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let parsed = SessionId::parse(&value);
        prop_assert_eq!(parsed.is_some(), expected);
        if let Some(id) = parsed {
            prop_assert_eq!(id.as_bytes(), &value[..]);
            prop_assert_eq!(id.as_str().as_bytes(), &value[..]);
            let _ = format!("{id:?}");
        }
        Ok(())
    });
}

fn legacy_config() -> Config {
    from_toml_str(
        "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
         [listeners.main]\nbind = \"127.0.0.1:8080\"\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"demo\"\n\
         legacy_sse = true\nsse_path = \"/sse\"\nmessages_path = \"/messages\"\n",
        "fuzz.toml",
    )
    .unwrap()
}

/// The rule, read plainly: on the messages path, the value of the first `&`-separated pair whose
/// name is exactly `sessionId` (no decoding: ids are hex).
fn reference(target: &[u8]) -> Option<&[u8]> {
    let at = target.iter().position(|b| *b == b'?');
    let (path, query) = match at {
        Some(at) => (&target[..at], Some(&target[at + 1..])),
        None => (target, None),
    };
    if path != b"/messages" {
        return None;
    }
    query?.split(|b| *b == b'&').find_map(|pair| {
        let eq = pair.iter().position(|b| *b == b'=')?;
        (&pair[..eq] == b"sessionId").then(|| &pair[eq + 1..])
    })
}

#[test]
fn the_legacy_session_query_is_read_like_the_reference() {
    let pair = prop_oneof![
        3 => "[a-zA-Z0-9%=]{0,12}".prop_map(|v| format!("sessionId={v}")),
        1 => Just("sessionId".to_owned()),
        1 => Just("sessionid=x".to_owned()),
        2 => "[!-~&&[^&#]]{0,16}",
        1 => Just(String::new()),
    ];
    let target = (
        prop::sample::select(vec![
            "/messages",
            "/messages/",
            "/sse",
            "/mcp",
            "/Messages",
            "/messages%3F",
        ]),
        prop::option::of(prop::collection::vec(pair, 0..5)),
        prop::option::of("[!-~]{0,12}"),
    )
        .prop_map(|(path, pairs, raw)| {
            let mut target = path.to_owned();
            if let Some(pairs) = pairs {
                target.push('?');
                target.push_str(&pairs.join("&"));
            }
            target.push_str(raw.as_deref().unwrap_or(""));
            target
        });
    let config = legacy_config();
    check("session_legacy_query", 2000, target, |target| {
        let wire = format!("POST {target} HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        let Ok(Some((head, _))) = parse_request(wire.as_bytes(), &Limits::default()) else {
            return Ok(()); // a target httparse refuses never reaches the router
        };
        prop_assert_eq!(
            messages_session(&config, ListenerId::FIRST, &head),
            reference(head.target())
        );
        Ok(())
    });
}

#[test]
fn arbitrary_targets_never_panic_the_legacy_router() {
    let config = legacy_config();
    check(
        "session_legacy_arbitrary",
        2000,
        prop::collection::vec(0x21u8..=0xff, 0..64),
        |target| {
            let mut wire = b"POST ".to_vec();
            wire.extend_from_slice(&target);
            wire.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
            if let Ok(Some((head, _))) = parse_request(&wire, &Limits::default()) {
                prop_assert_eq!(
                    messages_session(&config, ListenerId::FIRST, &head),
                    reference(head.target())
                );
            }
            Ok(())
        },
    );
}
