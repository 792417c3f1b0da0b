//! Comparing a live answer with the recorded one (`replay --target`): both are normalized (the
//! JSON-RPC `id`, every `_meta`, timestamp-looking values and the `--ignore` pointers left out),
//! then walked together; each difference is a JSON pointer with both values.
//!
//! Timestamp-looking: a member named `timestamp`, `time`, `date`, `lastModified`, or ending in
//! `At`/`_at` (`createdAt`, `updated_at`), and any string that starts like an RFC 3339 date-time
//! (`2026-12-07T11:18:00…`).
//!
//! Not here: talking to the server (`http.rs`, `stdio.rs`).

use serde_json::{Map, Value};

/// Differences listed per answer at most.
const MAX_DIFFERENCES: usize = 20;

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

/// The differences between `recorded` and `live`, both normalized, `ignore` pointers removed.
pub fn differences(recorded: &Value, live: &Value, ignore: &[String]) -> Vec<Difference> {
    let (recorded, live) = (normalize(recorded, ignore), normalize(live, ignore));
    let mut out = Vec::new();
    walk("", Some(&recorded), Some(&live), &mut out);
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

fn scrub(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(k, _)| k.as_str() != "_meta" && !timestamp_key(k))
                .map(|(k, v)| (k.clone(), scrub(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(scrub).collect()),
        Value::String(s) if looks_like_timestamp(s) => Value::String("<timestamp>".into()),
        other => other.clone(),
    }
}

fn timestamp_key(key: &str) -> bool {
    matches!(key, "timestamp" | "time" | "date" | "lastModified")
        || key.ends_with("At")
        || key.ends_with("_at")
}

/// `YYYY-MM-DDTHH:MM` at the start.
fn looks_like_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11..13)
        && b.get(13) == Some(&b':')
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
