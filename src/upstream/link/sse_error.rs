//! Why a legacy HTTP+SSE upstream session failed ([`SseError`]): opening its stream, reading it,
//! or POSTing to it. The texts are what pending callers, later requests and the logs are told.
//!
//! Not here: the session itself (sse.rs).

use std::time::Duration;

use crate::http::Error as HttpError;
use crate::upstream::connect::ConnectError;

/// One failure of a legacy SSE upstream session.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    /// The upstream has `oauth` and the proxy holds no valid token for it: nothing is sent.
    #[error("{url}: no access token for the upstream (its authorization server is unreachable or refuses the proxy)")]
    NoToken {
        /// The stream's URL.
        url: String,
    },
    /// Connecting failed: no address, TCP refused or timed out on every address, or (for
    /// `https://`) the TLS handshake failed (rustls's reason in `source`).
    #[error("{url}: {source}")]
    Connect {
        /// The stream's URL.
        url: String,
        /// Why (the last address tried).
        source: ConnectError,
    },
    /// No stream with an `endpoint` event within the open timeout.
    #[error("{url} did not open its stream within {}", humantime::format_duration(*.within))]
    OpenTimeout {
        /// The stream's URL.
        url: String,
        /// The timeout.
        within: Duration,
    },
    /// Sending the GET failed.
    #[error("writing to {url} failed: {source}")]
    Write {
        /// The stream's URL.
        url: String,
        /// Why.
        source: HttpError,
    },
    /// No readable response head.
    #[error("upstream sent no usable response: {0}")]
    NoResponse(HttpError),
    /// The GET was answered with another status than 200.
    #[error("{url} answered GET with {status}")]
    Status {
        /// The stream's URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The GET answer's framing is unusable.
    #[error("{url}: bad framing: {source}")]
    Framing {
        /// The stream's URL.
        url: String,
        /// Why.
        source: HttpError,
    },
    /// The GET answer's body cannot be read as framed.
    #[error("{url}: {source}")]
    Body {
        /// The stream's URL.
        url: String,
        /// Why.
        source: HttpError,
    },
    /// The stream ended before naming where to POST.
    #[error("{url} closed the stream before its endpoint event")]
    NoEndpoint {
        /// The stream's URL.
        url: String,
    },
    /// The `endpoint` event named another origin.
    #[error("{url} announced an endpoint on another origin: {announced}")]
    ForeignEndpoint {
        /// The stream's URL.
        url: String,
        /// What it announced.
        announced: String,
    },
    /// The `endpoint` event named no usable path.
    #[error("{url} announced an unusable endpoint: {announced}")]
    BadEndpoint {
        /// The stream's URL.
        url: String,
        /// What it announced.
        announced: String,
    },
    /// The event stream broke the SSE format.
    #[error("upstream SSE stream is malformed: {0}")]
    Malformed(HttpError),
    /// Reading the event stream failed.
    #[error("reading the upstream SSE stream failed: {0}")]
    Read(HttpError),
    /// Sending a POST failed.
    #[error("POST to {endpoint} failed: {source}")]
    PostWrite {
        /// The session's endpoint.
        endpoint: String,
        /// Why.
        source: HttpError,
    },
    /// A POST answer's framing is unusable.
    #[error("bad framing: {0}")]
    PostFraming(HttpError),
    /// Reading a POST answer failed.
    #[error("reading the POST answer failed: {0}")]
    PostAnswer(HttpError),
    /// A POST got no answer in time.
    #[error("no answer to a POST within {0:?}")]
    PostTimeout(Duration),
}
