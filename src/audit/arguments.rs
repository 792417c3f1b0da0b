//! A `tools/call`'s arguments for the audit line: their canonical JSON (object keys sorted,
//! no whitespace, serde_json's number and string forms) and its SHA-256, so equal arguments
//! hash equal however the client ordered or spaced them.
//!
//! Not here: deciding whether the arguments themselves are written (`audit.arguments`).

use serde::Deserialize;
use serde_json::Value;

/// The canonical arguments of the `tools/call` in `body` and their hex SHA-256; `None` when
/// the body holds no `params.arguments` (or is not one JSON object).
pub fn canonical(body: &[u8]) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Message {
        params: Option<Params>,
    }
    #[derive(Deserialize)]
    struct Params {
        arguments: Option<Value>,
    }
    let message: Message = serde_json::from_slice(body).ok()?;
    let arguments = message.params?.arguments?;
    let mut text = Vec::with_capacity(body.len());
    write_canonical(&mut text, &arguments);
    let digest = ring::digest::digest(&ring::digest::SHA256, &text);
    let mut hex = String::with_capacity(64);
    push_hex(&mut hex, digest.as_ref());
    // serde_json writes valid UTF-8 only.
    Some((String::from_utf8(text).ok()?, hex))
}

/// Appends `value` with object keys sorted and no whitespace (serde_json's writer for strings
/// and numbers: no `fmt` machinery, no allocation but the sorted key list).
fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries = map.iter().collect::<Vec<_>>();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (n, (key, item)) in entries.into_iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_scalar(out, key);
                out.push(b':');
                write_canonical(out, item);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        scalar => write_scalar(out, scalar),
    }
}

/// Appends a string or scalar as serde_json writes it (writing into a `Vec` cannot fail).
fn write_scalar<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Appends `bytes` as lowercase hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(arguments: &str) -> Vec<u8> {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{arguments}}}}}"#)
            .into_bytes()
    }

    #[test]
    fn order_and_spacing_do_not_matter() {
        let (a, hash_a) = canonical(&call(r#"{"b": [1, {"z":1,"y":"é"}], "a": null}"#)).unwrap();
        let (b, hash_b) = canonical(&call(r#"{"a":null,"b":[1,{"y":"é","z":1}]}"#)).unwrap();
        assert_eq!(a, r#"{"a":null,"b":[1,{"y":"é","z":1}]}"#);
        assert_eq!((a, hash_a.len()), (b, 64));
        assert_eq!(hash_a, hash_b);
    }

    #[test]
    fn known_digest() {
        // sha256("{}")
        let (_, hash) = canonical(&call("{}")).unwrap();
        assert_eq!(
            hash,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn absent_or_broken_arguments() {
        assert_eq!(
            canonical(br#"{"method":"tools/call","params":{"name":"t"}}"#),
            None
        );
        assert_eq!(canonical(b"{not json"), None);
        assert_eq!(canonical(b"[1,2]"), None);
    }
}
