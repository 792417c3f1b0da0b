//! What the hostile-input suites (hostile_http.rs, hostile_json.rs) share: raw requests built
//! byte by byte, the one check every case makes (the answer, or the close, the case calls
//! for) and the one check after every case (a fresh client still gets its `tools/call`
//! answered).
//!
//! Not here: framing (client.rs), the MCP shapes of valid traffic (mcp.rs).

use serde_json::{json, Value};

use crate::client::{Conn, Response};
use crate::harness::Proxy;
use crate::mcp::{self, assert_error, Session};

/// What the proxy must do with a hostile request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// An error answer through the error funnel (HTTP status, JSON-RPC code, id `null`), after
    /// which the proxy closes: it cannot know where the next request would start.
    Refused(u16, i64),
    /// The same error answer, echoing the request's id when it has one the proxy trusts, on
    /// a connection that stays open: the whole body was read.
    RefusedKeepsAlive(u16, i64, Option<i64>),
    /// The request is valid, however odd: answered 200 with the echo's text.
    Echoed(&'static str),
}

/// `POST /mcp` in `session` with `body`, as raw bytes (`Content-Length` exact).
pub(crate) fn post_bytes(session: &Session, body: &[u8]) -> Vec<u8> {
    post_with(
        session,
        &format!("Content-Length: {}\r\n", body.len()),
        body,
    )
}

/// `POST /mcp` in `session` with `framing` (header lines ending in CRLF) and `body` as given.
pub(crate) fn post_with(session: &Session, framing: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {}\r\nContent-Type: application/json\r\n\
         Mcp-Session-Id: {}\r\nMCP-Protocol-Version: {}\r\n{framing}\r\n",
        mcp::PATH,
        mcp::ACCEPT_BOTH,
        session.id,
        mcp::VERSION
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// A `tools/call echo` body with `arguments` spliced in as raw JSON text.
pub(crate) fn echo_with(arguments: &str) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\
         \"params\":{{\"name\":\"echo\",\"arguments\":{arguments}}}}}"
    )
    .into_bytes()
}

/// A connection with a fresh session on it, ready for a hostile request.
pub(crate) fn session_conn(proxy: &Proxy) -> (Conn, Session) {
    let mut conn = proxy.conn();
    let session = mcp::open_session(&mut conn);
    (conn, session)
}

/// JSON-RPC code of every refusal made before the body was parsed.
pub(crate) const INVALID_REQUEST: i64 = -32600;

/// Opens a session, sends `raw` in it, checks the proxy does what `expect` says, and checks it
/// still serves a fresh client.
pub(crate) fn case(proxy: &Proxy, raw: impl FnOnce(&Session) -> Vec<u8>, expect: Expect) {
    let (mut conn, session) = session_conn(proxy);
    // A write error means the proxy refused before reading everything: its answer is read next.
    let _ = conn.try_send_raw(&raw(&session));
    expect_then_serves(proxy, &mut conn, expect);
}

/// Reads what the proxy said on `conn` (an answer or a close), checks it against `expect`, and
/// checks the proxy still serves a fresh client.
pub(crate) fn expect_then_serves(proxy: &Proxy, conn: &mut Conn, expect: Expect) {
    let answer = conn.response_or_close("POST");
    check(conn, answer.as_ref(), expect);
    still_serves(proxy);
}

/// Checks one outcome against `expect`.
fn check(conn: &mut Conn, answer: Option<&Response>, expect: Expect) {
    let answer = answer.unwrap_or_else(|| panic!("closed without an answer, expected {expect:?}"));
    match expect {
        Expect::Refused(status, code) => {
            assert_error(answer, status, code, &Value::Null);
            assert!(!answer.head.keeps_alive(), "{}", answer.describe());
            assert!(conn.closed_by_peer(), "open after {}", answer.describe());
        }
        Expect::RefusedKeepsAlive(status, code, id) => {
            assert_error(
                answer,
                status,
                code,
                &id.map_or(Value::Null, |id| json!(id)),
            );
            assert!(answer.head.keeps_alive(), "{}", answer.describe());
        }
        Expect::Echoed(text) => {
            assert_eq!(answer.head.status, 200, "{}", answer.describe());
            let messages = answer.messages();
            let last = messages.last().expect("an answer message");
            assert_eq!(mcp::result_text(last), text, "{last}");
        }
    }
}

/// A new client on a new connection: `initialize`, then `tools/call` answered 200.
pub(crate) fn still_serves(proxy: &Proxy) {
    let (mut conn, session) = session_conn(proxy);
    let answer = session.post(&mut conn, &mcp::echo(json!(1), "still here"));
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(mcp::result_text(&answer.json()), "still here");
}

/// A deterministic pseudo-random sequence (SplitMix64): the same cases on every run, no
/// dependency.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value in `0..bound`.
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % bound as u64) as usize
    }
}
