//! A legacy HTTP+SSE (2024-11-05) upstream session as a link's peer: the GET event stream is
//! the message source (its `endpoint` event names where to POST), and a writer task POSTs each
//! outgoing message there on one keep-alive connection, in order.
//!
//! Not here: routing (reader.rs); the client side of that transport (the proxy's legacy
//! endpoint). Closing the GET stream ends the upstream session, as the transport defines.

use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::LocalReceiver;
use shards::io::NetStream;

use crate::http::{
    write_request_head_with, BodyReader, Framing, HttpConn, Limits, MessageKind, Method,
    ResponseHead, SseParser, SseStep,
};
use crate::upstream::connect::connect_any;

use super::source::{End, ReadError, Source};
use super::sse_error::SseError;
use super::{Link, SseTarget};

/// Read buffer of the stream and POST connections.
const READ_BUF: usize = 16 * 1024;

/// Largest POST answer body read (the transport answers 202 with little or nothing).
const MAX_POST_ANSWER: usize = 64 * 1024;

/// The upstream's event stream.
pub(super) struct SseSource {
    conn: HttpConn<NetStream>,
    body: BodyReader,
    parser: SseParser,
    /// Body bytes not yet given to the parser.
    input: Vec<u8>,
    pos: usize,
    /// The last message handed out.
    message: Vec<u8>,
}

/// What one event was.
enum Event {
    Message,
    Endpoint,
    Other,
}

impl SseSource {
    /// The next event's kind and data (in `self.message`); `None` at the end of the stream.
    async fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        loop {
            let step = self
                .parser
                .next(self.input.get(self.pos..).unwrap_or_default())
                .map_err(SseError::Malformed)?;
            match step {
                SseStep::Event {
                    event, consumed, ..
                } => {
                    let kind = match event.event {
                        None | Some(b"message") => Event::Message,
                        Some(b"endpoint") => Event::Endpoint,
                        Some(_) => Event::Other,
                    };
                    self.message.clear();
                    self.message.extend_from_slice(event.data);
                    self.pos += consumed;
                    return Ok(Some(kind));
                }
                SseStep::Skipped { consumed, .. } => self.pos += consumed,
                SseStep::NeedMore => {
                    self.input.clear();
                    self.pos = 0;
                    match self.conn.next_body_chunk(&mut self.body).await {
                        Ok(Some(chunk)) => self.input.extend_from_slice(chunk),
                        Ok(None) => return Ok(None),
                        Err(e) => return Err(SseError::Read(e)),
                    }
                }
            }
        }
    }
}

impl Source for SseSource {
    async fn next_message(&mut self) -> Result<Option<&[u8]>, ReadError> {
        loop {
            match self.next_event().await? {
                None => return Ok(None),
                Some(Event::Message) => return Ok(Some(&self.message)),
                Some(Event::Endpoint | Event::Other) => {}
            }
        }
    }

    async fn finish(self, end: &End, _grace: Duration) -> String {
        // Dropping the connection closes the stream, which ends the upstream session.
        drop(self);
        match end {
            End::Closed => "upstream session closed".to_owned(),
            End::Eof => "upstream closed its SSE stream".to_owned(),
            End::Broken(why) => why.to_string(),
        }
    }
}

/// POSTs messages to the session's endpoint.
pub(super) struct Poster {
    target: SseTarget,
    /// Path and query the `endpoint` event named.
    endpoint: String,
    conn: Option<HttpConn<NetStream>>,
}

/// A new connection to the upstream (TLS for `https://`), as the Streamable HTTP pool makes
/// them (connect.rs).
async fn connect(target: &SseTarget) -> Result<HttpConn<NetStream>, SseError> {
    let tls = target.tls.as_ref().map(Result::as_ref);
    match connect_any(&target.io, &target.addrs, target.connect_timeout, tls).await {
        Ok(stream) => Ok(HttpConn::new(stream, Vec::with_capacity(READ_BUF))),
        Err(source) => Err(SseError::Connect {
            url: target.url.clone(),
            source,
        }),
    }
}

/// Reads the final response head.
async fn final_head(conn: &mut HttpConn<NetStream>) -> Result<ResponseHead, SseError> {
    let mut head = ResponseHead::default();
    conn.read_final_response_head(&Limits::default(), &mut head)
        .await
        .map_err(SseError::NoResponse)?;
    Ok(head)
}

/// Opens the GET stream and waits for its `endpoint` event.
pub(super) async fn open(target: &SseTarget) -> Result<(SseSource, Poster), SseError> {
    let opened = glommio::timer::timeout(target.open_timeout, async { Ok(open_now(target).await) })
        .await
        .map_err(|_| SseError::OpenTimeout {
            url: target.url.clone(),
            within: target.open_timeout,
        })?;
    opened
}

async fn open_now(target: &SseTarget) -> Result<(SseSource, Poster), SseError> {
    let mut conn = connect(target).await?;
    let lines = target.lines()?;
    let mut request = Vec::with_capacity(256);
    write_request_head_with(
        &mut request,
        "GET",
        target.path.as_bytes(),
        [
            ("Host", target.authority.as_bytes()),
            ("Accept", b"text/event-stream".as_slice()),
            ("Cache-Control", b"no-cache".as_slice()),
        ],
        lines.lines(),
        Framing::Empty,
    );
    conn.write_all(&request)
        .await
        .map_err(|source| SseError::Write {
            url: target.url.clone(),
            source,
        })?;
    let head = final_head(&mut conn).await?;
    target.answered(head.status());
    if head.status() != 200 {
        return Err(SseError::Status {
            url: target.url.clone(),
            status: head.status(),
        });
    }
    let framing = head
        .framing(Method::Get)
        .map_err(|source| SseError::Framing {
            url: target.url.clone(),
            source,
        })?;
    let body = BodyReader::new(framing, MessageKind::Response, u64::MAX).map_err(|source| {
        SseError::Body {
            url: target.url.clone(),
            source,
        }
    })?;
    let mut source = SseSource {
        conn,
        body,
        parser: SseParser::new(target.max_event),
        input: Vec::with_capacity(READ_BUF),
        pos: 0,
        message: Vec::new(),
    };
    loop {
        match source.next_event().await? {
            Some(Event::Endpoint) => break,
            Some(_) => continue,
            None => {
                return Err(SseError::NoEndpoint {
                    url: target.url.clone(),
                })
            }
        }
    }
    let announced = String::from_utf8_lossy(&source.message).trim().to_owned();
    let endpoint = resolve_endpoint(target, &announced)?;
    Ok((
        source,
        Poster {
            target: target.clone(),
            endpoint,
            conn: None,
        },
    ))
}

/// The path (and query) to POST to, from the `endpoint` event's URI: a path, a relative
/// reference, or an absolute URL on the same origin: scheme, host and port (anything else is
/// refused: the proxy never sends a session's messages to a host it was not configured with,
/// nor in clear text when the stream is `https://`).
fn resolve_endpoint(target: &SseTarget, announced: &str) -> Result<String, SseError> {
    // Same scheme too: an `https://` stream's endpoint is never reached over plain HTTP.
    let scheme = if target.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let origin = format!("{scheme}://{}", target.authority);
    let path = if let Some(rest) = announced.strip_prefix(&origin) {
        rest.to_owned()
    } else if announced.contains("://") || announced.starts_with("//") {
        return Err(SseError::ForeignEndpoint {
            url: target.url.clone(),
            announced: announced.to_owned(),
        });
    } else if announced.starts_with('/') {
        announced.to_owned()
    } else {
        let base = target.path.split('?').next().unwrap_or("/");
        let dir = base.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{announced}")
    };
    if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(SseError::BadEndpoint {
            url: target.url.clone(),
            announced: announced.to_owned(),
        });
    }
    Ok(path)
}

impl Poster {
    /// POSTs one message; returns the answer's status. Sends again on a fresh connection only
    /// when writing to a kept-alive one failed (the upstream closed it while idle): once the
    /// request is out, a second send could run a tool twice.
    async fn post(&mut self, message: &[u8]) -> Result<u16, SseError> {
        let reused = self.conn.is_some();
        match self.try_post(message).await {
            Err(Posted::NotSent(_)) if reused => {
                self.conn = None;
                self.try_post(message).await.map_err(Posted::into_reason)
            }
            other => other.map_err(Posted::into_reason),
        }
    }

    async fn try_post(&mut self, message: &[u8]) -> Result<u16, Posted> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => connect(&self.target).await.map_err(Posted::NotSent)?,
        };
        let lines = self.target.lines().map_err(Posted::NotSent)?;
        let mut request = Vec::with_capacity(message.len() + 256);
        write_request_head_with(
            &mut request,
            "POST",
            self.endpoint.as_bytes(),
            [
                ("Host", self.target.authority.as_bytes()),
                ("Content-Type", b"application/json".as_slice()),
            ],
            lines.lines(),
            Framing::Length(message.len() as u64),
        );
        drop(lines);
        request.extend_from_slice(message);
        conn.write_all(&request).await.map_err(|source| {
            Posted::NotSent(SseError::PostWrite {
                endpoint: self.endpoint.clone(),
                source,
            })
        })?;
        let head = final_head(&mut conn).await.map_err(Posted::Sent)?;
        self.target.answered(head.status());
        let framing = head
            .framing(Method::Post)
            .map_err(|e| Posted::Sent(SseError::PostFraming(e)))?;
        let mut ignored = Vec::new();
        conn.read_response_body(framing, MAX_POST_ANSWER, &mut ignored)
            .await
            .map_err(|e| Posted::Sent(SseError::PostAnswer(e)))?;
        if crate::http::Head::keep_alive(&head) && framing != Framing::UntilClose {
            self.conn = Some(conn);
        }
        Ok(head.status())
    }
}

/// How a POST failed: before the request was out (safe to send again) or after.
enum Posted {
    NotSent(SseError),
    Sent(SseError),
}

impl Posted {
    fn into_reason(self) -> SseError {
        match self {
            Posted::NotSent(reason) | Posted::Sent(reason) => reason,
        }
    }
}

/// Sends queued messages until the queue closes or the link closes; a refused session (404),
/// a dead upstream or one that does not answer a POST within `open_timeout` ends the link.
pub(super) async fn post_lines(mut poster: Poster, lines: LocalReceiver<Vec<u8>>, link: Rc<Link>) {
    let limit = poster.target.open_timeout;
    loop {
        let next = futures_lite::future::or(async { lines.recv().await }, async {
            link.close.wait().await;
            None
        })
        .await;
        let Some(line) = next else {
            return;
        };
        let posted = futures_lite::future::or(
            async { Some(shards::timeout::within(limit, poster.post(&line)).await) },
            async {
                link.close.wait().await;
                None
            },
        )
        .await;
        let Some(posted) = posted else {
            return;
        };
        let posted = posted.unwrap_or(Err(SseError::PostTimeout(limit)));
        match posted {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(404) => {
                tracing::warn!(upstream = %link.options.upstream, peer = %link.peer, "upstream forgot the SSE session (404)");
                link.close();
                return;
            }
            Ok(status) => {
                tracing::warn!(upstream = %link.options.upstream, peer = %link.peer, status, "upstream refused a message");
            }
            Err(error) => {
                tracing::warn!(upstream = %link.options.upstream, peer = %link.peer, %error, "posting to the upstream failed");
                link.close();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SseTarget {
        SseTarget {
            url: "http://127.0.0.1:9000/sse".into(),
            addrs: vec![],
            authority: "127.0.0.1:9000".into(),
            path: "/sse".into(),
            connect_timeout: Duration::from_secs(1),
            open_timeout: Duration::from_secs(1),
            max_event: 1024,
            io: shards::io::ShardIo::glommio(),
            headers: Rc::default(),
            credentials: None,
            tls: None,
        }
    }

    #[test]
    fn endpoints_resolve_on_the_same_origin_only() {
        let t = target();
        assert_eq!(
            resolve_endpoint(&t, "/messages?sessionId=a").unwrap(),
            "/messages?sessionId=a"
        );
        assert_eq!(
            resolve_endpoint(&t, "http://127.0.0.1:9000/messages/?session_id=b").unwrap(),
            "/messages/?session_id=b"
        );
        assert_eq!(resolve_endpoint(&t, "message?x=1").unwrap(), "/message?x=1");
        assert!(resolve_endpoint(&t, "http://evil.example/messages").is_err());
        assert!(resolve_endpoint(&t, "//evil.example/messages").is_err());
        assert!(resolve_endpoint(&t, "/a b").is_err());
    }

    #[test]
    fn an_https_stream_keeps_its_endpoint_on_https() {
        let tls =
            crate::tls::UpstreamTls::new("127.0.0.1", &crate::tls::UpstreamTrust::DefaultRoots);
        let t = SseTarget {
            url: "https://127.0.0.1:9000/sse".into(),
            tls: Some(tls),
            ..target()
        };
        assert_eq!(
            resolve_endpoint(&t, "https://127.0.0.1:9000/messages?s=1").unwrap(),
            "/messages?s=1"
        );
        assert_eq!(
            resolve_endpoint(&t, "/messages?s=2").unwrap(),
            "/messages?s=2"
        );
        // No downgrade to clear text, no other port.
        assert!(resolve_endpoint(&t, "http://127.0.0.1:9000/messages").is_err());
        assert!(resolve_endpoint(&t, "https://127.0.0.1:9001/messages").is_err());
        // And a plain stream does not move to https:// either (another origin).
        assert!(resolve_endpoint(&target(), "https://127.0.0.1:9000/messages").is_err());
    }
}
