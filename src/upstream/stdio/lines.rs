//! Newline-delimited framing of a child's output: `LineReader` splits a byte stream into lines
//! held in one owned, bounded buffer.
//!
//! Not here: what a line means (JSON-RPC inspection is crate::mcp), where it goes (sessions).
//! Hot path: `next_line` allocates only while the buffer grows towards its bound (never past
//! `max_line + 1` bytes) and awaits only the underlying read; consumed bytes at the front are
//! reclaimed by moving the unfinished line down, so steady state neither allocates nor grows.

use std::io;

use futures_lite::{AsyncRead, AsyncReadExt};

/// First buffer size; most MCP messages fit, larger ones grow the buffer up to the bound.
const INITIAL_CAPACITY: usize = 8 * 1024;

/// Why no line could be produced.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// A line (bytes before its `\n`, a `\r` included) is longer than the reader's bound; the stream is no
    /// longer in sync, so the caller should end the child.
    #[error("line longer than {limit} bytes")]
    TooLong {
        /// The bound that was exceeded, in bytes.
        limit: usize,
    },
    /// Reading the stream failed.
    #[error("reading a line failed: {0}")]
    Io(#[from] io::Error),
}

/// Splits a byte stream into `\n`-terminated lines of at most `max_line` bytes each.
///
/// Lines come back without their `\n` and without a `\r` just before it. After an error the
/// reader keeps returning errors or stale state; drop it.
#[derive(Debug)]
pub struct LineReader<S> {
    stream: S,
    /// Bytes read; `buf[start..end]` is not yet returned. `buf.len()` is the usable capacity.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf[start..scanned]` is known to hold no `\n`, so a long line is searched only once.
    scanned: usize,
    max_line: usize,
    eof: bool,
}

impl<S: AsyncRead + Unpin> LineReader<S> {
    /// A reader over `stream` accepting lines of up to `max_line` bytes (excluding the `\n`).
    /// Allocates nothing until the first read.
    pub fn new(stream: S, max_line: usize) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            max_line,
            eof: false,
        }
    }

    /// The longest line accepted, in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// The next line without its `\n` (and without a `\r` before it), `Ok(None)` at end of
    /// stream. A final line without `\n` is returned before `None`.
    ///
    /// # Errors
    /// [`LineError::TooLong`] when a line exceeds the bound, [`LineError::Io`] when a read fails.
    pub async fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        let (line_start, line_end) = loop {
            let unscanned = self.buf.get(self.scanned..self.end).unwrap_or_default();
            if let Some(offset) = unscanned.iter().position(|&byte| byte == b'\n') {
                let newline = self.scanned + offset;
                if newline - self.start > self.max_line {
                    return Err(LineError::TooLong {
                        limit: self.max_line,
                    });
                }
                let line = (self.start, newline);
                self.consume(newline + 1);
                break line;
            }
            self.scanned = self.end;
            if self.end - self.start > self.max_line {
                return Err(LineError::TooLong {
                    limit: self.max_line,
                });
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let line = (self.start, self.end);
                self.consume(self.end);
                break line;
            }
            self.fill().await?;
        };
        let line = self.buf.get(line_start..line_end).unwrap_or_default();
        Ok(Some(line.strip_suffix(b"\r").unwrap_or(line)))
    }

    /// Marks `buf[..upto]` as returned; an empty buffer restarts at the front.
    fn consume(&mut self, upto: usize) {
        if upto >= self.end {
            self.start = 0;
            self.end = 0;
        } else {
            self.start = upto;
        }
        self.scanned = self.start;
    }

    /// Reads once into the free tail, first moving the unfinished line to the front and
    /// growing (up to `max_line + 1`, enough to tell a too-long line) only when it fills the
    /// whole buffer. Sets `eof` on a zero-byte read.
    async fn fill(&mut self) -> Result<(), LineError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let bound = self.max_line.saturating_add(1);
            let wanted = self.buf.len().saturating_mul(2).max(INITIAL_CAPACITY);
            self.buf.resize(wanted.min(bound).max(self.end + 1), 0);
        }
        let free = self.buf.get_mut(self.end..).unwrap_or_default();
        loop {
            match self.stream.read(free).await {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(read) => {
                    self.end += read;
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(LineError::Io(error)),
            }
        }
    }

    /// Gives the stream back; bytes already buffered are lost.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// An in-memory stream that hands out `data` in pieces of at most `piece` bytes, and
    /// exactly one cut at `split` (so every split point can be tried).
    struct Pieces {
        data: Vec<u8>,
        position: usize,
        split: usize,
        piece: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let this = &mut *self;
            let mut stop = (this.position + this.piece).min(this.data.len());
            if this.position < this.split {
                stop = stop.min(this.split);
            }
            let count = (stop - this.position).min(buf.len());
            buf[..count].copy_from_slice(&this.data[this.position..this.position + count]);
            this.position += count;
            Poll::Ready(Ok(count))
        }
    }

    fn reader(data: &[u8], split: usize, piece: usize, max_line: usize) -> LineReader<Pieces> {
        let stream = Pieces {
            data: data.to_vec(),
            position: 0,
            split,
            piece,
        };
        LineReader::new(stream, max_line)
    }

    fn collect(reader: &mut LineReader<Pieces>) -> Result<Vec<Vec<u8>>, LineError> {
        futures_lite::future::block_on(async {
            let mut lines = Vec::new();
            while let Some(line) = reader.next_line().await? {
                lines.push(line.to_vec());
            }
            Ok(lines)
        })
    }

    const MIXED: &[u8] = b"{\"a\":1}\n\r\n{\"b\":\"x y\"}\r\n\nlast";

    fn expected_mixed() -> Vec<Vec<u8>> {
        [&b"{\"a\":1}"[..], b"", b"{\"b\":\"x y\"}", b"", b"last"]
            .iter()
            .map(|line| line.to_vec())
            .collect()
    }

    #[test]
    fn every_split_point_gives_the_same_lines() {
        for piece in [1, 2, 5, 4096] {
            for split in 0..=MIXED.len() {
                let mut reader = reader(MIXED, split, piece, 64);
                let lines = collect(&mut reader).unwrap();
                assert_eq!(lines, expected_mixed(), "split {split} piece {piece}");
            }
        }
    }

    #[test]
    fn terminated_stream_ends_without_an_extra_line() {
        let mut reader = reader(b"one\ntwo\n", 0, 4096, 16);
        assert_eq!(
            collect(&mut reader).unwrap(),
            vec![b"one".to_vec(), b"two".to_vec()]
        );
        assert!(futures_lite::future::block_on(reader.next_line())
            .unwrap()
            .is_none());
    }

    #[test]
    fn line_at_the_bound_passes_and_one_past_fails() {
        for piece in [1, 3, 4096] {
            let mut reader = reader(b"12345678\n1234567\r\n123456789\n", 0, piece, 8);
            let first = futures_lite::future::block_on(reader.next_line()).unwrap();
            assert_eq!(first, Some(&b"12345678"[..]));
            let crlf = futures_lite::future::block_on(reader.next_line()).unwrap();
            assert_eq!(crlf, Some(&b"1234567"[..]));
            let second = futures_lite::future::block_on(reader.next_line());
            assert!(matches!(second, Err(LineError::TooLong { limit: 8 })));
        }
    }

    #[test]
    fn unterminated_overlong_tail_fails() {
        let mut reader = reader(b"ok\n0123456789abcdef", 0, 4096, 8);
        let result = collect(&mut reader);
        assert!(matches!(result, Err(LineError::TooLong { limit: 8 })));
    }

    #[test]
    fn buffer_compacts_instead_of_growing() {
        let line = [b'x'; 1000];
        let mut data = Vec::new();
        for _ in 0..100 {
            data.extend_from_slice(&line);
            data.push(b'\n');
        }
        for piece in [777, 4096] {
            let mut reader = reader(&data, 0, piece, 1000);
            assert_eq!(collect(&mut reader).unwrap().len(), 100);
            assert!(
                reader.buf.len() <= INITIAL_CAPACITY,
                "grew to {}",
                reader.buf.len()
            );
        }
    }

    #[test]
    fn buffer_never_grows_past_the_bound() {
        let data = [b'y'; 100_000];
        let mut reader = reader(&data, 0, 4096, 50_000);
        assert!(matches!(
            collect(&mut reader),
            Err(LineError::TooLong { limit: 50_000 })
        ));
        assert!(reader.buf.len() <= 50_001);
    }
}
