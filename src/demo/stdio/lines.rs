//! Splitting the bytes read from stdin into newline-delimited messages, with a bound per line.
//!
//! Not here: reading (the serving loop) or what a line means (`session.rs`). Complete lines
//! inside one read are handed out as slices of the read buffer; only a line split across reads
//! is copied (into `partial`, which keeps its capacity).

/// One piece of input.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// A message without its `\n` (and without a `\r` before it); never empty or all blanks.
    Message(&'a [u8]),
    /// A line longer than the bound; its bytes were dropped.
    TooLong,
}

/// Frames a byte stream into lines of at most `max` bytes.
#[derive(Debug)]
pub(super) struct LineSplitter {
    /// The start of a line whose end has not been read yet.
    partial: Vec<u8>,
    /// Dropping the rest of an over-long line until its `\n`.
    discarding: bool,
    max: usize,
}

impl LineSplitter {
    /// A splitter accepting lines of up to `max` bytes.
    pub(super) fn new(max: usize) -> Self {
        Self {
            partial: Vec::new(),
            discarding: false,
            max,
        }
    }

    /// Feeds one read; calls `on_line` for each complete line, in order.
    pub(super) fn feed(&mut self, mut chunk: &[u8], on_line: &mut dyn FnMut(Line<'_>)) {
        while let Some(end) = chunk.iter().position(|&byte| byte == b'\n') {
            let (line, rest) = chunk.split_at(end);
            chunk = rest.get(1..).unwrap_or_default();
            if self.discarding {
                self.discarding = false;
                continue;
            }
            if self.partial.is_empty() {
                self.emit(line, on_line);
            } else if self.partial.len() + line.len() > self.max {
                self.partial.clear();
                on_line(Line::TooLong);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.emit(&whole, on_line);
                self.partial = whole;
                self.partial.clear();
            }
        }
        if self.discarding || chunk.is_empty() {
            return;
        }
        if self.partial.len() + chunk.len() > self.max {
            self.partial.clear();
            self.discarding = true;
            on_line(Line::TooLong);
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    /// At end of input: a last line without `\n` still counts (as most stdio servers do).
    pub(super) fn finish(&mut self, on_line: &mut dyn FnMut(Line<'_>)) {
        if !self.discarding && !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.emit(&last, on_line);
        }
        self.discarding = false;
    }

    fn emit(&self, line: &[u8], on_line: &mut dyn FnMut(Line<'_>)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > self.max {
            on_line(Line::TooLong);
        } else if !line.iter().all(u8::is_ascii_whitespace) {
            on_line(Line::Message(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at every point into a splitter with bound `max`; returns what came out
    /// for each split (they must all agree).
    fn split_everywhere(input: &[u8], max: usize) -> Vec<String> {
        let mut outcomes: Vec<Vec<String>> = Vec::new();
        for cut in 0..=input.len() {
            let mut splitter = LineSplitter::new(max);
            let mut out = Vec::new();
            let mut collect = |line: Line<'_>| {
                out.push(match line {
                    Line::Message(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Line::TooLong => "<too long>".to_owned(),
                });
            };
            let (a, b) = input.split_at(cut);
            splitter.feed(a, &mut collect);
            splitter.feed(b, &mut collect);
            splitter.finish(&mut collect);
            outcomes.push(out);
        }
        for outcome in &outcomes {
            assert_eq!(outcome, &outcomes[0], "{input:?}");
        }
        outcomes.swap_remove(0)
    }

    #[test]
    fn lines_come_out_whole_at_every_split_point() {
        assert_eq!(
            split_everywhere(b"{\"a\":1}\n{\"b\":2}\r\n\n  \n{\"c\":3}", 64),
            ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]
        );
    }

    #[test]
    fn over_long_lines_are_reported_once_and_skipped() {
        assert_eq!(
            split_everywhere(b"12345\n123456789\nabc\n", 5),
            ["12345", "<too long>", "abc"]
        );
        assert_eq!(split_everywhere(b"123456789", 5), ["<too long>"]);
    }

    #[test]
    fn a_partial_line_keeps_its_buffer() {
        let mut splitter = LineSplitter::new(1024);
        let mut seen = Vec::new();
        splitter.feed(b"{\"x\":", &mut |line| seen.push(format!("{line:?}")));
        splitter.feed(b"1}\n", &mut |line| seen.push(format!("{line:?}")));
        assert_eq!(seen.len(), 1);
        assert!(splitter.partial.is_empty() && splitter.partial.capacity() > 0);
    }
}
