//! Where a link's incoming messages come from and how that peer is stopped: a stdio child's
//! stdout ([`StdioSource`]) or a legacy HTTP+SSE upstream's event stream (`sse.rs`).
//!
//! Not here: routing the messages (reader.rs), sending (the writer tasks).

use std::time::Duration;

use glommio::net::UnixStream;

use crate::upstream::stdio::{ChildProcess, LineError, LineReader};

use super::sse_error::SseError;

/// How a peer's message stream ended.
#[derive(Debug)]
pub(super) enum End {
    /// The proxy asked the peer to stop.
    Closed,
    /// The peer ended its stream.
    Eof,
    /// The peer broke the protocol or the connection failed.
    Broken(ReadError),
}

/// Why a peer's message stream could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    /// A stdio child wrote a line over the bound.
    #[error("upstream process sent a message over {limit} bytes")]
    TooLong {
        /// The bound, in bytes.
        limit: usize,
    },
    /// Reading a stdio child's stdout failed.
    #[error("reading upstream stdout failed: {0}")]
    Stdout(LineError),
    /// A legacy SSE upstream's stream failed.
    #[error(transparent)]
    Sse(#[from] SseError),
}

/// A peer's stream of incoming messages.
pub(super) trait Source {
    /// The next message; `Ok(None)` at the end of the stream.
    async fn next_message(&mut self) -> Result<Option<&[u8]>, ReadError>;

    /// Stops the peer after its stream ended as `end`, and says why it is gone (the text
    /// pending callers and later requests are told).
    async fn finish(self, end: &End, grace: Duration) -> String;
}

/// How long a child that closed stdout gets to exit by itself before it is stopped: its exit
/// status is what pending callers are told.
const EXIT_AFTER_EOF: Duration = Duration::from_millis(200);

/// Polling period while waiting for that exit.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// A stdio child: lines from its stdout; stopping means its process group, reaped.
pub(super) struct StdioSource {
    /// The child's stdout.
    pub(super) stdout: LineReader<UnixStream>,
    /// The child.
    pub(super) process: ChildProcess,
}

impl Source for StdioSource {
    async fn next_message(&mut self) -> Result<Option<&[u8]>, ReadError> {
        match self.stdout.next_line().await {
            Ok(line) => Ok(line),
            Err(LineError::TooLong { limit }) => Err(ReadError::TooLong { limit }),
            Err(error) => Err(ReadError::Stdout(error)),
        }
    }

    async fn finish(mut self, end: &End, grace: Duration) -> String {
        if matches!(end, End::Eof) {
            let _ = glommio::timer::timeout(EXIT_AFTER_EOF, async {
                Ok(self.process.wait_exit(EXIT_POLL).await)
            })
            .await;
        }
        let exit = self.process.terminate(grace).await;
        let status = match &exit {
            Ok(exit) if exit.killed => format!("{} after being stopped", exit.status),
            Ok(exit) => exit.status.to_string(),
            Err(error) => format!("unknown ({error})"),
        };
        match end {
            End::Closed => format!("upstream process stopped ({status})"),
            End::Eof => format!("upstream process exited ({status})"),
            End::Broken(why) => format!("{why}; stopped it ({status})"),
        }
    }
}
