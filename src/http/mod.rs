//! HTTP/1.1 for shadowcat: strict, allocation-aware codecs plus a small async connection wrapper for glommio.
//!
//! Not here: MCP, JSON, sessions, routing, timeouts (callers wrap awaits in `glommio::timer::timeout`).
//!
//! # Overview
//! - [`head`]: [`RequestHead`] / [`ResponseHead`] parsed by httparse and stored as one byte copy plus offsets;
//!   the [`Head`] trait gives `header`, `headers`, `keep_alive`, `connection_tokens`, `is_hop_by_hop`,
//!   `end_to_end_headers`. [`Limits`] bounds head size, field count and body size.
//! - [`framing`]: [`Framing`] of a body (`Empty`, `Length`, `Chunked`, `UntilClose`) under strict anti-smuggling
//!   rules (see that module's docs for the list and the reasons).
//! - [`body`]: [`ChunkedDecoder`], which yields data *ranges* of its input (no copy), and chunk writers.
//! - [`sse`]: [`SseParser`], an incremental `text/event-stream` parser reporting each event's byte length in the
//!   stream (so a proxy can forward original bytes), and [`write_event`].
//! - [`write`]: head serialisation ([`write_request_head`], [`write_response_head`]) and [`status_reason`].
//! - [`conn`]: [`HttpConn`], a stream plus a caller-provided read buffer: `read_request_head`, `read_body`,
//!   `next_body_chunk`, `write_all`, `into_parts` for connection handoff.
//! - [`error`]: [`Error`] / [`Malformed`], and [`Error::status`] for the answer a server gives.
//!
//! # A server loop
//! ```no_run
//! # use shadowcat::http::{Error, Head, HttpConn, Limits, RequestHead, write_response_head, Framing};
//! # async fn serve<S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin>(stream: S) -> Result<(), Error> {
//! let limits = Limits::default();
//! let mut conn = HttpConn::new(stream, Vec::with_capacity(16 * 1024));
//! let (mut head, mut body, mut out) = (RequestHead::default(), Vec::new(), Vec::new());
//! while conn.read_request_head(&limits, &mut head).await? {
//!     body.clear();
//!     conn.read_body(head.framing()?, limits.max_body_bytes as usize, &mut body).await?;
//!     out.clear();
//!     write_response_head(&mut out, 200, [("content-type", &b"application/json"[..])], Framing::Length(2));
//!     out.extend_from_slice(b"{}");
//!     conn.write_all(&out).await?;
//!     conn.flush().await?;
//!     if !head.keep_alive() {
//!         break;
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//! On an error, answer with `err.status()` (when reading a request) and close: after a framing error the
//! connection cannot be trusted to be at a message boundary.

pub mod body;
pub mod conn;
pub mod error;
pub mod framing;
pub mod head;
pub mod sse;
pub mod write;

pub use body::{write_chunk, write_chunk_header, ChunkedDecoder, Step, LAST_CHUNK};
pub use conn::{BodyReader, HttpConn};
pub use error::{Error, Malformed, MessageKind};
pub use framing::Framing;
pub use head::{
    is_hop_by_hop, media_type, parse_request, parse_response, Head, Limits, Method, RequestHead,
    ResponseHead, CONTINUE, MAX_HEADERS_CAP,
};
pub use sse::{write_comment, write_event, SseEvent, SseParser, SseStep};
pub use write::{
    status_reason, write_request_head, write_request_head_with, write_response_head,
    write_status_line,
};
