//! Server-sent events (WHATWG HTML §9.2 "event stream" format): an incremental parser that reports each event with
//! the byte length it had in the stream, and the writer for the other direction.
//!
//! Not here: HTTP framing of the stream (the body decoders), what an event means to MCP, reconnection.
//! Hot path: the parser owns four reusable buffers (current partial line, data, event type, last id); after they
//! have grown to the largest event seen it allocates nothing. A line that arrives whole in one input is read in
//! place; only a line split across inputs is copied into the line buffer. Every block is bounded by
//! `max_event_bytes` (`Error::EventTooLarge`), so a stream that never sends a blank line cannot grow memory.
//!
//! Parsing follows the spec's algorithm: lines end in CRLF, LF or CR; a blank line ends a block; `:` starts a
//! comment; a field without colon has an empty value; one space after the colon is dropped; `data` lines are
//! joined with LF; `id` values containing NUL are ignored; `retry` takes only ASCII digits; unknown fields are
//! ignored; one leading UTF-8 BOM is dropped; a block with no `data` dispatches no event. Values are kept as bytes
//! (MCP payloads are JSON; decoding text is the consumer's choice).
//!
//! Byte accounting: the stream is cut into blocks, each ending at its blank line; `raw_len` of consecutive blocks
//! adds up to the stream length, so a proxy can forward the original bytes event by event. One ambiguity: when an
//! input ends right after a CR, the parser cannot know whether an LF follows. It ends the line at once (so a
//! CR-only stream is not delayed) and, if the next input starts with LF, counts that LF in the next block.

use super::error::Error;

/// Default bound on one block (event) of a stream: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event; borrows the parser until its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'p> {
    /// The `id` field, if this block had a valid one (the stream's last event id is `SseParser::last_event_id`).
    pub id: Option<&'p [u8]>,
    /// The `event` field, if set and non-empty (absent means type `message`).
    pub event: Option<&'p [u8]>,
    /// The `data` lines joined with LF.
    pub data: &'p [u8],
    /// The `retry` field (milliseconds), if this block had a valid one.
    pub retry: Option<u64>,
}

/// What `SseParser::next` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseStep<'p> {
    /// A block ended and dispatched `event`.
    Event {
        /// The event.
        event: SseEvent<'p>,
        /// Bytes of this input consumed (up to the end of the block); call again with the rest.
        consumed: usize,
        /// The block's length in the stream, possibly started in earlier inputs.
        raw_len: usize,
    },
    /// A block ended without dispatching (only comments, or fields but no `data`); it still has bytes to forward.
    Skipped {
        /// Bytes of this input consumed.
        consumed: usize,
        /// The block's length in the stream.
        raw_len: usize,
    },
    /// All of the input was consumed without ending a block.
    NeedMore,
}

/// The fields of the block being read.
#[derive(Debug, Default)]
struct Block {
    data: Vec<u8>,
    event_type: Vec<u8>,
    last_event_id: Vec<u8>,
    has_id: bool,
    retry: Option<u64>,
    last_retry: Option<u64>,
}

impl Block {
    /// Applies one non-blank line.
    fn field(&mut self, line: &[u8]) {
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(0) => return,
            Some(at) => {
                let value = line.get(at + 1..).unwrap_or_default();
                (
                    line.get(..at).unwrap_or_default(),
                    value.strip_prefix(b" ").unwrap_or(value),
                )
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"id" if !value.contains(&0) => {
                self.last_event_id.clear();
                self.last_event_id.extend_from_slice(value);
                self.has_id = true;
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Digits only, so the one failure left is overflow: ignore it like any invalid retry.
                let parsed = std::str::from_utf8(value)
                    .ok()
                    .and_then(|digits| digits.parse().ok());
                if parsed.is_some() {
                    self.retry = parsed;
                    self.last_retry = parsed;
                }
            }
            _ => {}
        }
    }

    /// Forgets the per-block state (not the stream's last id or retry).
    fn reset(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.has_id = false;
        self.retry = None;
    }
}

/// Incremental parser for one `text/event-stream` body.
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    block: Block,
    /// The start of a line that did not end in an earlier input.
    line: Vec<u8>,
    /// Raw bytes of the current block so far.
    block_len: usize,
    /// The last line ended in CR at the end of an input: an LF starting the next input belongs to it.
    after_cr: bool,
    /// BOM bytes matched at the start of the stream; `None` once the start is past.
    bom_matched: Option<usize>,
    /// The previous call returned an event that borrows `block`; clear it before going on.
    dispatched: bool,
    /// The unfinished block holds only the LF of a CRLF whose CR ended the previous block.
    stray_lf: bool,
}

impl SseParser {
    /// A parser refusing blocks larger than `max_event_bytes` (see `DEFAULT_MAX_EVENT_BYTES`).
    pub fn new(max_event_bytes: usize) -> Self {
        SseParser {
            max_event_bytes,
            block: Block::default(),
            line: Vec::new(),
            block_len: 0,
            after_cr: false,
            bom_matched: Some(0),
            dispatched: false,
            stray_lf: false,
        }
    }

    /// The stream's last event id (persists across events, as the spec's "last event ID buffer").
    pub fn last_event_id(&self) -> &[u8] {
        &self.block.last_event_id
    }

    /// The last valid `retry` value seen anywhere in the stream.
    pub fn last_retry(&self) -> Option<u64> {
        self.block.last_retry
    }

    /// Bytes of the unfinished block (dropped by the spec if the stream ends now).
    pub fn pending_len(&self) -> usize {
        self.block_len
    }

    /// Whether no event is under way: nothing of the next block was read but, maybe, the LF
    /// of a CRLF split after its CR (it belongs to the line the previous block ended with).
    pub fn between_events(&self) -> bool {
        self.block_len == 0 || (self.stray_lf && self.block_len == 1)
    }

    /// Parses from the start of `input` (the bytes not yet consumed) up to the end of the next block.
    ///
    /// Errors: `EventTooLarge` when a block passes `max_event_bytes` without ending; the parser is then unusable.
    pub fn next(&mut self, input: &[u8]) -> Result<SseStep<'_>, Error> {
        if self.dispatched {
            self.dispatched = false;
            self.block.reset();
        }
        let mut pos = self.skip_bom(input)?;
        loop {
            let Some(rest) = input.get(pos..).filter(|rest| !rest.is_empty()) else {
                return Ok(SseStep::NeedMore);
            };
            if std::mem::take(&mut self.after_cr) && rest.first() == Some(&b'\n') {
                self.stray_lf = self.block_len == 0;
                pos += 1;
                self.grow(1)?;
                continue;
            }
            let Some(end) = rest.iter().position(|b| *b == b'\r' || *b == b'\n') else {
                self.grow(rest.len())?;
                self.line.extend_from_slice(rest);
                return Ok(SseStep::NeedMore);
            };
            let crlf = rest.get(end..end + 2) == Some(b"\r\n");
            let terminator = if crlf { 2 } else { 1 };
            self.after_cr = !crlf && rest.get(end) == Some(&b'\r') && end + 1 == rest.len();
            self.grow(end + terminator)?;
            pos += end + terminator;
            let piece = rest.get(..end).unwrap_or_default();
            let blank = self.line.is_empty() && piece.is_empty();
            if !blank {
                if self.line.is_empty() {
                    self.block.field(piece);
                } else {
                    self.line.extend_from_slice(piece);
                    self.block.field(&self.line);
                    self.line.clear();
                }
                continue;
            }
            let raw_len = std::mem::take(&mut self.block_len);
            self.stray_lf = false;
            if self.block.data.is_empty() {
                self.block.reset();
                return Ok(SseStep::Skipped {
                    consumed: pos,
                    raw_len,
                });
            }
            self.block.data.pop();
            self.dispatched = true;
            let block = &self.block;
            let event = SseEvent {
                id: block.has_id.then_some(block.last_event_id.as_slice()),
                event: (!block.event_type.is_empty()).then_some(block.event_type.as_slice()),
                data: &block.data,
                retry: block.retry,
            };
            return Ok(SseStep::Event {
                event,
                consumed: pos,
                raw_len,
            });
        }
    }

    /// Consumes a UTF-8 BOM at the very start of the stream; returns how many bytes of `input` it took.
    fn skip_bom(&mut self, input: &[u8]) -> Result<usize, Error> {
        let Some(mut matched) = self.bom_matched else {
            return Ok(0);
        };
        let mut pos = 0;
        while let (Some(byte), Some(expected)) = (input.get(pos), BOM.get(matched)) {
            if byte != expected {
                // Not a BOM after all: the bytes matched so far start the first line.
                self.line
                    .extend_from_slice(BOM.get(..matched).unwrap_or_default());
                self.bom_matched = None;
                return Ok(pos);
            }
            matched += 1;
            pos += 1;
            self.grow(1)?;
        }
        self.bom_matched = (matched < BOM.len()).then_some(matched);
        Ok(pos)
    }

    fn grow(&mut self, bytes: usize) -> Result<(), Error> {
        self.block_len += bytes;
        if self.block_len > self.max_event_bytes {
            return Err(Error::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

/// Appends one event: optional `id:` and `event:` lines, one `data:` line per line of `data` (split at CRLF, LF or
/// CR, so a receiver joins them back with LF), and the blank line. `id` and `event` are cut at their first CR or
/// LF: a line break there would inject fields.
pub fn write_event(out: &mut Vec<u8>, id: Option<&str>, event: Option<&str>, data: &[u8]) {
    if let Some(id) = id {
        write_line(out, b"id: ", first_line(id.as_bytes()));
    }
    if let Some(event) = event {
        write_line(out, b"event: ", first_line(event.as_bytes()));
    }
    let mut rest = data;
    loop {
        let end = rest.iter().position(|b| *b == b'\r' || *b == b'\n');
        write_line(
            out,
            b"data: ",
            rest.get(..end.unwrap_or(rest.len())).unwrap_or_default(),
        );
        let Some(end) = end else { break };
        let skip = if rest.get(end..end + 2) == Some(b"\r\n") {
            2
        } else {
            1
        };
        rest = rest.get(end + skip..).unwrap_or_default();
    }
    out.push(b'\n');
}

/// Appends a comment block (`: text` and a blank line), e.g. as a keep-alive. `text` is cut at its first line break.
pub fn write_comment(out: &mut Vec<u8>, text: &str) {
    write_line(out, b": ", first_line(text.as_bytes()));
    out.push(b'\n');
}

fn first_line(value: &[u8]) -> &[u8] {
    value
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or_default()
}

fn write_line(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
