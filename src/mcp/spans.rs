//! Where the fields the proxy may rewrite sit in a message's original bytes ([`Spans`]), and the
//! splice that writes new values there ([`splice`]). The inspector fills the spans while it reads
//! the message; shared-mode stdio links rewrite ids and progress tokens with them, leaving every
//! other byte as the peer wrote it.
//!
//! Not here: which value goes where (upstream::link). Allocates: only the output `Vec` of a
//! splice. Awaits nothing.

use std::ops::Range;

use super::jsonrpc::JsonRpcId;

/// A byte range of one JSON value (string with its quotes, or number) in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The range, for slicing the message it was found in.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The same span in a message that starts `offset` bytes later (or earlier).
    pub fn shifted_back(self, offset: usize) -> Option<Self> {
        let offset = u32::try_from(offset).ok()?;
        Some(Self {
            start: self.start.checked_sub(offset)?,
            end: self.end.checked_sub(offset)?,
        })
    }

    /// A span covering `range` (offsets past 4 GiB are not representable: `None`).
    pub fn new(range: Range<usize>) -> Option<Self> {
        let start = u32::try_from(range.start).ok()?;
        let end = u32::try_from(range.end).ok()?;
        (start <= end).then_some(Self { start, end })
    }
}

/// The rewritable fields of one message, each the value the inspector reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spans {
    /// The top-level `id`.
    pub id: Option<Span>,
    /// The progress token reported: `params.progressToken` of `notifications/progress`, else
    /// `params._meta.progressToken`.
    pub progress_token: Option<Span>,
    /// `params.requestId` of `notifications/cancelled`.
    pub request_id: Option<Span>,
}

/// What goes into one span: an id written as JSON, or bytes kept from another message.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// Written with [`JsonRpcId::write_json`].
    Id(&'a JsonRpcId),
    /// Copied as they are (a value's original JSON text).
    Raw(&'a [u8]),
}

impl Value<'_> {
    fn write(self, out: &mut Vec<u8>) {
        match self {
            Self::Id(id) => id.write_json(out),
            Self::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
}

/// Head room for the values written, so the output rarely grows.
const SPLICE_SLACK: usize = 32;

/// `message` with each span's bytes replaced by its value; `None` when a span lies outside the
/// message or two overlap. Edits may come in any order.
pub fn splice(message: &[u8], edits: &mut [(Span, Value<'_>)]) -> Option<Vec<u8>> {
    edits.sort_unstable_by_key(|(span, _)| span.start);
    let mut out = Vec::with_capacity(message.len() + SPLICE_SLACK);
    let mut copied = 0;
    for (span, value) in edits.iter() {
        let range = span.range();
        out.extend_from_slice(message.get(copied..range.start)?);
        value.write(&mut out);
        copied = range.end;
    }
    out.extend_from_slice(message.get(copied..)?);
    Some(out)
}

/// The span of the value of the member whose key starts at `key_at` (the first byte after the
/// key's opening quote) in `json`, a well-formed JSON text. Only strings and numbers have a span.
pub(crate) fn value_after_key(json: &[u8], key_at: usize) -> Option<Span> {
    if key_at == 0 || json.get(key_at - 1) != Some(&b'"') {
        return None;
    }
    let after_key = string_end(json, key_at)?;
    let colon = skip_space(json, after_key);
    if json.get(colon) != Some(&b':') {
        return None;
    }
    let start = skip_space(json, colon + 1);
    let end = match json.get(start)? {
        b'"' => string_end(json, start + 1)?,
        b'-' | b'0'..=b'9' => {
            start
                + json[start..]
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count()
        }
        _ => return None,
    };
    Span::new(start..end)
}

/// The index just past the closing quote of the string whose content starts at `at`.
fn string_end(json: &[u8], mut at: usize) -> Option<usize> {
    loop {
        match json.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

fn skip_space(json: &[u8], at: usize) -> usize {
    at + json.get(at..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_whitespace()).count()
    })
}

#[cfg(test)]
#[path = "spans_tests.rs"]
mod tests;
