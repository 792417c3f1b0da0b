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
//! Not here: the parse itself. Allocation: none (in place). Runs only after a failed parse.

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

    #[test]
    fn unterminated_string_does_not_loop() {
        assert_eq!(run(r#"["abc\"#), (r#"["abc\"#.into(), false));
    }
}
