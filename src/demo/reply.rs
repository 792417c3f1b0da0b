//! Writing JSON-RPC replies: a tiny append-only JSON writer plus the response, error and notification envelopes,
//! and [`Outcome`], what a request produced (one reply or a stream of steps).
//!
//! Not here: what goes inside a result (`dispatch.rs`, `tools.rs`, `catalog.rs`) or HTTP framing (the serving loop).
//! Hot path (`tools/call echo`): one `Vec` per reply, sized up front; nothing else allocates. Strings are escaped
//! while they are copied, and `Display` values (numbers, error messages) are formatted straight into the buffer.

use std::fmt::{self, Display, Write as _};

use super::error::DemoError;
use super::message::RequestId;
use super::SseStep;

/// Room for the envelope around a result: `{"jsonrpc":"2.0","id":…,"result":…}`.
const ENVELOPE_BYTES: usize = 64;

/// An append-only JSON text buffer. The caller writes well-formed JSON; `string` and `display_in_string` escape.
#[derive(Debug, Default)]
pub(super) struct JsonWriter {
    buf: Vec<u8>,
}

impl JsonWriter {
    /// A writer with room for `bytes` of output.
    pub(super) fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Appends JSON text that is already valid (keys, punctuation, constant fragments).
    pub(super) fn raw(&mut self, json: &str) -> &mut Self {
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    /// Appends `text` as a quoted, escaped JSON string.
    pub(super) fn string(&mut self, text: &str) -> &mut Self {
        self.buf.push(b'"');
        escape_into(&mut self.buf, text);
        self.buf.push(b'"');
        self
    }

    /// Appends `value` formatted with `Display`, unquoted (numbers). The caller vouches that its output is JSON.
    pub(super) fn display(&mut self, value: impl Display) -> &mut Self {
        self.format(value, false)
    }

    /// Appends `value` formatted with `Display` and escaped, without quotes (part of a string the caller opened).
    pub(super) fn display_in_string(&mut self, value: impl Display) -> &mut Self {
        self.format(value, true)
    }

    fn format(&mut self, value: impl Display, escape: bool) -> &mut Self {
        let mut out = Escaping {
            buf: &mut self.buf,
            escape,
        };
        // Writing into a Vec cannot fail; an Err could only come from a Display impl that reports one.
        let _ = write!(out, "{value}");
        self
    }

    /// Appends a request id with the JSON type the client used.
    pub(super) fn id(&mut self, id: &RequestId<'_>) -> &mut Self {
        match id {
            RequestId::Str(text) => self.string(text),
            RequestId::Num(number) => self.display(number),
        }
    }

    /// The finished bytes.
    pub(super) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// `fmt::Write` into a byte buffer, escaping for a JSON string when asked.
struct Escaping<'w> {
    buf: &'w mut Vec<u8>,
    escape: bool,
}

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.escape {
            escape_into(self.buf, text);
        } else {
            self.buf.extend_from_slice(text.as_bytes());
        }
        Ok(())
    }
}

/// Appends `text` escaped per RFC 8259 §7 (shared with the proxy's JSON-RPC writer).
fn escape_into(buf: &mut Vec<u8>, text: &str) {
    crate::mcp::jsonrpc::write_json_escaped(buf, text);
}

/// Starts `{"jsonrpc":"2.0","id":ID,"result":` with room for `result_bytes` more; close it with [`end_result`].
pub(super) fn begin_result(id: &RequestId<'_>, result_bytes: usize) -> JsonWriter {
    let mut out = JsonWriter::with_capacity(ENVELOPE_BYTES + result_bytes);
    out.raw(r#"{"jsonrpc":"2.0","id":"#)
        .id(id)
        .raw(r#","result":"#);
    out
}

/// Closes an envelope opened by [`begin_result`].
pub(super) fn end_result(mut out: JsonWriter) -> Vec<u8> {
    out.raw("}");
    out.finish()
}

/// A whole response whose result is constant JSON text.
pub(super) fn result_message(id: &RequestId<'_>, result_json: &str) -> Vec<u8> {
    let mut out = begin_result(id, result_json.len());
    out.raw(result_json);
    end_result(out)
}

/// A JSON-RPC error response; `id` is `null` when the request's id is unknown (parse errors, bad headers).
pub(super) fn error_message(id: Option<&RequestId<'_>>, error: &DemoError) -> Vec<u8> {
    let mut out = JsonWriter::with_capacity(2 * ENVELOPE_BYTES);
    out.raw(r#"{"jsonrpc":"2.0","id":"#);
    match id {
        Some(id) => out.id(id),
        None => out.raw("null"),
    };
    out.raw(r#","error":{"code":"#)
        .display(error.code())
        .raw(r#","message":""#)
        .display_in_string(error)
        .raw("\"");
    if let DemoError::ResourceNotFound { uri } = error {
        out.raw(r#","data":{"uri":"#).string(uri).raw("}");
    }
    out.raw("}}");
    out.finish()
}

/// A `notifications/progress` message: `progress` of `total`, with a human-readable `message`.
pub(super) fn progress_message(token: &RequestId<'_>, progress: u32, total: u32) -> Vec<u8> {
    let mut out = JsonWriter::with_capacity(2 * ENVELOPE_BYTES + 32);
    out.raw(r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"#)
        .id(token)
        .raw(r#","progress":"#)
        .display(progress)
        .raw(r#","total":"#)
        .display(total)
        .raw(r#","message":"step "#)
        .display(progress)
        .raw(" of ")
        .display(total)
        .raw("\"}}");
    out.finish()
}

/// What a request produced.
#[derive(Debug)]
pub(super) enum Outcome {
    /// One JSON-RPC response.
    Reply(Vec<u8>),
    /// Notifications and pauses ending in the JSON-RPC response (the `slow` tool).
    Stream(Vec<SseStep>),
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::{json, Value};

    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("writer produced invalid JSON")
    }

    #[test]
    fn strings_round_trip_through_escaping() {
        let nasty =
            "quote\" back\\ nl\n cr\r tab\t bs\u{8} ff\u{c} nul\u{0} us\u{1f} del\u{7f} é 😀";
        let mut out = JsonWriter::default();
        out.string(nasty);
        assert_eq!(parse(&out.finish()), Value::String(nasty.to_owned()));
    }

    #[test]
    fn display_in_string_escapes() {
        let mut out = JsonWriter::default();
        out.raw("\"").display_in_string("a\"b\n").raw("\"");
        assert_eq!(parse(&out.finish()), json!("a\"b\n"));
    }

    #[test]
    fn result_keeps_id_type() {
        let text = RequestId::Str(Cow::Borrowed("7"));
        let number = RequestId::Num(serde_json::Number::from(7));
        assert_eq!(parse(&result_message(&text, "{}"))["id"], json!("7"));
        assert_eq!(parse(&result_message(&number, "{}"))["id"], json!(7));
    }

    #[test]
    fn error_without_id_is_null_and_carries_uri_data() {
        let body = parse(&error_message(
            None,
            &DemoError::ResourceNotFound {
                uri: "demo://\"x".to_owned(),
            },
        ));
        assert_eq!(
            body,
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32002,"message":"Resource not found","data":{"uri":"demo://\"x"}}})
        );
    }

    #[test]
    fn progress_has_all_fields() {
        let token = RequestId::Str(Cow::Borrowed("tok"));
        assert_eq!(
            parse(&progress_message(&token, 2, 5)),
            json!({"jsonrpc":"2.0","method":"notifications/progress",
                   "params":{"progressToken":"tok","progress":2,"total":5,"message":"step 2 of 5"}})
        );
    }
}
