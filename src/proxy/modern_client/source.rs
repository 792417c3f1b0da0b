//! An upstream call being read, message by message ([`Source`]): a POST's JSON answer or SSE
//! stream ([`HttpAnswer`]), or a link call's deliveries; and why a call failed ([`Failure`]).
//!
//! Not here: opening sessions and sending calls (upstream.rs), what the messages mean to the
//! modern client (drive.rs, listen.rs).

use std::time::Duration;

use crate::http::{BodyReader, Framing, Head, MessageKind, SseParser, SseStep};
use crate::upstream::link::Delivery;

use super::super::error::ProxyError;
use super::super::exchange::{finish, Exchange};
pub use super::super::state::modern::{HttpAnswer, Source};
use super::super::state::ShardState;
use shards::timeout::within;

/// Most bytes of one upstream answer kept (JSON bodies, SSE events).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Why an upstream call failed (becomes an in-band JSON-RPC error for the client).
#[derive(Debug)]
pub enum Failure {
    /// No answer in time.
    Timeout,
    /// Unreachable, broken stream, refused session.
    Unavailable(String),
    /// The upstream no longer knows the session (404 on a session request).
    SessionGone,
    /// This shard holds its maximum of live upstream sessions.
    Busy,
    /// The upstream has `oauth` and the proxy has no valid token for it: nothing was sent.
    NoToken,
}

impl Failure {
    /// The JSON-RPC code and message for the client.
    pub fn describe(&self) -> (i32, String) {
        match self {
            Self::Timeout => (
                crate::mcp::jsonrpc::UPSTREAM_TIMEOUT,
                "Upstream MCP server did not answer in time".into(),
            ),
            Self::Unavailable(why) => (
                crate::mcp::jsonrpc::UPSTREAM_UNAVAILABLE,
                format!("Upstream MCP server unavailable: {why}"),
            ),
            Self::Busy => (
                crate::mcp::jsonrpc::UPSTREAM_UNAVAILABLE,
                "Too many upstream sessions in use on this proxy shard; retry later".into(),
            ),
            Self::NoToken => (
                crate::mcp::jsonrpc::UPSTREAM_TOKEN_UNAVAILABLE,
                "The proxy has no access token for the upstream MCP server (its authorization \
                 server is unreachable or refuses the proxy); retry"
                    .into(),
            ),
            Self::SessionGone => (
                crate::mcp::jsonrpc::UPSTREAM_UNAVAILABLE,
                "Upstream MCP server lost the proxy's session (404)".into(),
            ),
        }
    }
}

/// A failed exchange as the client hears of it.
pub(super) fn failure(e: ProxyError) -> Failure {
    match e {
        ProxyError::UpstreamTimeout { .. } => Failure::Timeout,
        other => Failure::Unavailable(other.to_string()),
    }
}

impl Source {
    /// The next message of the call (`Ok(None)`: it ended without more).
    pub async fn next(
        &mut self,
        state: &ShardState,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, Failure> {
        match self {
            Self::Http(answer) => match within(timeout, answer.next(state)).await {
                Some(result) => result,
                None => Err(Failure::Timeout),
            },
            Self::Link(call) => match within(timeout, call.next()).await {
                Some(Some(Delivery::Message(bytes) | Delivery::Final { bytes, .. })) => {
                    Ok(Some(bytes))
                }
                Some(None) => Err(Failure::Unavailable(
                    call.link()
                        .failure()
                        .map_or_else(|| "the call ended".to_owned(), |r| r.to_string()),
                )),
                None => {
                    call.link()
                        .cancel(call.upstream_id(), "proxy request timeout");
                    Err(Failure::Timeout)
                }
            },
        }
    }
}

impl HttpAnswer {
    /// A long-lived stream (a GET stream): no bound on its total length, only per event.
    pub fn open(ex: Exchange) -> Result<Source, Failure> {
        Self::with_limit(ex, u64::MAX).map(|answer| Source::Http(Box::new(answer)))
    }

    /// A call's answer: one message, bounded in size.
    pub(super) fn new(ex: Exchange) -> Result<Self, Failure> {
        Self::with_limit(ex, MAX_MESSAGE as u64)
    }

    fn with_limit(ex: Exchange, max_body: u64) -> Result<Self, Failure> {
        let reader = BodyReader::new(ex.framing, MessageKind::Response, max_body)
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        let sse = ex.head.is_event_stream();
        Ok(Self {
            ex,
            reader,
            parser: sse.then(|| SseParser::new(MAX_MESSAGE)),
            carry: Vec::new(),
            done: false,
        })
    }

    async fn next(&mut self, state: &ShardState) -> Result<Option<Vec<u8>>, Failure> {
        if self.done {
            return Ok(None);
        }
        let Some(parser) = self.parser.as_mut() else {
            self.done = true;
            let mut body = Vec::new();
            while let Some(piece) = self
                .ex
                .conn
                .next_body_chunk(&mut self.reader)
                .await
                .map_err(|e| Failure::Unavailable(e.to_string()))?
            {
                if body.len() + piece.len() > MAX_MESSAGE {
                    return Err(Failure::Unavailable("answer too large".into()));
                }
                body.extend_from_slice(piece);
            }
            return Ok((!body.trim_ascii().is_empty()).then_some(body));
        };
        loop {
            if !self.carry.is_empty() {
                match parser
                    .next(&self.carry)
                    .map_err(|e| Failure::Unavailable(e.to_string()))?
                {
                    SseStep::Event {
                        event, consumed, ..
                    } => {
                        let data = event.data.to_vec();
                        self.carry.drain(..consumed);
                        if !data.trim_ascii().is_empty() {
                            return Ok(Some(data));
                        }
                        continue;
                    }
                    SseStep::Skipped { consumed, .. } => {
                        self.carry.drain(..consumed);
                        continue;
                    }
                    _ => self.carry.clear(),
                }
            }
            match self
                .ex
                .conn
                .next_body_chunk(&mut self.reader)
                .await
                .map_err(|e| Failure::Unavailable(e.to_string()))?
            {
                Some(piece) => self.carry.extend_from_slice(piece),
                None => {
                    self.done = true;
                    let _ = state;
                    return Ok(None);
                }
            }
        }
    }

    /// Reads an acknowledgement's body within `timeout` as one message, whatever its content
    /// type, and drops it; then returns the connection to the pool when it was read to its end.
    pub(super) async fn drain(
        ex: Exchange,
        state: &ShardState,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let mut ack = Self::new(ex)?;
        ack.parser = None;
        let _ = within(timeout, ack.next(state)).await;
        ack.finish(state);
        Ok(())
    }

    /// Returns the connection to the pool when the body was read to its end.
    pub fn finish(self, state: &ShardState) {
        let clean = self.done
            && self.reader.is_done()
            && self.ex.framing != Framing::UntilClose
            && self.ex.head.keep_alive();
        finish(state, self.ex, clean);
    }
}
