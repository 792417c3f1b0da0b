//! Unpaired UTF-16 surrogate escapes in the strings policy judges (`method`, `params.name`).
//! simd-json decodes a lone `\ud800` to U+0000 (refused where it is read) and `\ud800\ue000`
//! to one astral character, the same as the valid pair `\ud801\udc00`, while JavaScript and
//! Python upstreams keep the lone surrogate: policy would judge one name and the upstream run
//! another. So when a name the proxy read holds an astral character, the raw body is checked
//! for a high surrogate escape not followed by a low one.
//!
//! Not here: the parse (inspect.rs). Cost: nothing unless a method or tool name holds a
//! character beyond U+FFFF.

/// Whether `text` holds a character beyond U+FFFF (what a surrogate pair escape decodes to).
pub(super) fn astral(text: &str) -> bool {
    text.chars().any(|c| u32::from(c) > 0xFFFF)
}

/// Whether `body` holds a `\uD800`–`\uDBFF` escape not followed by a `\uDC00`–`\uDFFF` one.
pub(super) fn unpaired_high_surrogate(body: &[u8]) -> bool {
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'\\', body.get(at..).unwrap_or_default()) {
        let escape = at + offset;
        if body.get(escape + 1) != Some(&b'u') {
            at = escape + 2; // `\\`, `\"`, `\n`, ...: two bytes
            continue;
        }
        let unit = hex4(body, escape + 2);
        if !unit.is_some_and(|u| (0xD800..0xDC00).contains(&u)) {
            at = escape + 6;
            continue;
        }
        let low = (body.get(escape + 6..escape + 8) == Some(b"\\u"))
            .then(|| hex4(body, escape + 8))
            .flatten();
        if !low.is_some_and(|u| (0xDC00..0xE000).contains(&u)) {
            return true;
        }
        at = escape + 12;
    }
    false
}

/// The four hex digits at `at`, as a number.
fn hex4(body: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(body.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unpaired_high_surrogates_only() {
        assert!(unpaired_high_surrogate(br#"{"name":"a\ud800\ue000"}"#));
        assert!(unpaired_high_surrogate(br#"{"name":"a\uD800"}"#));
        assert!(!unpaired_high_surrogate(br#"{"name":"a\ud83d\ude00"}"#));
        assert!(!unpaired_high_surrogate(br#"{"name":"a\u00e9\n\"\\"}"#));
        // An escaped backslash before `ud800` is text, not an escape.
        assert!(!unpaired_high_surrogate(br#"{"p":"\\ud800"}"#));
        assert!(unpaired_high_surrogate(br#"{"p":"\\\ud800x"}"#));
        assert!(astral("a😀") && !astral("aé\u{FFFF}"));
    }
}
