//! The chunked transfer coding (RFC 9112 §7.1): an incremental decoder that yields data ranges of its input, and
//! the writers for the other direction.
//!
//! Not here: sockets and buffers (`conn.rs`), `Content-Length` bodies (a counter, in `conn.rs`).
//! Hot path: the decoder allocates nothing and copies nothing. It keeps its progress in a small state enum, so a
//! caller may hand it any split of the stream, including one byte at a time, and get the same data.
//!
//! Strictness, with reasons:
//! - chunk-size is 1*HEXDIG with no sign, prefix or leading whitespace; it must fit a u64 (`BadChunkSize`).
//! - after the size only `[BWS] ";" ext` or CRLF may follow. Extensions are skipped unparsed, but may not contain
//!   control bytes other than HTAB. The whole size line is bounded by `MAX_CHUNK_LINE` (RFC 9112 §7.1.1 lets us
//!   limit extensions; an unbounded line is a slow-drip memory/CPU sink).
//! - every line ends in CRLF: a bare LF or CR is refused (`BadChunkSize`, `BadChunkTerminator`, `BadTrailer`). Parsers
//!   disagreeing on line ends is the classic chunked smuggling trick, and every sane sender writes CRLF.
//! - chunk data must be followed by CRLF exactly (`BadChunkTerminator`).
//! - trailer fields are accepted and skipped (never forwarded), bounded by `MAX_TRAILER_BYTES`; only their line
//!   endings are checked.
//! - the sum of chunk sizes is bounded by the decoder's body limit (`BodyTooLarge`), checked as each size line
//!   completes, before any of that chunk's data is read.

use std::io::Write as _;
use std::ops::Range;

use super::error::{Error, Malformed, MessageKind};

/// Longest chunk-size line accepted, extensions and CRLF included.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Largest trailer section accepted (all trailer lines and the final CRLF).
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// The last chunk with an empty trailer section: ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What `ChunkedDecoder::next` found in its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `input[range]` is body data (never empty). Everything before `range.end` is consumed; call again with
    /// `&input[range.end..]`.
    Data(Range<usize>),
    /// All of `input` was consumed (framing bytes only); call again with more bytes.
    NeedMore,
    /// The body ended: its last byte is `input[consumed - 1]`; `input[consumed..]` belongs to the next message.
    Done {
        /// Bytes of `input` that were part of this body.
        consumed: usize,
    },
}

/// Where the decoder is in the chunked grammar. Counts carry what the bounds need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the hex digits of a size line.
    Size { size: u64, digits: usize },
    /// After the digits, in BWS that must lead to `;`.
    SizeSpace { size: u64, line: usize },
    /// In a chunk extension, up to CR.
    Extension { size: u64, line: usize },
    /// Saw the size line's CR.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Data done; expecting CR.
    DataCr,
    /// Expecting the LF after data.
    DataLf,
    /// At the start of a trailer line (or of the final blank line).
    TrailerStart { total: usize },
    /// Inside a trailer line.
    TrailerLine { total: usize },
    /// Saw CR ending a trailer line.
    TrailerLf { total: usize },
    /// Saw CR of the final blank line.
    EndLf,
    /// The body is complete.
    Done,
}

/// Incremental decoder for one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    kind: MessageKind,
    max_body: u64,
    body_len: u64,
}

impl ChunkedDecoder {
    /// A decoder for one body of a `kind` message (picks `BadRequest`/`BadResponse`), at most `max_body` data bytes.
    pub fn new(kind: MessageKind, max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            kind,
            max_body,
            body_len: 0,
        }
    }

    /// Data bytes seen so far (declared by completed size lines).
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Whether the whole body, trailers included, has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input` (the bytes not yet consumed) up to the next piece of data or the end.
    ///
    /// Errors: `BadRequest`/`BadResponse` with `BadChunkSize`, `BadChunkTerminator` or `BadTrailer`, and
    /// `BodyTooLarge`. After an error the decoder is unusable (the stream cannot be resynchronised).
    pub fn next(&mut self, input: &[u8]) -> Result<Step, Error> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok(Step::Done { consumed: pos }),
                State::Data { remaining } => {
                    let available = input.len().saturating_sub(pos);
                    if available == 0 {
                        return Ok(Step::NeedMore);
                    }
                    let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                    return Ok(Step::Data(pos..pos + take));
                }
                _ => {}
            }
            let Some(&byte) = input.get(pos) else {
                return Ok(Step::NeedMore);
            };
            pos += 1;
            self.state = self.advance(byte)?;
        }
    }

    /// One byte of framing (anything but data): the size line, the CRLF after a chunk's data,
    /// or the trailer section.
    fn advance(&mut self, byte: u8) -> Result<State, Error> {
        match self.state {
            State::Size { .. }
            | State::SizeSpace { .. }
            | State::Extension { .. }
            | State::SizeLf { .. } => self.size_line(byte),
            State::DataCr if byte == b'\r' => Ok(State::DataLf),
            State::DataLf if byte == b'\n' => Ok(State::Size { size: 0, digits: 0 }),
            State::DataCr | State::DataLf => {
                Err(self.kind.malformed(Malformed::BadChunkTerminator))
            }
            State::TrailerStart { .. }
            | State::TrailerLine { .. }
            | State::TrailerLf { .. }
            | State::EndLf => self.trailer(byte),
            // `next` handles these two without calling `advance`.
            State::Data { .. } | State::Done => Ok(self.state),
        }
    }

    /// One byte of a size line (`1a;ext=1\r\n`): hex digits, optional BWS and extension, CRLF;
    /// its end starts the chunk's data, or the trailer after the last chunk.
    #[inline]
    fn size_line(&mut self, byte: u8) -> Result<State, Error> {
        let bad_size = || self.kind.malformed(Malformed::BadChunkSize);
        Ok(match (self.state, byte) {
            (State::Size { size, digits }, _) if byte.is_ascii_hexdigit() => {
                let digit = u64::from(hex_value(byte));
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or_else(bad_size)?;
                bounded_line(digits + 1).ok_or_else(bad_size)?;
                State::Size {
                    size,
                    digits: digits + 1,
                }
            }
            (State::Size { digits: 0, .. }, _) => return Err(bad_size()),
            (State::Size { size, digits }, b' ' | b'\t') => State::SizeSpace {
                size,
                line: digits + 1,
            },
            (State::Size { size, digits }, b';') => State::Extension {
                size,
                line: digits + 1,
            },
            (State::Size { size, .. }, b'\r') => State::SizeLf { size },
            (State::SizeSpace { size, line }, b' ' | b'\t') => State::SizeSpace {
                size,
                line: bounded_line(line + 1).ok_or_else(bad_size)?,
            },
            (State::SizeSpace { size, line }, b';') => State::Extension {
                size,
                line: line + 1,
            },
            (State::Extension { size, .. }, b'\r') => State::SizeLf { size },
            (State::Extension { size, line }, _) if byte == b'\t' || !byte.is_ascii_control() => {
                State::Extension {
                    size,
                    line: bounded_line(line + 1).ok_or_else(bad_size)?,
                }
            }
            (State::SizeLf { size: 0 }, b'\n') => State::TrailerStart { total: 0 },
            (State::SizeLf { size }, b'\n') => {
                self.body_len = self.body_len.saturating_add(size);
                if self.body_len > self.max_body {
                    return Err(Error::BodyTooLarge {
                        limit: self.max_body,
                    });
                }
                State::Data { remaining: size }
            }
            _ => return Err(bad_size()),
        })
    }

    /// One byte of the trailer section: fields (skipped, at most `MAX_TRAILER_BYTES`) up to
    /// the empty line that ends the body.
    #[inline]
    fn trailer(&self, byte: u8) -> Result<State, Error> {
        let bad_trailer = || self.kind.malformed(Malformed::BadTrailer);
        Ok(match (self.state, byte) {
            (State::TrailerStart { .. }, b'\r') => State::EndLf,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerStart { total } | State::TrailerLine { total }, _) if byte != b'\n' => {
                let total = total + 1;
                if total > MAX_TRAILER_BYTES {
                    return Err(bad_trailer());
                }
                if byte == b'\r' {
                    State::TrailerLf { total }
                } else {
                    State::TrailerLine { total }
                }
            }
            (State::TrailerLf { total }, b'\n') => State::TrailerStart { total: total + 1 },
            _ => return Err(bad_trailer()),
        })
    }
}

/// `Some(len)` while a size line of `len` bytes (CRLF not counted yet) leaves room for its CRLF.
fn bounded_line(len: usize) -> Option<usize> {
    (len + 2 <= MAX_CHUNK_LINE).then_some(len)
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

/// Appends one chunk (size line, `data`, CRLF). Writes nothing for empty `data`: an empty chunk would end the body.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    write_chunk_header(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends only the size line of a `len`-byte chunk, for callers that send the data from its own buffer and then
/// `b"\r\n"`. `len` must not be 0 (use `LAST_CHUNK` to end the body).
pub fn write_chunk_header(out: &mut Vec<u8>, len: usize) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{len:x}\r\n");
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
