//! The proxy's side of recording: which tape a request belongs to (its session's, a new one
//! for an `initialize`, its connection's for stateless 2026-07-28 traffic), the notes the
//! transports make of the messages they relay ([`AnswerTap`] for an upstream HTTP answer, JSON
//! or SSE event by event), and the shard's writer task: batches every `flush_interval` (or
//! sooner when lines pile up), ends the tapes of sessions that are gone, sweeps retention on
//! shard 0, counts into the metrics.
//!
//! Not here: the tapes, lines and files (crate::record). Cost on a route or shard that does
//! not record: one `Option` test (and the scope's thread-local read) per note.

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use shards::latch::Latch;

use crate::config::{RouteConfig, UpstreamId};
use crate::http::{Framing, ResponseHead, SseEvent};
use crate::mcp::ProtocolVersion;
use crate::record::{scope, Flushed, Http, Recorder, TapeInfo};
use crate::session::SessionId;
use crate::tape::format::Direction;

use super::metrics::Counter;
use super::state::ShardState;

/// How often shard 0 applies `keep` and `max_age`.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// The HTTP facts of a client's POST.
pub(super) const POST: Http<'static> = Http {
    method: Some("POST"),
    status: None,
    content_type: None,
    event_id: None,
};

/// The HTTP facts of a message on a legacy HTTP+SSE stream.
pub(super) const LEGACY_EVENT: Http<'static> = Http {
    method: None,
    status: Some(200),
    content_type: Some("text/event-stream"),
    event_id: None,
};

/// Runs a client connection's future as a task, inside its recording scope when the shard
/// records (and its audit scope when it keeps an audit log).
pub fn spawn_connection(state: &ShardState, connection: impl Future<Output = ()> + 'static) {
    #[cfg(debug_assertions)]
    let connection = super::debug_panic::connection(connection);
    match &state.recorder {
        Some(recorder) => {
            super::audit::spawn_connection(state, scope::connection(recorder.clone(), connection))
        }
        None => super::audit::spawn_connection(state, connection),
    }
}

/// What a tape of `route`'s sessions says about them.
fn info(
    state: &ShardState,
    (route, upstream): (&RouteConfig, UpstreamId),
    transport: &'static str,
    version: Option<ProtocolVersion>,
) -> TapeInfo {
    TapeInfo {
        session: String::new(),
        route: route.path.clone(),
        upstream: state.config.upstream(upstream).name.clone(),
        transport,
        protocol_version: version.map(|v| v.as_str().to_owned()),
    }
}

/// The recorder, when `route` records.
fn recorder<'s>(state: &'s ShardState, route: &RouteConfig) -> Option<&'s Rc<Recorder>> {
    state.recorder.as_ref().filter(|_| route.record)
}

/// Names the tape of a Streamable HTTP POST on `route`: `session`'s tape, the connection's
/// for a stateless request, a new one otherwise (an `initialize`, bound to its session once
/// minted). The message itself is noted by [`note_post`].
pub(super) fn begin_post(
    state: &ShardState,
    (route, upstream): (&RouteConfig, UpstreamId),
    (session, modern): (Option<&SessionId>, bool),
    version: Option<ProtocolVersion>,
) {
    let Some(rec) = recorder(state, route) else {
        scope::begin(None);
        return;
    };
    let tape = match (session, modern) {
        (Some(id), _) => {
            let version = version.or_else(|| session_version(state, id));
            Some(rec.session_tape(id, || {
                info(state, (route, upstream), "streamable_http", version)
            }))
        }
        (None, true) => scope::stateless(|| info(state, (route, upstream), "modern", version)),
        (None, false) => {
            Some(rec.unbound(info(state, (route, upstream), "streamable_http", version)))
        }
    };
    scope::begin(tape);
}

/// Notes a POST's message `body` (inspected: valid JSON) on the request's tape, with what
/// went on instead when an interception rule changed it (`forwarded`: `Some(Some(bytes))`),
/// or blocked or answered it (`Some(None)`); `None` when it went on as it came. An
/// interception stage calls this once it decided, instead of the plain note.
pub(super) fn note_post(body: &[u8], forwarded: crate::record::Forwarded<'_>) {
    match forwarded {
        None => scope::c2s(body, true, Some(POST)),
        Some(_) => scope::changed(Direction::ClientToServer, body, forwarded, Some(POST)),
    }
}

/// Names the tape of a request that carries no message (a GET stream) on `session`.
pub(super) fn begin_session(
    state: &ShardState,
    (route, upstream): (&RouteConfig, UpstreamId),
    session: &SessionId,
    transport: &'static str,
) {
    let Some(rec) = recorder(state, route) else {
        scope::begin(None);
        return;
    };
    let version = session_version(state, session);
    scope::begin(Some(rec.session_tape(session, || {
        info(state, (route, upstream), transport, version)
    })));
}

/// The version `session`'s client asked for.
fn session_version(state: &ShardState, session: &SessionId) -> Option<ProtocolVersion> {
    state
        .sessions
        .borrow()
        .peek(session)
        .and_then(|entry| entry.version)
}

/// Notes a message written to the client (`forwarded`: what went instead, when a stage
/// rewrote it, `Some(None)` when a rule dropped it).
pub(super) fn answer(message: &[u8], forwarded: crate::record::Forwarded<'_>, http: Http<'_>) {
    match forwarded {
        Some(sent) => scope::changed(Direction::ServerToClient, message, Some(sent), Some(http)),
        None => scope::s2c(message, Some(http)),
    }
}

/// Notes the proxy's own error answer `response` (head and JSON body) when the request is
/// recorded.
pub(super) fn proxy_answer(response: &[u8], status: u16) {
    if !scope::recording() {
        return;
    }
    let body = memchr::memmem::find(response, b"\r\n\r\n")
        .and_then(|at| response.get(at + 4..))
        .unwrap_or_default();
    if !body.is_empty() {
        let http = Http {
            method: None,
            status: Some(status),
            content_type: Some("application/json"),
            event_id: None,
        };
        scope::s2c(body, Some(http));
    }
}

/// An upstream HTTP answer's messages as the relay passes them: a JSON body whole, an SSE
/// body event by event. `None` unless the request is recorded.
#[derive(Debug)]
pub(super) struct AnswerTap {
    status: u16,
    /// A JSON body arriving in several pieces (most arrive in one and are noted from it).
    held: Vec<u8>,
    /// Most bytes held (past it the message is not recorded).
    limit: usize,
    /// A JSON body's declared length, and the bytes seen so far: the piece that completes it
    /// is noted from the relay's own bytes when it is the only one.
    length: Option<u64>,
    seen: u64,
}

impl AnswerTap {
    /// A tap on the answer `head` (its body delimited by `framing`) when the current request
    /// is recorded.
    pub(super) fn new(head: &ResponseHead, framing: Framing, limit: usize) -> Option<AnswerTap> {
        scope::recording().then(|| AnswerTap {
            status: head.status(),
            held: Vec::new(),
            limit,
            length: match framing {
                Framing::Length(n) => Some(n),
                _ => None,
            },
            seen: 0,
        })
    }

    /// One piece of a JSON body.
    pub(super) fn json(&mut self, piece: &[u8]) {
        self.seen += piece.len() as u64;
        let last = self.length.is_some_and(|n| self.seen >= n);
        if self.held.is_empty() && last {
            answer(piece, None, self.http("application/json", None));
            return;
        }
        if self.held.len() + piece.len() <= self.limit {
            self.held.extend_from_slice(piece);
        } else {
            self.limit = 0; // too large to keep: noted as not recorded
            self.held = Vec::new();
        }
        if last {
            self.end_json();
        }
    }

    /// The end of a JSON body that came in several pieces.
    pub(super) fn end_json(&mut self) {
        if self.limit == 0 {
            // Once: a `raw` note in its place, the line counted as dropped.
            self.limit = usize::MAX;
            let note = format!(
                "shadowcat: a JSON answer of {} bytes, over max_sse_event_bytes, not recorded",
                self.seen
            );
            scope::not_recorded(note.as_bytes(), self.http("application/json", None));
        } else if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            answer(&held, None, self.http("application/json", None));
        }
    }

    /// A JSON body held whole (`forwarded`: what was sent instead, as in [`answer`]).
    pub(super) fn whole(&self, body: &[u8], forwarded: crate::record::Forwarded<'_>) {
        answer(body, forwarded, self.http("application/json", None));
    }

    /// One SSE event (`forwarded`: the data sent instead, or `Some(None)`: dropped); events
    /// without data are not messages.
    pub(super) fn event(&self, event: &SseEvent<'_>, forwarded: crate::record::Forwarded<'_>) {
        if !event.data.trim_ascii().is_empty() {
            answer(
                event.data,
                forwarded,
                self.http("text/event-stream", event.id),
            );
        }
    }

    fn http<'a>(&self, content_type: &'static str, event_id: Option<&'a [u8]>) -> Http<'a> {
        Http {
            method: None,
            status: Some(self.status),
            content_type: Some(content_type),
            event_id,
        }
    }
}

/// Before the shards start, when recording: makes the tape directory (a directory that
/// cannot be made is a configuration error, better said at startup), and ignores `SIGXFSZ`,
/// so a file size limit fails a tape's write (counted, the tape stops) instead of killing the
/// process.
///
/// # Errors
/// The directory and why it cannot be made.
pub fn prepare(config: &crate::config::Config) -> Result<(), (String, std::io::Error)> {
    let Some(recording) = &config.recording else {
        return Ok(());
    };
    std::fs::create_dir_all(&recording.dir)
        .map_err(|e| (recording.dir.display().to_string(), e))?;
    crate::record::writer::ignore_file_size_signal();
    Ok(())
}

/// The shard's tape writer (until `stop` fires, then every tape complete), and on shard 0
/// the retention sweep.
pub async fn writer(state: Rc<ShardState>, stop: Rc<Latch>) {
    let Some(rec) = state.recorder.clone() else {
        return;
    };
    if state.id().0 == 0 {
        glommio::spawn_local(retention(state.clone(), stop.clone())).detach();
    }
    crate::record::writer::run(
        rec,
        stop,
        |rec| end_gone_sessions(&state, rec),
        |rec, done| count(&state, rec, done),
    )
    .await;
}

/// Ends the tapes of sessions no longer in the shard's tables (deleted, expired, lost).
fn end_gone_sessions(state: &ShardState, rec: &Recorder) {
    for session in rec.sessions() {
        let live = state.sessions.borrow().peek(&session).is_some()
            || state.legacy.borrow().contains_key(&session);
        if !live {
            rec.end_session(&session);
        }
    }
}

/// Adds a pass's counts to the metrics.
fn count(state: &ShardState, rec: &Recorder, done: Flushed) {
    let m = &state.metrics;
    m.add(Counter::TapeLines, done.lines);
    m.add(Counter::TapeBytes, done.bytes);
    m.add(Counter::TapeWriteErrors, done.write_errors);
    m.add(
        Counter::TapeDropped,
        done.dropped + rec.take_counts().dropped,
    );
    m.add(Counter::TapeOpened, done.opened);
    m.add(Counter::TapeClosed, done.closed);
    m.add(Counter::TapeRotations, done.rotations);
}

/// Applies `keep` and `max_age` on a blocking thread every [`RETENTION_EVERY`] until `stop`.
async fn retention(state: Rc<ShardState>, stop: Rc<Latch>) {
    let Some(rec) = state.recorder.clone() else {
        return;
    };
    let config = rec.config();
    if config.keep == 0 && config.max_age.is_none() {
        return;
    }
    while !stop.is_fired() {
        futures_lite::future::or(glommio::timer::sleep(RETENTION_EVERY), async {
            stop.wait().await;
        })
        .await;
        // None after stop: the writers' last pass is finishing the tapes.
        if stop.is_fired() {
            break;
        }
        let (dir, keep, max_age) = (config.dir.clone(), config.keep, config.max_age);
        let swept = glommio::executor()
            .spawn_blocking(move || {
                crate::record::retention::sweep(&dir, keep, max_age, SystemTime::now())
            })
            .await;
        match swept {
            Ok(swept) => state.metrics.add(Counter::TapeDeleted, swept.deleted),
            Err(error) => {
                tracing::warn!(%error, "tape retention could not read the tape directory")
            }
        }
    }
}
