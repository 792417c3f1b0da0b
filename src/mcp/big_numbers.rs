//! Cold-path repair for valid JSON that simd-json refuses: numbers outside its 64-bit range.
//!
//! simd-json 0.15 (without `big-int-as-float`) fails with `InvalidNumber` on integers outside
//! `i64::MIN..=u64::MAX` and on floats that overflow `f64` (`1e400`), although RFC 8259 §6 allows
//! them and upstreams (JavaScript, Python) accept them. Such a number can sit anywhere, e.g. in tool
//! arguments; refusing the whole message would break valid traffic. On that error only, the
//! inspector calls [`neutralise`] on its scratch copy and parses again.
//!
//! The rewrite replaces every float-form token and every out-of-range integer with `0.0` padded
//! with spaces (same length). That changes no fact the inspector reports: floats are never accepted
//! as ids, progress tokens or error codes, and `0.0` is still a float, so an oversized id is still
//! rejected as `BadId`. The forwarded bytes are the client's originals, untouched.
//!
//! The other way round, simd-json 0.15 also accepts what is not JSON: an integer of 18 or more
//! digits goes through its `parse_large_integer`, which does not check the byte after the number,
//! so `{"id":123456789012345678;}` or `...678\x02` pass, and so does a float followed by junk
//! (`-10000000000000000000000000.0#`). [`unterminated_number`] catches both (found by
//! tests/fuzz, `inspect_mutated`): a pass over the tape (hot, no allocation) and, only when it
//! holds such an integer or any float, a scan of the body.
//!
//! Not here: the parse itself. Allocation: none (in place). `neutralise` runs only after a failed parse.

use simd_json::{Node, StaticNode};

/// Rewrites, in place, the number tokens simd-json may refuse. Returns whether anything changed
/// (if nothing did, a second parse would fail the same way).
pub(crate) fn neutralise(json: &mut [u8]) -> bool {
    let mut changed = false;
    let mut at = 0;
    while let Some(&byte) = json.get(at) {
        match byte {
            b'"' => at = skip_string(json, at + 1),
            b'-' | b'0'..=b'9' => {
                let end = at
                    + json.get(at..).map_or(0, |rest| {
                        rest.iter().take_while(|b| is_number_byte(**b)).count()
                    });
                if let Some(token) = json.get_mut(at..end) {
                    if needs_rewrite(token) {
                        overwrite_with_float_zero(token);
                        changed = true;
                    }
                }
                at = end;
            }
            _ => at += 1,
        }
    }
    changed
}

/// Smallest magnitude of an integer with 18 digits: from here on simd-json parses integers on the
/// path that does not check what follows them (`numberparse/correct.rs`, `digit_count >= 18`).
const LONG_INTEGER: u64 = 100_000_000_000_000_000;

/// When the parsed `tape` holds an integer of 18 or more digits or a float, the offset in `body` just past
/// the first number token that is not followed by whitespace, `,`, `]`, `}` or the end (JSON
/// allows nothing else after a value, RFC 8259 §2); `None` when every number ends cleanly.
pub(crate) fn unterminated_number(tape: &[Node<'_>], body: &[u8]) -> Option<usize> {
    // Floats too: simd-json's float path lets `-10000000000000000000000000.0#` through as well
    // (tests/fuzz, inspect_mutated at 1M); a float in an MCP message is rare enough for the scan.
    let long = tape.iter().any(|node| match node {
        Node::Static(StaticNode::I64(n)) => n.unsigned_abs() >= LONG_INTEGER,
        Node::Static(StaticNode::U64(n)) => *n >= LONG_INTEGER,
        Node::Static(StaticNode::F64(_)) => true,
        _ => false,
    });
    if !long {
        return None;
    }
    junk_after_number(body)
}

/// The offset in `body` just past the first number token that is not a JSON number or is
/// followed by something other than whitespace, `,`, `]`, `}` or the end; `None` when every
/// number is clean. Cold: only after a tape with a long integer or a float.
fn junk_after_number(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(&byte) = body.get(at) {
        match byte {
            b'"' => at = skip_string(body, at + 1),
            b'-' | b'0'..=b'9' => {
                let end = at
                    + body.get(at..).map_or(0, |rest| {
                        rest.iter().take_while(|b| is_number_byte(**b)).count()
                    });
                if !is_json_number(&body[at..end])
                    || !matches!(
                        body.get(end),
                        None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}')
                    )
                {
                    return Some(end);
                }
                at = end;
            }
            _ => at += 1,
        }
    }
    None
}

/// Index just past the closing quote of the string whose body starts at `at`.
fn skip_string(json: &[u8], mut at: usize) -> usize {
    while let Some(&byte) = json.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    at
}

fn is_number_byte(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

/// True for a grammatical JSON number (RFC 8259 §6) that simd-json may refuse.
fn needs_rewrite(token: &[u8]) -> bool {
    if !is_json_number(token) {
        return false; // malformed: leave it, so the second parse still reports it
    }
    let is_float = token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if is_float {
        return true;
    }
    // Grammatical integers only fail to parse here by overflowing; the token is ASCII.
    let text = std::str::from_utf8(token).unwrap_or_default();
    text.parse::<i64>().is_err() && text.parse::<u64>().is_err()
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn is_json_number(token: &[u8]) -> bool {
    let digits_from = |from: usize| {
        token.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    let mut at = usize::from(token.first() == Some(&b'-'));
    match token.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at += digits_from(at),
        _ => return false,
    }
    if token.get(at) == Some(&b'.') {
        let fraction = digits_from(at + 1);
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    if matches!(token.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(token.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exponent = digits_from(at);
        if exponent == 0 {
            return false;
        }
        at += exponent;
    }
    at == token.len()
}

/// Writes `0.0` followed by spaces. Tokens reaching here are at least 3 bytes long: a float needs a
/// digit on both sides of `.`/`e`, and an overflowing integer has at least 19 digits.
fn overwrite_with_float_zero(token: &mut [u8]) {
    for (n, byte) in token.iter_mut().enumerate() {
        *byte = match n {
            0 | 2 => b'0',
            1 => b'.',
            _ => b' ',
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> (String, bool) {
        let mut bytes = input.as_bytes().to_vec();
        let changed = neutralise(&mut bytes);
        (String::from_utf8(bytes).unwrap(), changed)
    }

    /// `0.0` padded to the width of `token`.
    fn zero_like(token: &str) -> String {
        format!("0.0{}", " ".repeat(token.len() - 3))
    }

    #[test]
    fn oversized_integers_become_float_zero() {
        for token in [
            "99999999999999999999",
            "-9223372036854775809",
            "18446744073709551616",
        ] {
            let (out, changed) = run(&format!(r#"{{"n":{token}}}"#));
            assert_eq!(out, format!(r#"{{"n":{}}}"#, zero_like(token)));
            assert!(changed);
        }
    }

    #[test]
    fn in_range_integers_are_kept() {
        let input = "[18446744073709551615,-9223372036854775808,0,-0,12]";
        assert_eq!(run(input), (input.into(), false));
    }

    #[test]
    fn floats_become_float_zero() {
        let expected = format!(
            "[{},{},{}]",
            zero_like("1e400"),
            zero_like("1.5"),
            zero_like("-2E-3")
        );
        assert_eq!(run("[1e400,1.5,-2E-3]"), (expected, true));
    }

    #[test]
    fn numbers_inside_strings_are_not_touched() {
        let input = r#"{"a":"1e400 \" 99999999999999999999","b\\":"x"}"#;
        assert_eq!(run(input), (input.into(), false));
    }

    #[test]
    fn malformed_numbers_are_left_for_the_parser_to_reject() {
        for input in [
            "[01]", "[1.]", "[.5]", "[1e]", "[--1]", "[1-2]", "[+1]", "[1.5.5]",
        ] {
            assert_eq!(run(input), (input.into(), false), "{input}");
        }
    }

    #[test]
    fn grammar() {
        for ok in [
            "0",
            "-0",
            "10",
            "1.25",
            "1e5",
            "1E+5",
            "-1.0e-5",
            "123456789012345678901234",
        ] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "00", "01", "1.", "1e", "1e+", "e1", "1..2", "0x1"] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    /// Parses `json` with simd-json and asks `unterminated_number` about it.
    fn unterminated(json: &str) -> Option<usize> {
        let mut scratch = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut scratch).unwrap();
        unterminated_number(&tape.0, json.as_bytes())
    }

    #[test]
    fn long_integers_followed_by_junk_are_caught() {
        // simd-json accepts all of these (the regression tests/fuzz found).
        assert_eq!(unterminated("[-100000000000000000;]"), Some(20));
        assert_eq!(unterminated("[18446744073709551615\x02]"), Some(21));
        assert_eq!(unterminated("{\"a\":12345678901234567890;}"), Some(25));
        assert_eq!(unterminated("[-100000000000000000-0]"), Some(22));
        // Clean numbers, short ones and digits inside strings are fine.
        assert_eq!(
            unterminated("[18446744073709551615 , -100000000000000000]"),
            None
        );
        assert_eq!(unterminated("{\"1;\":123456789012345678}"), None);
        assert_eq!(unterminated("[1, 2.5, 100000000000000000]"), None);
        assert_eq!(unterminated("[99999999999999999]"), None);
        assert_eq!(
            unterminated("[100000000000000000, -0.5e-7, 1E+2, 0, -0]"),
            None
        );
    }

    #[test]
    fn junk_after_a_float_is_caught() {
        // Found by tests/fuzz (inspect_mutated, 1M): simd-json accepts the `#` after it.
        let body = r#"{"id":0,"result":{"":-10000000000000000000000000.0#000000},"jsonrpc":"2.0"}"#;
        assert_eq!(junk_after_number(body.as_bytes()), Some(50));
        let mut inspector = crate::mcp::Inspector::new();
        assert!(matches!(
            inspector.inspect(body.as_bytes()),
            Err(crate::mcp::Error::Parse { .. })
        ));
        let clean = r#"{"id":0,"result":{"":-10000000000000000000000000.0},"jsonrpc":"2.0"}"#;
        assert!(inspector.inspect(clean.as_bytes()).is_ok());
    }

    #[test]
    fn unterminated_string_does_not_loop() {
        assert_eq!(run(r#"["abc\"#), (r#"["abc\"#.into(), false));
    }
}
