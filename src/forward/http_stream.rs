//! SSE from the HTTP target: a POST answered with a stream (events go to the client one by
//! one as they arrive, resumed with `Last-Event-ID` when the stream breaks before the answer),
//! and the session's GET stream (opened after `notifications/initialized`, reconnected on
//! drop with bounded retries, skipped when the target answers 405).
//!
//! Not here: the POST itself (http_target.rs). Streams are never buffered whole: the parser
//! holds at most one event ([`MAX_ANSWER_BYTES`]) and each event's `data` goes to stdout before
//! the next read, so a slow client slows the target's stream instead of growing memory.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::future::or;

use crate::http::{BodyReader, Method, SseParser, SseStep};
use crate::mcp::JsonRpcId;
use shards::timeout::within;

use super::http_reply::ErrorReply;
use super::http_request::Request;
use super::http_target::{stream_reader, Answer, HttpTarget, MAX_ANSWER_BYTES};
use super::input::ClientMessage;

/// Times a POST's stream is resumed before its requests get an error.
const MAX_RESUMES: usize = 3;
/// Consecutive failed attempts at the GET stream before going on without it.
const MAX_STREAM_FAILURES: u32 = 5;
/// Wait before reconnecting the GET stream when the target gave no `retry`; multiplied by the
/// number of consecutive failures.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between GET stream attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);
/// Once every request of a POST has its answer, how long to wait for the stream's end before
/// dropping the connection (servers close the stream right after the answer).
const ANSWERED_GRACE: Duration = Duration::from_millis(100);

/// How reading a stream ended.
#[derive(Debug)]
pub(crate) enum StreamEnd {
    /// The body ended cleanly: the connection can be reused.
    Complete,
    /// Every awaited answer came and the stream did not end soon after: connection dropped.
    Answered,
    /// Silence longer than the idle limit.
    TimedOut,
    /// The stream failed (connection error, bad framing, oversized event).
    Broken(String),
    /// Shutdown.
    Stopped,
    /// The client cancelled every request still waiting for an answer on this stream.
    Cancelled,
    /// stdout is gone.
    ClientGone,
}

/// The outcome of reading one stream.
#[derive(Debug)]
pub(crate) struct Pumped {
    pub(crate) end: StreamEnd,
    /// The stream's last event id, to resume from.
    pub(crate) last_event_id: Option<Vec<u8>>,
    /// The stream's last `retry` (milliseconds).
    pub(crate) retry: Option<u64>,
    /// Blocks (events, comments, priming events) received.
    pub(crate) blocks: usize,
}

/// A GET stream refusal that retrying will not change (a 4xx other than timeouts and rate
/// limits; some servers without a GET stream answer 400 instead of 405).
fn is_permanent_refusal(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 429)
}

enum Read<'c> {
    Data(&'c [u8]),
    End,
    Failed(crate::http::Error),
    TimedOut,
    Stopped,
}

impl HttpTarget {
    /// Relays a POST's SSE answer until every request in `msg` is answered, resuming a broken
    /// stream from its last event id; requests left unanswered get an error.
    pub(crate) async fn stream_answer(self: Rc<Self>, mut answer: Answer, msg: ClientMessage) {
        let mut waiting = msg.requests.clone();
        let idle = Some(self.timeout);
        let mut pumped = self
            .pump(&mut answer, &mut waiting, msg.initialize, idle, false)
            .await;
        if matches!(pumped.end, StreamEnd::Complete) {
            self.reuse(answer);
        }
        let mut resumes = 0;
        while !waiting.is_empty() {
            let reason = match &pumped.end {
                StreamEnd::ClientGone | StreamEnd::Stopped => return,
                StreamEnd::Cancelled => return self.forget_all_cancelled(&waiting),
                StreamEnd::TimedOut => {
                    return self
                        .fail(&waiting, &ErrorReply::timeout(self.timeout))
                        .await
                }
                StreamEnd::Broken(reason) => reason.clone(),
                StreamEnd::Complete | StreamEnd::Answered => "the stream closed".to_owned(),
            };
            let last = match pumped.last_event_id.take() {
                Some(last) if resumes < MAX_RESUMES => last,
                _ => {
                    let reply = ErrorReply::unavailable(format!(
                        "the target's stream ended before the answer ({reason})"
                    ));
                    return self.fail(&waiting, &reply).await;
                }
            };
            resumes += 1;
            tracing::debug!(resumes, "resuming a broken answer stream");
            let request = self.request_bytes(
                Request::Get {
                    last_event_id: Some(&last),
                },
                b"",
            );
            let mut resumed = match self.exchange(&request, Method::Get).await {
                Ok(resumed) if resumed.head.status() == 200 && resumed.is_sse() => resumed,
                Ok(refused) => {
                    let reply = ErrorReply::unavailable(format!(
                        "the target's stream broke off ({reason}) and resuming it got HTTP {}",
                        refused.head.status()
                    ));
                    return self.fail(&waiting, &reply).await;
                }
                Err(e) => return self.fail(&waiting, &e.reply(self.timeout)).await,
            };
            pumped = self
                .pump(&mut resumed, &mut waiting, msg.initialize, idle, false)
                .await;
            pumped.last_event_id.get_or_insert(last);
            if matches!(pumped.end, StreamEnd::Complete) {
                self.reuse(resumed);
            }
        }
    }

    /// The session's GET stream: server requests and notifications not tied to a client
    /// request (list changes, logging). Runs until shutdown, a 404/405, or too many failures.
    pub(crate) async fn listen(self: Rc<Self>) {
        let mut last: Option<Vec<u8>> = None;
        let mut retry: Option<u64> = None;
        let mut failures: u32 = 0;
        while !self.stop.is_fired() {
            let request = self.request_bytes(
                Request::Get {
                    last_event_id: last.as_deref(),
                },
                b"",
            );
            let opened = or(
                async { Some(self.exchange(&request, Method::Get).await) },
                async {
                    self.stop.wait().await;
                    None
                },
            )
            .await;
            let Some(opened) = opened else { return };
            match opened {
                Ok(answer) if answer.head.status() == 405 => {
                    tracing::info!(
                        "the target offers no server stream (GET: 405); going on without"
                    );
                    return;
                }
                Ok(answer) if answer.head.status() == 404 => {
                    tracing::warn!("the target no longer knows the session (GET: 404)");
                    return;
                }
                Ok(mut answer) if answer.head.status() == 200 && answer.is_sse() => {
                    tracing::debug!(resumed = last.is_some(), "server stream open");
                    let mut none = Vec::new();
                    let pumped = self.pump(&mut answer, &mut none, false, None, true).await;
                    if pumped.last_event_id.is_some() {
                        last = pumped.last_event_id;
                    }
                    retry = pumped.retry.or(retry);
                    match pumped.end {
                        StreamEnd::Stopped | StreamEnd::ClientGone => return,
                        end => tracing::debug!(?end, "server stream ended; reconnecting"),
                    }
                    if pumped.blocks > 0 {
                        failures = 0;
                    }
                }
                Ok(answer) if is_permanent_refusal(answer.head.status()) => {
                    let status = answer.head.status();
                    tracing::warn!(
                        status,
                        "the target refused the server stream; going on without"
                    );
                    return;
                }
                Ok(answer) => {
                    let status = answer.head.status();
                    tracing::warn!(status, "the target refused the server stream");
                }
                Err(e) => tracing::warn!(error = ?e, "opening the server stream failed"),
            }
            failures += 1;
            if failures > MAX_STREAM_FAILURES {
                tracing::warn!(failures, "giving up on the server stream");
                return;
            }
            let base = retry.map_or(RECONNECT_DELAY, Duration::from_millis);
            let delay = base.saturating_mul(failures).min(MAX_RECONNECT_DELAY);
            or(glommio::timer::sleep(delay), self.stop.wait()).await;
        }
    }

    /// Reads SSE events from `answer` and writes each `message` event's data to the client.
    /// Answers to ids in `waiting` are crossed off; once none is left the stream gets
    /// [`ANSWERED_GRACE`] to end. `idle` bounds the silence between reads; a `stoppable`
    /// stream ends at shutdown.
    pub(crate) async fn pump(
        &self,
        answer: &mut Answer,
        waiting: &mut Vec<JsonRpcId>,
        initialize: bool,
        idle: Option<Duration>,
        stoppable: bool,
    ) -> Pumped {
        let mut parser = SseParser::new(MAX_ANSWER_BYTES);
        let mut blocks = 0;
        let expecting = !waiting.is_empty();
        let end = match stream_reader(answer.framing) {
            Err(e) => StreamEnd::Broken(e.to_string()),
            Ok(mut reader) => 'stream: loop {
                let answered = expecting && waiting.is_empty();
                let limit = if answered { Some(ANSWERED_GRACE) } else { idle };
                let mut input = match self.read(answer, &mut reader, limit, stoppable).await {
                    Read::Data(data) => data,
                    Read::End => break StreamEnd::Complete,
                    Read::Failed(e) => break StreamEnd::Broken(e.to_string()),
                    Read::TimedOut if answered => break StreamEnd::Answered,
                    Read::TimedOut => break StreamEnd::TimedOut,
                    Read::Stopped => break StreamEnd::Stopped,
                };
                while !input.is_empty() {
                    let consumed = match parser.next(input) {
                        Ok(SseStep::NeedMore) => break,
                        Err(e) => break 'stream StreamEnd::Broken(e.to_string()),
                        Ok(SseStep::Skipped { consumed, .. }) => consumed,
                        Ok(SseStep::Event {
                            event, consumed, ..
                        }) => {
                            let is_message = matches!(event.event, None | Some(b"message"));
                            let data = event.data;
                            let forward = is_message
                                && !data.iter().all(u8::is_ascii_whitespace)
                                && self.note_messages(data, waiting, initialize);
                            if forward && !self.out.message(data).await {
                                break 'stream StreamEnd::ClientGone;
                            }
                            consumed
                        }
                    };
                    blocks += 1;
                    input = input.get(consumed..).unwrap_or_default();
                }
                if !waiting.is_empty() && self.all_cancelled(waiting) {
                    // The client expects nothing more from this stream; drop it.
                    break StreamEnd::Cancelled;
                }
            },
        };
        let last = parser.last_event_id();
        Pumped {
            end,
            last_event_id: (!last.is_empty()).then(|| last.to_vec()),
            retry: parser.last_retry(),
            blocks,
        }
    }

    /// The next piece of the body, bounded by `limit` and (when `stoppable`) by shutdown.
    async fn read<'c>(
        &self,
        answer: &'c mut Answer,
        reader: &mut BodyReader,
        limit: Option<Duration>,
        stoppable: bool,
    ) -> Read<'c> {
        let chunk = async {
            match answer.conn.next_body_chunk(reader).await {
                Ok(Some(data)) => Read::Data(data),
                Ok(None) => Read::End,
                Err(e) => Read::Failed(e),
            }
        };
        let bounded = async {
            match limit {
                Some(limit) => within(limit, chunk).await.unwrap_or(Read::TimedOut),
                None => chunk.await,
            }
        };
        if !stoppable {
            return bounded.await;
        }
        or(bounded, async {
            self.stop.wait().await;
            Read::Stopped
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::is_permanent_refusal;

    #[test]
    fn only_lasting_refusals_stop_the_server_stream() {
        assert!(is_permanent_refusal(400) && is_permanent_refusal(403));
        assert!(!is_permanent_refusal(408) && !is_permanent_refusal(429));
        assert!(!is_permanent_refusal(500) && !is_permanent_refusal(503));
        assert!(!is_permanent_refusal(200));
    }
}
