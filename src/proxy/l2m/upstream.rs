//! One translated request to a modern upstream: send it, then read its answer message by
//! message (a JSON body is one message; an SSE body yields each event's data as it arrives).
//!
//! Not here: what the request says (wire.rs), what the proxy does with the messages (post.rs).

use crate::config::UpstreamId;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::http::{BodyReader, Head, MessageKind, SseParser, SseStep};
use crate::mcp::JsonRpcId;

use super::super::error::ProxyError;
use super::super::exchange::{exchange, finish, Exchange};
use super::super::state::ShardState;
use shards::timeout::within;

/// The longest [`Reply::release`] drains what follows an answer's response before it gives up
/// on the connection (closed, not pooled).
pub const DRAIN_BOUND: Duration = Duration::from_secs(2);

/// An upstream answer being read.
#[derive(Debug)]
pub struct Reply {
    ex: Exchange,
    reader: BodyReader,
    sse: Option<SseParser>,
    queue: VecDeque<Vec<u8>>,
    json_read: bool,
    ended: bool,
}

/// Sends `request` (head and body) to `upstream` and waits for the response head.
///
/// # Errors
/// The upstream cannot be reached or answers with a malformed head.
pub async fn send(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    request: &[u8],
    id: Option<&JsonRpcId>,
) -> Result<Reply, ProxyError> {
    let ex = exchange(state, upstream, request, id, false).await?;
    let reader = BodyReader::new(
        ex.framing,
        MessageKind::Response,
        state.config.limits.max_body_bytes as u64,
    )
    .map_err(|source| ProxyError::UpstreamProtocol {
        id: id.cloned(),
        source,
    })?;
    let sse = ex
        .head
        .header("content-type")
        .is_some_and(|ct| ct.len() >= 17 && ct[..17].eq_ignore_ascii_case(b"text/event-stream"))
        .then(|| SseParser::new(state.config.limits.max_sse_event_bytes));
    Ok(Reply {
        ex,
        reader,
        sse,
        queue: VecDeque::new(),
        json_read: false,
        ended: false,
    })
}

/// An upstream's 401 or 403: relayed to the client as is (status, challenge, body), as the
/// pass-through paths relay it. The client's own credentials never reach the upstream (DESIGN
/// §3.7), so this says the upstream refuses the proxy; upstream credentials are configured per
/// upstream, not taken from clients.
#[derive(Debug)]
pub struct AuthRefusal {
    /// 401 or 403.
    pub status: u16,
    /// `WWW-Authenticate`, when given.
    pub challenge: Option<String>,
    /// `Content-Type` of the body, when given.
    pub content_type: Option<String>,
    /// The body (bounded by the body limit).
    pub body: Vec<u8>,
}

impl AuthRefusal {
    /// Writes the refusal to the client; returns whether the connection stays open.
    ///
    /// # Errors
    /// The client's write error.
    pub async fn write(
        &self,
        state: &ShardState,
        client: &mut crate::http::HttpConn<shards::io::NetStream>,
        keep_alive: bool,
    ) -> Result<bool, ProxyError> {
        let mut out = Vec::with_capacity(self.body.len() + 256);
        let extra: Vec<(&str, &str)> = self
            .challenge
            .as_deref()
            .map(|c| ("WWW-Authenticate", c))
            .into_iter()
            .collect();
        super::super::headers::local_response(
            &mut out,
            self.status,
            self.content_type.as_deref(),
            &extra,
            &self.body,
            keep_alive,
        );
        state.metrics.status(self.status);
        client.write_all(&out).await.map_err(ProxyError::Http)?;
        Ok(keep_alive)
    }
}

impl Reply {
    /// Reads the rest of a 401/403 answer into an [`AuthRefusal`]; `None` for other statuses
    /// (the reply is then left as it was).
    pub async fn auth_refusal(
        &mut self,
        id: Option<&JsonRpcId>,
        idle: Duration,
    ) -> Option<AuthRefusal> {
        let status = self.status();
        if status != 401 && status != 403 {
            return None;
        }
        let text = |name: &str| {
            self.ex
                .head
                .header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let challenge = text("www-authenticate");
        let content_type = text("content-type");
        let mut body = Vec::new();
        while let Ok(Some(message)) = self.next(id, idle).await {
            body.extend_from_slice(&message);
        }
        Some(AuthRefusal {
            status,
            challenge,
            content_type,
            body,
        })
    }

    /// The response status.
    pub fn status(&self) -> u16 {
        self.ex.head.status()
    }

    /// The next message of the answer; `None` at its end. Each read waits at most `idle`.
    ///
    /// # Errors
    /// The upstream stalls past `idle` (`UpstreamTimeout`) or breaks the framing.
    pub async fn next(
        &mut self,
        id: Option<&JsonRpcId>,
        idle: Duration,
    ) -> Result<Option<Vec<u8>>, ProxyError> {
        let timeout = || ProxyError::UpstreamTimeout { id: id.cloned() };
        let broken = |source| ProxyError::UpstreamProtocol {
            id: id.cloned(),
            source,
        };
        loop {
            if let Some(message) = self.queue.pop_front() {
                return Ok(Some(message));
            }
            if self.ended {
                return Ok(None);
            }
            let Some(parser) = self.sse.as_mut() else {
                if self.json_read {
                    return Ok(None);
                }
                self.json_read = true;
                self.ended = true;
                let mut body = Vec::with_capacity(1024);
                while let Some(piece) = within(idle, self.ex.conn.next_body_chunk(&mut self.reader))
                    .await
                    .ok_or_else(timeout)?
                    .map_err(broken)?
                {
                    body.extend_from_slice(piece);
                }
                return Ok((!body.trim_ascii().is_empty()).then_some(body));
            };
            match within(idle, self.ex.conn.next_body_chunk(&mut self.reader))
                .await
                .ok_or_else(timeout)?
                .map_err(broken)?
            {
                None => self.ended = true,
                Some(mut piece) => loop {
                    let consumed = match parser.next(piece).map_err(broken)? {
                        SseStep::NeedMore => break,
                        SseStep::Event {
                            event, consumed, ..
                        } => {
                            if !event.data.trim_ascii().is_empty() {
                                self.queue.push_back(event.data.to_vec());
                            }
                            consumed
                        }
                        SseStep::Skipped { consumed, .. } => consumed,
                    };
                    piece = piece.get(consumed..).unwrap_or_default();
                },
            }
        }
    }

    /// Lets go of an answer whose JSON-RPC response was read, without making the caller wait
    /// for the rest: a finished answer's connection goes back to the pool at once; an SSE
    /// answer still open (nothing should follow the response, but an upstream may linger with
    /// keep-alive comments) is drained by a detached task for at most [`DRAIN_BOUND`] (never
    /// longer than `timeout`, the request timeout) and pooled only if it ended cleanly in that
    /// time; otherwise the connection is closed.
    pub fn release(self, state: &Rc<ShardState>, timeout: Duration) {
        if self.ended || self.sse.is_none() {
            self.finish(state);
            return;
        }
        let state = state.clone();
        let bound = DRAIN_BOUND.min(timeout);
        let mut reply = self;
        glommio::spawn_local(async move {
            let drained = within(bound, async {
                loop {
                    match reply.next(None, bound).await {
                        Ok(Some(_)) => {}
                        Ok(None) => return true,
                        Err(_) => return false,
                    }
                }
            })
            .await;
            if drained == Some(true) {
                reply.finish(&state);
            }
        })
        .detach();
    }

    /// Returns the connection to the pool when the answer was read to its end.
    pub fn finish(self, state: &ShardState) {
        let reusable = self.ended
            && self.queue.is_empty()
            && self.reader.is_done()
            && self.ex.framing != crate::http::Framing::UntilClose
            && self.ex.head.keep_alive();
        finish(state, self.ex, reusable);
    }
}
