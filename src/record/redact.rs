//! `redact`: removes the configured JSON pointers from a message before it is recorded. A
//! message none of whose pointers' last names appear in its bytes, and holding no backslash
//! (a key may be spelled with escapes), is left alone without being parsed; otherwise it is parsed, the pointers present are removed, and the line holds the
//! message re-serialized.
//!
//! Not here: checking the pointers' syntax (config/recording.rs), writing the line.

/// The configured pointers, with the text each one's last token must appear as.
#[derive(Debug, Default)]
pub struct Redactor {
    pointers: Vec<(String, Vec<u8>)>,
}

impl Redactor {
    /// A redactor for `pointers` (RFC 6901, checked at config load).
    pub fn new(pointers: &[String]) -> Redactor {
        let pointers = pointers
            .iter()
            .map(|p| {
                let last = p.rsplit('/').next().unwrap_or_default();
                let token = last.replace("~1", "/").replace("~0", "~");
                // As a key it is a quoted string; an array index is a bare number.
                let needle = if token.bytes().all(|b| b.is_ascii_digit()) {
                    Vec::new()
                } else {
                    serde_json::to_vec(&token).unwrap_or_default()
                };
                (p.clone(), needle)
            })
            .collect();
        Redactor { pointers }
    }

    /// Whether there is anything to remove at all.
    pub fn is_empty(&self) -> bool {
        self.pointers.is_empty()
    }

    /// `message` without the pointers it holds, re-serialized, and the pointers removed;
    /// `None` when it holds none of them (or is not JSON): record the original bytes.
    pub fn apply(&self, message: &[u8]) -> Option<(Vec<u8>, Vec<&str>)> {
        // A key may be written with escapes (`"pass\u0077ord"`, `"a\/b"`): a message with
        // any backslash is parsed.
        let may = memchr::memchr(b'\\', message).is_some()
            || self.pointers.iter().any(|(_, needle)| {
                needle.is_empty() || memchr::memmem::find(message, needle).is_some()
            });
        if !may {
            return None;
        }
        let mut value: serde_json::Value = serde_json::from_slice(message).ok()?;
        let mut removed = Vec::new();
        for (pointer, _) in &self.pointers {
            let hit = match &mut value {
                serde_json::Value::Array(batch) => {
                    let mut hit = false;
                    for element in batch.iter_mut() {
                        hit |= remove(element, pointer);
                    }
                    hit
                }
                single => remove(single, pointer),
            };
            if hit {
                removed.push(pointer.as_str());
            }
        }
        if removed.is_empty() {
            return None;
        }
        Some((serde_json::to_vec(&value).ok()?, removed))
    }
}

/// Removes what `pointer` names in `value`; whether something was there.
fn remove(value: &mut serde_json::Value, pointer: &str) -> bool {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let parent = if parent.is_empty() {
        Some(value)
    } else {
        value.pointer_mut(parent)
    };
    match parent {
        Some(serde_json::Value::Object(map)) => map.remove(&last).is_some(),
        Some(serde_json::Value::Array(items)) => match last.parse::<usize>() {
            Ok(at) if at < items.len() => {
                items.remove(at);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_present_pointers_only() {
        let r = Redactor::new(&["/params/arguments/password".into(), "/params/a~1b".into()]);
        let msg = br#"{"id":1,"params":{"arguments":{"password":"s3cret","user":"u"}}}"#;
        let (out, removed) = r.apply(msg).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("s3cret") && text.contains("\"user\":\"u\""));
        assert_eq!(removed, vec!["/params/arguments/password"]);
        // Named nowhere: not even parsed.
        assert!(r.apply(br#"{"id":1,"result":{}}"#).is_none());
        // Named as a value, not at the pointer: the original bytes stay.
        assert!(r.apply(br#"{"id":1,"result":"password"}"#).is_none());
        let (out, _) = r.apply(br#"{"params":{"a/b":1}}"#).unwrap();
        assert_eq!(out, br#"{"params":{}}"#);
    }

    /// A key spelled with escapes is the same key: removed too.
    #[test]
    fn escaped_keys_are_found() {
        let r = Redactor::new(&["/params/arguments/password".into(), "/params/a~1b".into()]);
        let msg = br#"{"params":{"arguments":{"pass\u0077ord":"s3cret"}}}"#;
        let (out, removed) = r.apply(msg).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("s3cret"));
        assert_eq!(removed, vec!["/params/arguments/password"]);
        let (out, removed) = r.apply(br#"{"params":{"a\/b":"s3cret"}}"#).unwrap();
        assert_eq!(out, br#"{"params":{}}"#);
        assert_eq!(removed, vec!["/params/a~1b"]);
    }

    #[test]
    fn batches_are_redacted_per_element() {
        let r = Redactor::new(&["/params/token".into()]);
        let msg = br#"[{"params":{"token":"t1"}},{"params":{"x":1}},{"params":{"token":"t2"}}]"#;
        let (out, removed) = r.apply(msg).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("t1") && !text.contains("t2"));
        assert_eq!(removed, vec!["/params/token"]);
    }
}
