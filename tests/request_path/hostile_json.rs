//! Hostile JSON bodies in a valid HTTP request: the inspector refuses what it cannot read
//! safely (400 with the JSON-RPC code, connection kept: the body was read whole) and forwards
//! odd but valid JSON; after every case a fresh client is still served.
//!
//! Not here: broken HTTP framing (hostile_http.rs).

use crate::harness::{Proxy, Setup, Upstream};
use crate::hostile::{case, echo_with, post_bytes, Expect, INVALID_REQUEST};

const PARSE_ERROR: i64 = -32700;
/// Malformed JSON: 400 `-32700`, no id (none could be read).
const NOT_JSON: Expect = Expect::RefusedKeepsAlive(400, PARSE_ERROR, None);
/// JSON that is not a request the proxy can vouch for: 400 `-32600`, no id echoed.
const INVALID: Expect = Expect::RefusedKeepsAlive(400, INVALID_REQUEST, None);

/// Sends each body in its own session, all on one proxy, which must then stop cleanly (no
/// shard panicked).
fn bodies(cases: &[(&[u8], Expect)]) {
    let proxy = Proxy::start(Setup::one(Upstream::Http));
    for (body, expect) in cases {
        case(&proxy, |s| post_bytes(s, body), *expect);
    }
    proxy.stop();
}

/// [`bodies`] with the same expectation for each.
fn bodies_all(cases: &[Vec<u8>], expect: Expect) {
    bodies(&cases.iter().map(|b| (&b[..], expect)).collect::<Vec<_>>());
}

/// A JSON-RPC message whose members after `jsonrpc` are `members`, as written.
fn envelope(members: &str) -> Vec<u8> {
    format!("{{\"jsonrpc\":\"2.0\",{members}}}").into_bytes()
}

#[test]
fn deep_nesting_unbalanced_is_a_parse_error_balanced_is_forwarded() {
    let open = "[".repeat(100_000);
    // Balanced, inside the arguments, as deep as the 4 MiB body limit allows: valid JSON the
    // inspector walks without recursion (no stack to exhaust), so it goes upstream.
    let depth = 2_000_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let balanced = echo_with(&format!("{{\"message\":\"x\",\"deep\":{deep}}}"));
    bodies(&[
        (open.as_bytes(), NOT_JSON),
        (&balanced, Expect::Echoed("x")),
    ]);
}

#[test]
fn huge_numbers_in_arguments_are_forwarded() {
    let big = "9".repeat(5_000);
    let cases: Vec<_> = [
        big.as_str(),
        "1e400",
        "-1e999999",
        "123456789012345678901234567890",
    ]
    .iter()
    .map(|n| echo_with(&format!("{{\"message\":\"n\",\"n\":{n}}}")))
    .collect();
    bodies_all(&cases, Expect::Echoed("n"));
}

#[test]
fn huge_ids_are_invalid_requests() {
    let cases: Vec<_> = [
        "1e400",
        "123456789012345678901234567890",
        "-99999999999999999999",
    ]
    .iter()
    .map(|id| envelope(&format!("\"id\":{id},\"method\":\"ping\"")))
    .collect();
    bodies_all(&cases, INVALID);
}

#[test]
fn invalid_utf8_is_a_parse_error() {
    let cases: Vec<_> = [
        &b"\xff\xfe"[..],
        b"\xc3\x28",
        b"\xed\xa0\x80",
        b"\xf8\x88\x80\x80\x80",
    ]
    .iter()
    .map(|bad| {
        [
            &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\""[..],
            bad,
            b"\"}",
        ]
        .concat()
    })
    .collect();
    bodies_all(&cases, NOT_JSON);
}

#[test]
fn nul_bytes_are_parse_errors_unless_escaped() {
    let mut between_tokens = echo_with("{\"message\":\"ab\"}");
    between_tokens.insert(1, 0);
    bodies(&[
        (&echo_with("{\"message\":\"a\0b\"}"), NOT_JSON),
        (&between_tokens, NOT_JSON),
        (
            &echo_with("{\"message\":\"a\\u0000b\"}"),
            Expect::Echoed("a\0b"),
        ),
    ]);
}

#[test]
fn duplicate_keys_the_proxy_reads_are_refused() {
    let arguments = "\"arguments\":{\"message\":\"x\"}";
    // Parsers disagree on which copy wins: policy could see one value, the upstream another.
    let two_methods = envelope(&format!(
        "\"id\":7,\"method\":\"tools/call\",\"method\":\"ping\",\
         \"params\":{{\"name\":\"echo\",{arguments}}}"
    ));
    let two_names = envelope(&format!(
        "\"id\":7,\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"name\":\"add\",{arguments}}}"
    ));
    // Two ids: which one to echo is ambiguous, so neither.
    let two_ids = envelope("\"id\":7,\"id\":8,\"method\":\"ping\"");
    // A duplicate the proxy does not read is the upstream's business: it goes through, and the
    // demo server (serde) refuses it with its own 400.
    let two_messages = echo_with("{\"message\":\"first\",\"message\":\"last\"}");
    let duplicate = Expect::RefusedKeepsAlive(400, INVALID_REQUEST, Some(7));
    bodies(&[
        (&two_methods, duplicate),
        (&two_names, duplicate),
        (&two_ids, INVALID),
        (&two_messages, INVALID),
    ]);
}

#[test]
fn a_20000_element_batch_is_refused() {
    let one = String::from_utf8(echo_with("{\"message\":\"b\"}")).expect("ASCII");
    let batch = format!("[{}]", vec![one; 20_000].join(","));
    bodies(&[(batch.as_bytes(), INVALID)]);
}
