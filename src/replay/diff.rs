//! Comparing a live answer with the recorded one (`replay --target`): both are normalized (the
//! JSON-RPC `id`, every `_meta`, timestamp-looking values and the `--ignore` pointers left out),
//! then walked together; each difference is a JSON pointer with both values.
//!
//! Timestamp-looking: the string or number value of a member named `timestamp`, `time`, `date`,
//! `lastModified`, or ending in `At`/`_at` (`createdAt`, `updated_at`), at any depth; an object
//! or array there is compared like any other. And any string that is, whole, an RFC 3339
//! date-time (`2026-12-07T11:18:00.123Z`, `…+01:00`). Nothing under `inputSchema` or
//! `outputSchema` is normalized (a schema's `date` property is a real change). Differences show
//! the original values.
//!
//! Not here: talking to the server (`http.rs`, `stdio.rs`).

use serde_json::{Map, Value};

/// Differences listed per answer at most.
const MAX_DIFFERENCES: usize = 20;

/// Members whose values are compared as they are (schemas).
const VERBATIM: [&str; 2] = ["inputSchema", "outputSchema"];

/// One difference: where, the recorded value, the live value (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// JSON pointer into the answer.
    pub pointer: String,
    /// What the tape holds there.
    pub recorded: Option<Value>,
    /// What the live server sent there.
    pub live: Option<Value>,
}

/// The differences between `recorded` and `live`, both normalized, `ignore` pointers removed;
/// each with the original values.
pub fn differences(recorded: &Value, live: &Value, ignore: &[String]) -> Vec<Difference> {
    let (a, b) = (normalize(recorded, ignore), normalize(live, ignore));
    let mut out = Vec::new();
    walk("", Some(&a), Some(&b), &mut out);
    let original = |message: &Value, pointer: &str| {
        if pointer == "/" {
            Some(message.clone())
        } else {
            message.pointer(pointer).cloned()
        }
    };
    for d in &mut out {
        d.recorded = original(recorded, &d.pointer);
        d.live = original(live, &d.pointer);
    }
    out
}

/// `message` without what is not compared.
fn normalize(message: &Value, ignore: &[String]) -> Value {
    let mut message = scrub(message);
    if let Some(object) = message.as_object_mut() {
        object.remove("id");
    }
    for pointer in ignore {
        remove_pointer(&mut message, pointer);
    }
    message
}

/// The placeholder of a timestamp.
fn stamp() -> Value {
    Value::String("<timestamp>".into())
}

fn scrub(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(k, _)| k.as_str() != "_meta")
                .map(|(k, v)| {
                    let v = if VERBATIM.contains(&k.as_str()) {
                        v.clone()
                    } else if timestamp_key(k) && (v.is_string() || v.is_number()) {
                        stamp()
                    } else {
                        scrub(v)
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(scrub).collect()),
        Value::String(s) if is_rfc3339(s) => stamp(),
        other => other.clone(),
    }
}

fn timestamp_key(key: &str) -> bool {
    matches!(key, "timestamp" | "time" | "date" | "lastModified")
        || key.ends_with("At")
        || key.ends_with("_at")
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, the whole string.
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let date_time = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !date_time {
        return false;
    }
    let mut at = 19;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return false;
        }
    }
    match b.get(at) {
        Some(b'Z' | b'z') => at + 1 == b.len(),
        Some(b'+' | b'-') => {
            at + 6 == b.len()
                && digits(at + 1..at + 3)
                && b.get(at + 3) == Some(&b':')
                && digits(at + 4..at + 6)
        }
        _ => false,
    }
}

/// Removes the member or item `pointer` names, when present.
fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            object.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>() {
                if index < items.len() {
                    items[index] = Value::Null;
                }
            }
        }
        _ => {}
    }
}

fn walk(at: &str, recorded: Option<&Value>, live: Option<&Value>, out: &mut Vec<Difference>) {
    if out.len() >= MAX_DIFFERENCES || recorded == live {
        return;
    }
    match (recorded, live) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a
                .keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .collect();
            keys.sort();
            for key in keys {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                walk(&format!("{at}/{escaped}"), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for index in 0..a.len().max(b.len()) {
                walk(&format!("{at}/{index}"), a.get(index), b.get(index), out);
            }
        }
        _ => out.push(Difference {
            pointer: if at.is_empty() {
                "/".into()
            } else {
                at.to_owned()
            },
            recorded: recorded.cloned(),
            live: live.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_meta_and_timestamps_do_not_count() {
        let recorded = json!({"jsonrpc":"2.0","id":1,"result":{"_meta":{"a":1},"createdAt":"x","when":"2026-12-07T11:18:00Z","v":1}});
        let live = json!({"jsonrpc":"2.0","id":9,"result":{"createdAt":"y","when":"2027-01-01T00:00:00Z","v":1}});
        assert!(differences(&recorded, &live, &[]).is_empty());
    }

    #[test]
    fn timestamps_are_scrubbed_only_where_they_are_timestamps() {
        // An object under a timestamp-named member is compared.
        let recorded = json!({"id":1,"result":{"structuredContent":{"updatedAt":{"count":42}}}});
        let live = json!({"id":1,"result":{"structuredContent":{"updatedAt":{"count":0}}}});
        let found = differences(&recorded, &live, &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].pointer,
            "/result/structuredContent/updatedAt/count"
        );
        // Schemas are compared as they are.
        let schema = |t: &str| json!({"id":1,"result":{"tools":[{"inputSchema":{"properties":{"date":{"type":t}}}}]}});
        let found = differences(&schema("string"), &schema("number"), &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        // A string only starting like a date-time is text; the original values are shown.
        let recorded = json!({"id":1,"result":{"text":"2026-12-07T11:18 meeting moved","at":"2026-12-07T11:18:00.5+01:00"}});
        let live = json!({"id":1,"result":{"text":"2027-01-01T00:00 meeting moved","at":"2027-01-01T00:00:00Z"}});
        let found = differences(&recorded, &live, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pointer, "/result/text");
        assert_eq!(
            found[0].recorded,
            Some(json!("2026-12-07T11:18 meeting moved"))
        );
        assert_eq!(found[0].live, Some(json!("2027-01-01T00:00 meeting moved")));
    }

    #[test]
    fn a_changed_text_is_named_by_pointer_unless_ignored() {
        let recorded = json!({"id":1,"result":{"content":[{"type":"text","text":"hi"}]}});
        let live =
            json!({"id":1,"result":{"content":[{"type":"text","text":"HI"}],"isError":false}});
        let found = differences(&recorded, &live, &[]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].pointer, "/result/content/0/text");
        assert_eq!(found[0].recorded, Some(json!("hi")));
        assert_eq!(found[1].pointer, "/result/isError");
        assert_eq!(found[1].recorded, None);
        let ignore = vec![
            "/result/content/0/text".to_owned(),
            "/result/isError".to_owned(),
        ];
        assert!(differences(&recorded, &live, &ignore).is_empty());
    }
}
