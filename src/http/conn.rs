//! `HttpConn`: one HTTP/1.1 connection, a stream plus a caller-provided read buffer, reading heads and bodies
//! with the strict codecs and writing raw bytes.
//!
//! Not here: parsing rules (`head.rs`, `framing.rs`, `body.rs`), what to do with a message, timeouts. Every method
//! waits as long as the peer makes it wait: wrap calls in `glommio::timer::timeout` (or race them against a timer)
//! to bound header, body and idle times.
//!
//! Hot path. Allocation: none per request beyond what the caller hands in. The read buffer is the caller's `Vec`
//! (e.g. from a pool; `into_parts` gives it back); it is zero-filled to its capacity once (at least
//! `MIN_READ_BUFFER`) so reads can go straight into its spare room, compacted when the room runs out, and grown
//! only while reading a head, never past `Limits::max_head_bytes`. A connection about to sit idle for long
//! (relaying a stream) can hand the buffer back (`release_read_buf`); its next read takes a fresh one. Heads are
//! parsed into a `RequestHead` / `ResponseHead` the caller keeps and reuses. Body data is handed out as slices of the
//! read buffer (`next_body_chunk`), or appended to the caller's `Vec` (`read_body`). Awaits: stream reads and writes
//! only.
//!
//! A head is re-parsed only when new bytes may have completed it (they contain a blank line) or the buffer has
//! reached the head limit, so a client dripping a head byte by byte costs linear, not quadratic, work.

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::{ChunkedDecoder, Step};
use super::error::{Error, MessageKind};
use super::framing::Framing;
use super::head::{Limits, RequestHead, ResponseHead};

/// Smallest read buffer a connection works with; a smaller `Vec` is grown to this once.
pub const MIN_READ_BUFFER: usize = 4 * 1024;

/// Most bytes a body read asks for at once (bounds the up-front zeroing per read).
const READ_STEP: usize = 64 * 1024;

/// Progress through one message body, for `HttpConn::next_body_chunk`.
#[derive(Debug, Clone)]
pub struct BodyReader {
    state: BodyState,
    max_body: u64,
    read: u64,
}

#[derive(Debug, Clone)]
enum BodyState {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

impl BodyReader {
    /// A reader for a body with `framing` in a `kind` message, refusing more than `max_body` bytes.
    /// Fails at once with `BodyTooLarge` when a `Content-Length` already exceeds the limit.
    pub fn new(framing: Framing, kind: MessageKind, max_body: u64) -> Result<Self, Error> {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => BodyState::Done,
            Framing::Length(len) if len > max_body => {
                return Err(Error::BodyTooLarge { limit: max_body })
            }
            Framing::Length(len) => BodyState::Length { remaining: len },
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new(kind, max_body)),
            Framing::UntilClose => BodyState::UntilClose,
        };
        Ok(BodyReader {
            state,
            max_body,
            read: 0,
        })
    }

    /// Whether the body has been read to its end.
    pub fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// Body bytes handed out so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

/// An HTTP/1.1 connection over any async byte stream (a glommio `TcpStream`, a `UnixStream`, a test double).
#[derive(Debug)]
pub struct HttpConn<S> {
    stream: S,
    /// Initialised to its full length; `buf[start..end]` holds bytes read but not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> HttpConn<S> {
    /// Wraps `stream`, using `buf`'s allocation (its contents are discarded) as the read buffer.
    pub fn new(stream: S, mut buf: Vec<u8>) -> Self {
        buf.clear();
        HttpConn::from_parts(stream, buf)
    }

    /// Wraps `stream` whose first bytes were already read into `buf` (e.g. a connection handed over from another
    /// shard, or sniffed): they are parsed before anything new is read.
    pub fn from_parts(stream: S, mut buf: Vec<u8>) -> Self {
        let end = buf.len();
        let room = buf.capacity().max(MIN_READ_BUFFER);
        buf.resize(room, 0);
        HttpConn {
            stream,
            buf,
            start: 0,
            end,
        }
    }

    /// Gives back the stream and the read buffer holding exactly the bytes read but not consumed (the start of the
    /// next message, if any), its allocation kept for reuse.
    pub fn into_parts(mut self) -> (S, Vec<u8>) {
        self.buf.copy_within(self.start..self.end, 0);
        self.buf.truncate(self.end - self.start);
        (self.stream, self.buf)
    }

    /// Takes the read buffer out while nothing is buffered (`None` otherwise: read-ahead bytes
    /// stay), so a connection idle for long (relaying a stream) holds no buffer. The next read
    /// allocates a fresh `MIN_READ_BUFFER`.
    pub fn release_read_buf(&mut self) -> Option<Vec<u8>> {
        if self.start != self.end || self.buf.is_empty() {
            return None;
        }
        self.start = 0;
        self.end = 0;
        Some(std::mem::take(&mut self.buf))
    }

    /// Bytes read ahead and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// The underlying stream (for addresses, socket options). Reading from it directly would skip `buffered()`.
    pub fn stream_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably (e.g. to take its socket for a handoff). Reading from it
    /// directly would skip `buffered()`.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Reads the next request head into `head` (reusing its storage) and consumes it from the buffer.
    ///
    /// `Ok(false)`: the peer closed cleanly before sending any byte of a new request. Errors: those of
    /// `RequestHead::parse`, `UnexpectedEof` when the stream ends inside a head, `Io`.
    pub async fn read_request_head(
        &mut self,
        limits: &Limits,
        head: &mut RequestHead,
    ) -> Result<bool, Error> {
        self.read_head(limits, |bytes| head.parse(bytes, limits))
            .await
    }

    /// Reads the next response head into `head`; same contract as `read_request_head`. A 1xx interim response is
    /// returned like any other: call again for the final one.
    pub async fn read_response_head(
        &mut self,
        limits: &Limits,
        head: &mut ResponseHead,
    ) -> Result<bool, Error> {
        self.read_head(limits, |bytes| head.parse(bytes, limits))
            .await
    }

    /// Reads response heads until the final one: 1xx interim responses (102 Processing, 103
    /// Early Hints) are skipped, never taken as final (RFC 9110 §15.2). 101 would switch
    /// protocols, which no MCP peer has business doing: `BadResponse(BadStatus)`. EOF before a
    /// final head is `UnexpectedEof`.
    pub async fn read_final_response_head(
        &mut self,
        limits: &Limits,
        head: &mut ResponseHead,
    ) -> Result<(), Error> {
        loop {
            if !self.read_response_head(limits, head).await? {
                return Err(Error::UnexpectedEof);
            }
            match head.status() {
                101 => return Err(Error::BadResponse(crate::http::Malformed::BadStatus)),
                100..=199 => continue,
                _ => return Ok(()),
            }
        }
    }

    async fn read_head(
        &mut self,
        limits: &Limits,
        mut parse: impl FnMut(&[u8]) -> Result<Option<usize>, Error>,
    ) -> Result<bool, Error> {
        // Buffered bytes (counted from `start`) already searched for a blank line.
        let mut searched: usize = 0;
        loop {
            let buffered = self.buffered();
            let fresh = buffered
                .get(searched.saturating_sub(2)..)
                .unwrap_or_default();
            if !buffered.is_empty()
                && (has_blank_line(fresh) || buffered.len() >= limits.max_head_bytes)
            {
                if let Some(len) = parse(buffered)? {
                    self.start += len;
                    return Ok(true);
                }
            }
            searched = buffered.len();
            if self.fill(limits.max_head_bytes).await? == 0 {
                return if self.start == self.end {
                    Ok(false)
                } else {
                    Err(Error::UnexpectedEof)
                };
            }
        }
    }

    /// Reads a whole request body with `framing` and appends it to `out`; errors are `BadRequest(_)` for chunk
    /// syntax, `BodyTooLarge { limit: max }`, `UnexpectedEof`, `Io`. A `Content-Length` body is read straight into
    /// `out` past what was buffered.
    pub async fn read_body(
        &mut self,
        framing: Framing,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.read_whole(framing, MessageKind::Request, max, out)
            .await
    }

    /// `read_body` for a response (chunk syntax errors are `BadResponse(_)`; `UntilClose` reads to EOF).
    pub async fn read_response_body(
        &mut self,
        framing: Framing,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.read_whole(framing, MessageKind::Response, max, out)
            .await
    }

    async fn read_whole(
        &mut self,
        framing: Framing,
        kind: MessageKind,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut reader = BodyReader::new(framing, kind, max as u64)?;
        if let BodyState::Length { remaining } = reader.state {
            return self
                .read_exact_into(usize::try_from(remaining).unwrap_or(max), out)
                .await;
        }
        while let Some(piece) = self.next_body_chunk(&mut reader).await? {
            out.extend_from_slice(piece);
        }
        Ok(())
    }

    /// Appends exactly `len` body bytes to `out`: the buffered ones, then reads straight into `out`.
    async fn read_exact_into(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), Error> {
        let from_buffer = len.min(self.end - self.start);
        out.extend_from_slice(
            self.buf
                .get(self.start..self.start + from_buffer)
                .unwrap_or_default(),
        );
        self.start += from_buffer;
        let mut filled = out.len();
        let target = filled + (len - from_buffer);
        while filled < target {
            // Grow with what arrives, not with what the head declared: a client announcing
            // 4 MiB and sending one byte must not cost 4 MiB.
            let step = (target - filled).min(READ_STEP);
            out.resize(filled + step, 0);
            let error = match read_some(
                &mut self.stream,
                out.get_mut(filled..filled + step).unwrap_or_default(),
            )
            .await
            {
                Ok(0) => Error::UnexpectedEof,
                Ok(n) => {
                    filled += n;
                    out.truncate(filled);
                    continue;
                }
                Err(e) => Error::Io(e),
            };
            out.truncate(filled);
            return Err(error);
        }
        Ok(())
    }

    /// The next piece of body data, as a slice of the read buffer valid until the next call; `None` at the end.
    ///
    /// Pieces are as large as what has arrived (never empty). Errors: chunk syntax (`BadRequest`/`BadResponse`),
    /// `BodyTooLarge`, `UnexpectedEof` (a `Length` or chunked body cut short), `Io`. An `UntilClose` body ends at
    /// EOF. After the end, bytes of the next message stay buffered.
    pub async fn next_body_chunk(
        &mut self,
        reader: &mut BodyReader,
    ) -> Result<Option<&[u8]>, Error> {
        // A released buffer (`release_read_buf`) grows back to the minimum.
        let room = self.buf.len().max(MIN_READ_BUFFER);
        let range = loop {
            match &mut reader.state {
                BodyState::Done => return Ok(None),
                BodyState::Length { remaining } => {
                    if self.start == self.end && self.fill(room).await? == 0 {
                        return Err(Error::UnexpectedEof);
                    }
                    let available = self.end - self.start;
                    let take = usize::try_from(*remaining).map_or(available, |r| r.min(available));
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        reader.state = BodyState::Done;
                    }
                    break self.start..self.start + take;
                }
                BodyState::Chunked(decoder) => match decoder.next(self.buffered())? {
                    Step::Data(piece) => break self.start + piece.start..self.start + piece.end,
                    Step::NeedMore => {
                        self.start = self.end;
                        if self.fill(room).await? == 0 {
                            return Err(Error::UnexpectedEof);
                        }
                    }
                    Step::Done { consumed } => {
                        self.start += consumed;
                        reader.state = BodyState::Done;
                        return Ok(None);
                    }
                },
                BodyState::UntilClose => {
                    if self.start == self.end && self.fill(room).await? == 0 {
                        reader.state = BodyState::Done;
                        return Ok(None);
                    }
                    if reader.read + (self.end - self.start) as u64 > reader.max_body {
                        return Err(Error::BodyTooLarge {
                            limit: reader.max_body,
                        });
                    }
                    break self.start..self.end;
                }
            }
        };
        self.start = range.end;
        reader.read += range.len() as u64;
        Ok(Some(self.buf.get(range).unwrap_or_default()))
    }

    /// Writes all of `bytes` to the stream.
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        Ok(self.stream.write_all(bytes).await?)
    }

    /// Flushes the stream (glommio streams buffer writes until flushed).
    pub async fn flush(&mut self) -> Result<(), Error> {
        Ok(self.stream.flush().await?)
    }

    /// Shuts down the write side (after flushing what the stream buffers): the peer reads EOF once it has the
    /// bytes already written. Reading stays possible.
    pub async fn close(&mut self) -> Result<(), Error> {
        self.stream.flush().await?;
        Ok(self.stream.close().await?)
    }

    /// Reads more bytes after `buf[end]`, first reclaiming consumed room and growing the buffer up to `grow_to`
    /// bytes if it is full. Returns how many bytes arrived (0 = EOF).
    /// Waits for the first bytes of the next message when none are buffered (returns how many
    /// are buffered now; 0 = EOF). Lets a server apply an idle timeout before a request starts and
    /// a shorter head timeout once it has, without an extra syscall: the bytes stay buffered.
    pub async fn await_data(&mut self) -> Result<usize, Error> {
        if self.start == self.end {
            self.fill(MIN_READ_BUFFER).await?;
        }
        Ok(self.end - self.start)
    }

    /// Reads more of what the peer sends after the buffered bytes (kept for the next message)
    /// while the buffer has room without growing: how many bytes arrived (0 = EOF), or `None`
    /// when the buffer is full (nothing read). Lets a wait notice a peer that sent its next
    /// request and then hung up.
    pub async fn read_ahead(&mut self) -> Result<Option<usize>, Error> {
        if self.buf.is_empty() || self.start == self.end {
            return self.fill(MIN_READ_BUFFER).await.map(Some);
        }
        if self.start == 0 && self.end == self.buf.len() {
            return Ok(None);
        }
        let room = self.buf.len();
        self.fill(room).await.map(Some)
    }

    async fn fill(&mut self, grow_to: usize) -> Result<usize, Error> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.is_empty() {
            return self.fill_released().await;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < grow_to {
                let grown = self
                    .buf
                    .len()
                    .saturating_mul(2)
                    .max(MIN_READ_BUFFER)
                    .min(grow_to);
                self.buf.resize(grown, 0);
            } else {
                // Only a head can fill the whole buffer, and head parsing reports its limit before this happens.
                return Err(Error::HeadTooLarge { limit: grow_to });
            }
        }
        let n = read_some(
            &mut self.stream,
            self.buf.get_mut(self.end..).unwrap_or_default(),
        )
        .await?;
        self.end += n;
        Ok(n)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> HttpConn<S> {
    /// `fill` after `release_read_buf`: waits for data with a few bytes of room only (an idle
    /// watch on a long stream allocates nothing), then takes a `MIN_READ_BUFFER` again.
    async fn fill_released(&mut self) -> Result<usize, Error> {
        let mut first = [0u8; 16];
        let n = read_some(&mut self.stream, &mut first).await?;
        self.buf.resize(MIN_READ_BUFFER, 0);
        if let (Some(into), Some(from)) = (self.buf.get_mut(..n), first.get(..n)) {
            into.copy_from_slice(from);
        }
        self.start = 0;
        self.end = n;
        Ok(n)
    }
}

/// One read, retried on `Interrupted`.
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    into: &mut [u8],
) -> std::io::Result<usize> {
    loop {
        match stream.read(into).await {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Whether `bytes` contain the end of a head: an LF followed by CRLF or by LF (the parser judges which is legal).
fn has_blank_line(bytes: &[u8]) -> bool {
    // memchr: every read of a head is searched, so only the LFs are looked at.
    memchr::memchr_iter(b'\n', bytes).any(|i| match bytes.get(i + 1) {
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(i + 2) == Some(&b'\n'),
        _ => false,
    })
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
