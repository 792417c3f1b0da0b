//! The legacy HTTP+SSE transport (2024-11-05) on the client side: `GET sse_path` opens a
//! session and its stream (stream.rs), `POST messages_path?sessionId=ID` is answered 202 and
//! its exchange with the upstream runs in the background (post.rs; http.rs for Streamable HTTP
//! upstreams, modern.rs for 2026-07-28-only ones through the era translation of
//! proxy::l2m, stdio.rs for stdio ones); every message for the session goes out on the
//! stream.
//!
//! Here: routing to those handlers, and delivering to a session's [`LegacyOut`] (the
//! per-session queue between the exchanges and the stream, `session/legacy.rs`).
//! Not here: the Streamable HTTP endpoint (post.rs, bodyless.rs), shard handoff (server.rs
//! calls [`messages_session`]).

mod held;
mod http;
mod modern;
mod post;
mod stdio;
mod stream;

pub use super::state::LegacyOut;
use crate::session::legacy::QUEUE_CAPACITY;

/// An exchange in flight for a legacy session, until it drops: the stream waits for it at
/// shutdown, and it holds its upstream's `max_in_flight` slot (post.rs took it before the 202)
/// until its answer is on the stream or the upstream request ended.
#[derive(Debug)]
struct Work {
    _running: crate::session::legacy::Work<crate::pipeline::ListingWatch>,
    _slot: Option<super::state::Slot>,
}

use std::rc::Rc;

use shards::io::NetStream;

use crate::config::{Config, LegacySseConfig, ListenerId, RouteConfig, RouteId};
use crate::http::{HttpConn, Method as HttpMethod, RequestHead};
use crate::session::SessionId;

use super::error::ProxyError;
use super::metrics::Counter;
use super::state::ShardState;
use crate::pipeline::intercept::{Outgoing, Sent};
use crate::pipeline::{Principal, RouteStages};

/// A legacy path matched on a listener: which route and which endpoint.
#[derive(Debug, Clone, Copy)]
pub struct LegacyRoute<'c> {
    id: RouteId,
    route: &'c RouteConfig,
    legacy: &'c LegacySseConfig,
    stream: bool,
}

impl<'c> LegacyRoute<'c> {
    /// The route whose legacy endpoints these are.
    pub fn route(&self) -> &'c RouteConfig {
        self.route
    }

    /// Its id (selects the route's stages).
    pub fn id(&self) -> RouteId {
        self.id
    }
}

/// The route of the `listener`th listener whose legacy SSE or messages path is `path`, if any.
pub fn route<'c>(config: &'c Config, listener: ListenerId, path: &[u8]) -> Option<LegacyRoute<'c>> {
    config.route_ids(listener).find_map(|(id, route)| {
        let legacy = route.legacy_sse.as_ref()?;
        if legacy.sse_path.as_bytes() == path {
            Some(LegacyRoute {
                id,
                route,
                legacy,
                stream: true,
            })
        } else if legacy.messages_path.as_bytes() == path {
            Some(LegacyRoute {
                id,
                route,
                legacy,
                stream: false,
            })
        } else {
            None
        }
    })
}

/// The raw `sessionId` of a POST to one of the `listener`th listener's legacy messages paths
/// (for the shard handoff); `None` for any other request.
pub fn messages_session<'h>(
    config: &Config,
    listener: ListenerId,
    head: &'h RequestHead,
) -> Option<&'h [u8]> {
    let found = route(config, listener, head.path())?;
    if found.stream {
        return None;
    }
    session_param(head)
}

/// The `sessionId` query parameter (ids are hex: no percent-decoding needed).
fn session_param(head: &RequestHead) -> Option<&[u8]> {
    head.query()?.split(|b| *b == b'&').find_map(|pair| {
        let at = pair.iter().position(|b| *b == b'=')?;
        (pair.get(..at)? == b"sessionId").then(|| pair.get(at + 1..).unwrap_or_default())
    })
}

/// Serves a request on a legacy path; returns whether the connection stays open.
pub async fn dispatch(
    state: &Rc<ShardState>,
    found: LegacyRoute<'_>,
    (stages, principal): (&RouteStages, Principal),
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> Result<bool, ProxyError> {
    match (found.stream, head.method()) {
        (true, HttpMethod::Get) => {
            let upstream = found.route.upstream;
            stream::open(
                state,
                (found.id(), upstream),
                found.legacy,
                (stages, principal),
                conn,
                head,
            )
            .await
        }
        (false, HttpMethod::Post) => {
            post::post(state, (found.id(), stages, principal), conn, head).await
        }
        (true, _) => Err(ProxyError::LegacyMethodNotAllowed {
            allow: &[("Allow", "GET")],
        }),
        (false, _) => Err(ProxyError::LegacyMethodNotAllowed {
            allow: &[("Allow", "POST")],
        }),
    }
}

/// Queues `message` for the session's stream (one an interception rule holds, with its hold:
/// the stream settles it); false when the session is gone. A full queue
/// ends the session: its client is not reading. Only an answer to one of the session's
/// pending `tools/list` requests passes the tool filter (`ListingWatch`, noted by post.rs);
/// every message passes the interception rules' response side, under the set in force now
/// (renewed here when the shard's set changed since the stream opened).
fn deliver(state: &ShardState, sid: &SessionId, message: Vec<u8>) -> bool {
    let legacy = state.legacy.borrow();
    let Some(out) = legacy.get(sid) else {
        return false;
    };
    if out.ended.is_fired() {
        return false;
    }
    // A rule set put in force since the stream opened judges this message.
    out.stages
        .answers()
        .renew(state.intercept.generation(), || {
            let sessions = state.sessions.borrow();
            let entry = sessions.peek(sid)?;
            let scope = super::intercept::Scope {
                route: entry.route,
                principal: &entry.owner,
                session: Some(sid),
            };
            super::intercept::stream_scope(state, scope)
        });
    let (message, original, hold) = match out.stages.judge(&message) {
        Outgoing::Now(Sent::Changed(changed)) => (changed, Some(message), None),
        // Never at once: only an operator's decision drops a message.
        Outgoing::Now(Sent::Dropped) => return true,
        Outgoing::Now(Sent::Original) => (message, None, None),
        // The stream settles it when it takes it (stream.rs): the messages queued after it
        // wait behind it.
        Outgoing::Hold(hold) => (message, None, Some(hold)),
    };
    match out.tx.try_send(message) {
        Ok(()) => {
            let n = out.queued(original);
            if let Some(hold) = hold {
                out.stages.park(n, hold);
            }
            true
        }
        Err(_) => {
            tracing::warn!(
                session = %sid.as_str(),
                queued = QUEUE_CAPACITY,
                "legacy SSE client is not reading its stream; session ended"
            );
            state.metrics.incr(Counter::LegacyOverflows);
            out.ended.fire();
            false
        }
    }
}

/// Ends a session's stream (the stream task then tears the session down).
fn end(state: &ShardState, sid: &SessionId, why: &str) {
    if let Some(out) = state.legacy.borrow().get(sid) {
        if !out.ended.is_fired() {
            tracing::info!(session = %sid.as_str(), why, "legacy session ending");
            out.ended.fire();
        }
    }
}

/// The session's queue, while its stream is open.
fn live(state: &ShardState, sid: &SessionId) -> Option<Rc<LegacyOut>> {
    state
        .legacy
        .borrow()
        .get(sid)
        .filter(|out| !out.ended.is_fired())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, Limits};
    use crate::pipeline::ListingWatch;

    fn head(target: &str) -> RequestHead {
        let raw = format!("POST {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        parse_request(raw.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    fn config() -> Config {
        crate::config::from_toml_str(
            "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
             [listeners.main]\nbind = \"127.0.0.1:8080\"\n\
             [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"demo\"\n\
             legacy_sse = true\nsse_path = \"/sse\"\nmessages_path = \"/messages\"\n",
            "test.toml",
        )
        .unwrap()
    }

    #[test]
    fn session_parameter_is_found_among_others() {
        let c = config();
        assert_eq!(
            messages_session(&c, ListenerId::FIRST, &head("/messages?sessionId=abc")),
            Some(&b"abc"[..])
        );
        assert_eq!(
            messages_session(
                &c,
                ListenerId::FIRST,
                &head("/messages?x=1&sessionId=abc&y=2")
            ),
            Some(&b"abc"[..])
        );
        assert_eq!(
            messages_session(&c, ListenerId::FIRST, &head("/messages")),
            None
        );
        assert_eq!(
            messages_session(&c, ListenerId::FIRST, &head("/messages?session=abc")),
            None
        );
        assert_eq!(
            messages_session(&c, ListenerId::FIRST, &head("/sse?sessionId=abc")),
            None
        );
        assert_eq!(
            messages_session(&c, ListenerId::FIRST, &head("/mcp?sessionId=abc")),
            None
        );
    }

    #[test]
    fn draining_waits_for_running_exchanges_only() {
        let (out, _rx) = LegacyOut::new(ListingWatch::new(RouteStages::default()));
        let first = out.work();
        let second = out.work();
        assert!(out.start_listening() && !out.start_listening());
        drop(first);
        out.drain();
        assert!(!out.drained.is_fired(), "one exchange still runs");
        drop(second);
        assert!(out.drained.is_fired());

        let (idle, _rx) = LegacyOut::new(ListingWatch::new(RouteStages::default()));
        drop(idle.work());
        assert!(!idle.drained.is_fired(), "no shutdown yet");
        idle.drain();
        assert!(idle.drained.is_fired(), "nothing running: drained at once");
    }

    #[test]
    fn legacy_paths_route_to_their_endpoint() {
        let c = config();
        assert!(route(&c, ListenerId::FIRST, b"/sse").is_some_and(|r| r.stream));
        assert!(route(&c, ListenerId::FIRST, b"/messages").is_some_and(|r| !r.stream));
        assert!(route(&c, ListenerId::FIRST, b"/mcp").is_none());
        let found = route(&c, ListenerId::FIRST, b"/sse").unwrap();
        assert_eq!(c.route(found.id()).path, "/mcp");
    }
}
