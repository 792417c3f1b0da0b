//! Hostile HTTP/1.1 on raw sockets: broken framing is refused with its status and the
//! connection closed (the proxy cannot know where the next request starts), slow clients are
//! cut off at the head timeout, pipelined requests are answered in order, bodies of GET and
//! DELETE are skipped, never parsed as requests, and randomly corrupted requests never get a
//! 5xx; after every case a fresh client is still served.
//!
//! Not here: bad JSON in a well-framed request (hostile_json.rs).

use std::time::Duration;

use serde_json::json;

use crate::harness::{Proxy, Setup, Upstream};
use crate::hostile::{
    case, expect_then_serves, post_bytes, post_with, session_conn, still_serves, Expect, Rng,
    INVALID_REQUEST,
};
use crate::mcp::{self, Session};

/// The head timeout of these proxies: short, so the slow-client cases wait little.
const HEAD_TIMEOUT: &str = "head = \"300ms\"";
/// Between two trickled bytes: well under the head timeout, so only the total runs out.
const GAP: Duration = Duration::from_millis(20);
/// Framing broken: 400, connection closed.
const BAD: Expect = Expect::Refused(400, INVALID_REQUEST);
/// A body over `max_body_bytes` (4 MiB): 413, connection closed.
const TOO_LARGE: Expect = Expect::Refused(413, INVALID_REQUEST);
/// A request line split from its body by a broken line: this ends every pipeline below.
const BARE_LF_REQUEST: &[u8] = b"POST /mcp HTTP/1.1\nHost: 127.0.0.1\n\n";

fn proxy() -> Proxy {
    Proxy::start(Setup::one(Upstream::Http).with_timeouts(HEAD_TIMEOUT))
}

fn echo_body() -> Vec<u8> {
    mcp::echo(json!(3), "ok")
}

/// One chunk of `size` (as written) holding `data`, then the last chunk.
fn chunked(size: &str, data: &[u8]) -> Vec<u8> {
    [format!("{size}\r\n").as_bytes(), data, b"\r\n0\r\n\r\n"].concat()
}

/// Sends each POST (framing header lines, body) in its own session, all on one proxy, which
/// must then stop cleanly (no shard panicked).
fn framed(cases: &[(&str, &[u8], Expect)]) {
    let proxy = proxy();
    for (framing, body, expect) in cases {
        case(&proxy, |s| post_with(s, framing, body), *expect);
    }
    proxy.stop();
}

#[test]
fn a_one_mebibyte_method_is_431() {
    let proxy = proxy();
    let method = "M".repeat(1 << 20);
    let raw = |s: &Session| {
        let mut raw = post_bytes(s, &echo_body());
        raw.splice(..4, method.bytes());
        raw
    };
    case(&proxy, raw, Expect::Refused(431, INVALID_REQUEST));
    proxy.stop();
}

#[test]
fn bad_framing_is_400() {
    let body = echo_body();
    let folded = format!("X-Folded: a\r\n b\r\nContent-Length: {}\r\n", body.len());
    let te = "Transfer-Encoding: chunked\r\n";
    let sizes = ["zz", "-1", "0x10", "fffffffffffffffffffff", "1 2", ""];
    let bad_chunks: Vec<_> = sizes.iter().map(|size| chunked(size, &body)).collect();
    let good_chunk = chunked(&format!("{:x}", body.len()), &body);
    let mut cases = vec![
        (
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            &b"0\r\n\r\n"[..],
            BAD,
        ),
        (&folded, &body, BAD),
        ("Content-Length: 5\r\nContent-Length: 5\r\n", &body, BAD),
        // The same body with a correct chunk size goes through.
        (te, &good_chunk, Expect::Echoed("ok")),
    ];
    cases.extend(bad_chunks.iter().map(|c| (te, &c[..], BAD)));
    framed(&cases);
}

#[test]
fn bad_content_lengths_are_400_and_large_ones_413() {
    let body = echo_body();
    let lengths = [
        ("99999999999999999999999", BAD),
        ("-1", BAD),
        ("+5", BAD),
        ("5, 5", BAD),
        ("0x10", BAD),
        ("18446744073709551615", TOO_LARGE),
        ("4194305", TOO_LARGE),
    ];
    let framings: Vec<_> = lengths
        .iter()
        .map(|(n, _)| format!("Content-Length: {n}\r\n"))
        .collect();
    let cases: Vec<_> = framings
        .iter()
        .zip(lengths)
        .map(|(framing, (_, expect))| (framing.as_str(), &body[..], expect))
        .collect();
    framed(&cases);
}

#[test]
fn chunks_past_the_body_limit_are_413() {
    let te = "Transfer-Encoding: chunked\r\n";
    let sizes = [
        "400001",
        "100000000",
        "7fffffffffffffff",
        "ffffffffffffffff",
    ];
    let huge: Vec<_> = sizes.iter().map(|s| chunked(s, b"{\"jsonrpc\"")).collect();
    // Small chunks adding up past the limit.
    let mut many = Vec::new();
    for _ in 0..5 {
        many.extend_from_slice(b"100000\r\n");
        many.extend(std::iter::repeat_n(b' ', 0x10_0000));
        many.extend_from_slice(b"\r\n");
    }
    let mut cases: Vec<_> = huge.iter().map(|c| (te, &c[..], TOO_LARGE)).collect();
    cases.push((te, &many, TOO_LARGE));
    framed(&cases);
}

#[test]
fn repeated_origin_and_protocol_version_headers_are_refused() {
    let body = echo_body();
    let framing = |extra: &str| format!("{extra}Content-Length: {}\r\n", body.len());
    // Refused before the body is read: closed.
    let foreign = Expect::Refused(403, INVALID_REQUEST);
    let origins = [
        framing("Origin: http://localhost\r\nOrigin: https://evil.example\r\n"),
        framing("Origin: https://evil.example\r\nOrigin: http://localhost\r\n"),
    ];
    // After the body: the connection stays, the id is echoed.
    let repeated = Expect::RefusedKeepsAlive(400, INVALID_REQUEST, Some(3));
    let versions = [
        framing("MCP-Protocol-Version: 1999-01-01\r\n"),
        framing("MCP-Protocol-Version: 2026-07-28\r\n"),
        framing("MCP-Protocol-Version: 2025-06-18\r\n"),
    ];
    let allowed_twice = framing("Origin: http://localhost\r\nOrigin: http://localhost\r\n");
    let mut cases: Vec<_> = origins
        .iter()
        .map(|f| (f.as_str(), &body[..], foreign))
        .collect();
    cases.extend(versions.iter().map(|f| (f.as_str(), &body[..], repeated)));
    cases.push((&allowed_twice, &body, Expect::Echoed("ok")));
    framed(&cases);
}

#[test]
fn bare_lf_line_endings_are_400() {
    let proxy = proxy();
    let body = echo_body();
    let bare_lf = |s: &Session| {
        let head = post_with(s, &format!("Content-Length: {}\r\n", body.len()), b"");
        let head = String::from_utf8(head).expect("ASCII head");
        [head.replace("\r\n", "\n").as_bytes(), &body].concat()
    };
    case(&proxy, bare_lf, BAD);
    proxy.stop();
}

/// Trickles the head (or, with `head_first`, sends it whole and trickles the body): the
/// proxy answers 408 once the head timeout has run out, and closes.
fn slowloris(head_first: bool) {
    let proxy = proxy();
    let (mut conn, session) = session_conn(&proxy);
    let body = echo_body();
    let raw = post_bytes(&session, &body);
    let (head, body) = raw.split_at(raw.len() - body.len());
    let slow = if head_first {
        conn.send_raw(head);
        body
    } else {
        head
    };
    assert!(conn.trickle(slow, GAP), "all sent at {GAP:?} a byte");
    expect_then_serves(&proxy, &mut conn, Expect::Refused(408, INVALID_REQUEST));
    proxy.stop();
}

#[test]
fn a_slowloris_head_gets_408_at_the_head_timeout() {
    slowloris(false);
}

#[test]
fn a_slowloris_body_gets_408_at_the_head_timeout() {
    slowloris(true);
}

/// Sends one echo per session (its id as the text) and a broken request, all in one write on
/// one connection: the echoes are answered in order, then the broken one is refused.
fn pipeline(proxy: &Proxy, sessions: &[Session]) {
    let mut conn = proxy.conn();
    let mut raw = Vec::new();
    for (n, session) in sessions.iter().enumerate() {
        raw.extend(post_bytes(session, &mcp::echo(json!(n), &session.id)));
    }
    raw.extend_from_slice(BARE_LF_REQUEST);
    conn.send_raw(&raw);
    for (n, session) in sessions.iter().enumerate() {
        let answer = conn.response("POST");
        let message = answer.json();
        assert_eq!(message["id"], json!(n), "{}", answer.describe());
        assert_eq!(mcp::result_text(&message), session.id);
    }
    expect_then_serves(proxy, &mut conn, BAD);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let proxy = proxy();
    let session = session_conn(&proxy).1;
    pipeline(&proxy, &[session.clone(), session.clone(), session]);
    proxy.stop();
}

#[test]
fn pipelined_requests_hopping_between_shards_are_answered_in_order() {
    let proxy = Proxy::start(Setup::two(Upstream::Http).with_timeouts(HEAD_TIMEOUT));
    // Sessions minted by whichever shard accepted: both owners appear (1 - 2^-15). Every
    // handoff carries the requests read ahead behind the one it moves for.
    let sessions: Vec<_> = (0..16).map(|_| session_conn(&proxy).1).collect();
    pipeline(&proxy, &sessions);
    assert!(proxy.metric("shadowcat_hops_total") >= 1.0);
    proxy.stop();
}

#[test]
fn get_and_delete_bodies_are_skipped_never_parsed_as_a_request() {
    let proxy = proxy();
    // The demo server has no GET stream (405); DELETE ends the session (200).
    for (method, status) in [("GET", 405), ("DELETE", 200)] {
        let (mut conn, session) = session_conn(&proxy);
        let inner = post_bytes(&session, &mcp::echo(json!("smuggled"), "smuggled"));
        let head = format!(
            "{method} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\
             Mcp-Session-Id: {}\r\nMCP-Protocol-Version: {}\r\nContent-Length: {}\r\n\r\n",
            mcp::PATH,
            session.id,
            mcp::VERSION,
            inner.len()
        );
        conn.send_raw(&[head.as_bytes(), &inner].concat());
        let answer = conn.response(method);
        assert_eq!(answer.head.status, status, "{}", answer.describe());
        // The next answer is to the next request, not to the body.
        let after = session.post(&mut conn, &mcp::echo(json!("after"), "after"));
        assert_eq!(after.json()["id"], json!("after"), "{}", after.describe());
        still_serves(&proxy);
    }
    proxy.stop();
}

#[test]
fn random_byte_flips_never_get_a_5xx() {
    let proxy = proxy();
    let mut rng = Rng::new(12);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..200 {
        let (mut conn, session) = session_conn(&proxy);
        let mut raw = post_bytes(&session, &echo_body());
        let at = rng.below(raw.len());
        raw[at] ^= 1 + rng.below(255) as u8;
        let _ = conn.try_send_raw(&raw);
        // Every corruption gets an answer (408 at worst, when a flip left the head or body
        // unfinished), and none is the proxy's fault.
        let answer = conn
            .response_or_close("POST")
            .unwrap_or_else(|| panic!("flip {round} at {at}: closed without an answer"));
        let status = answer.head.status;
        assert!(status < 500, "flip {round} at {at}: {}", answer.describe());
        *statuses.entry(status).or_default() += 1;
        still_serves(&proxy);
    }
    // Most flips break something the proxy checks; the rest are harmless or reach the upstream.
    assert!(statuses[&400] > 100, "{statuses:?}");
    proxy.stop();
}
