//! The tape of the request being served on this thread, so the transports' code can note a
//! message (`c2s`, `s2c`) without every signature carrying a tape. [`connection`] runs a client
//! connection's future with the connection's slot current during each poll (as the audit
//! log's scope does); the proxy names the request's tape ([`begin`]) once it knows the route
//! and the session, and clears it when the request ends ([`end_request`]). A connection's
//! stateless (2026-07-28) traffic goes to one tape of its own, ended with the connection, and
//! so do its requests that opened no session (a refused `initialize`).
//!
//! Not here: choosing the tape (the proxy's record.rs), the lines (recorder.rs). Cost: on a
//! shard without recording nothing is wrapped and every note is one thread-local read; a
//! request on a route that does not record has no tape, and a note is the same read.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use crate::session::SessionId;
use crate::tape::format::Direction;

use super::header::TapeInfo;
use super::line::{Forwarded, Http};
use super::recorder::{Recorder, TapeId};

/// One connection's recording state.
struct Conn {
    recorder: Rc<Recorder>,
    /// The tape of the request being served.
    current: Cell<Option<TapeId>>,
    /// The tape of the connection's stateless traffic, once it had some.
    stateless: Cell<Option<TapeId>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Conn>>> = const { RefCell::new(None) };
}

/// Runs the connection future `future` with its own slot current during each poll; its
/// stateless tape ends with it.
pub fn connection<F: Future>(recorder: Rc<Recorder>, future: F) -> Connection<F> {
    let conn = Rc::new(Conn {
        recorder,
        current: Cell::new(None),
        stateless: Cell::new(None),
    });
    shards::scoped::scoped(ConnScope(conn), future)
}

/// A connection's future inside its recording scope.
pub type Connection<F> = shards::scoped::Scoped<ConnScope, F>;

/// A connection's recording state, made current around each poll of its future.
pub struct ConnScope(Rc<Conn>);

impl std::fmt::Debug for ConnScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnScope").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Enter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enter").finish_non_exhaustive()
    }
}

impl shards::scoped::Scope for ConnScope {
    type Entered = Enter;

    fn enter(&self) -> Enter {
        Enter::new(self.0.clone())
    }
}

impl Drop for Conn {
    /// The connection ended (or its task was dropped): an `initialize` tape that never got its
    /// session, and the connection's stateless tape, end with it.
    fn drop(&mut self) {
        self.sessionless_to_connection();
        if let Some(tape) = self.stateless.take() {
            self.recorder.end(tape);
        }
    }
}

impl Conn {
    /// The current request's tape, when its request opened no session, becomes (or joins) the
    /// connection's tape: a client retrying a refused `initialize` makes one file, not many.
    fn sessionless_to_connection(&self) {
        if let Some(tape) = self.current.take() {
            if self.recorder.is_unbound(tape) {
                let into = self.recorder.to_connection(tape, self.stateless.get());
                self.stateless.set(Some(into));
            }
        }
    }
}

/// The recorder of the connection being polled (none: its shard does not record).
pub fn recorder() -> Option<Rc<Recorder>> {
    CURRENT.with_borrow(|conn| conn.as_ref().map(|c| c.recorder.clone()))
}

/// Makes `tape` the current request's tape.
pub fn begin(tape: Option<TapeId>) {
    with(|conn| conn.current.set(tape));
}

/// The current request's tape.
pub fn current() -> Option<TapeId> {
    CURRENT.with_borrow(|conn| conn.as_ref().and_then(|c| c.current.get()))
}

/// The connection's stateless tape, opened with `info()` on first use.
pub fn stateless(info: impl FnOnce() -> TapeInfo) -> Option<TapeId> {
    let conn = CURRENT.with_borrow(Clone::clone)?;
    if let Some(tape) = conn.stateless.get() {
        return Some(tape);
    }
    let tape = conn.recorder.connection_tape(info());
    conn.stateless.set(Some(tape));
    Some(tape)
}

/// Names the session the current request's `initialize` opened.
pub fn bind_session(session: &SessionId) {
    with(|conn| {
        if let Some(tape) = conn.current.get() {
            conn.recorder.bind(tape, session);
        }
    });
}

/// Ends the current request: what an `initialize` that opened no session recorded goes to
/// the connection's tape.
pub fn end_request() {
    with(Conn::sessionless_to_connection);
}

/// Notes a client→server message of the current request (`valid`: its bytes were parsed as
/// JSON already).
pub fn c2s(msg: &[u8], valid: bool, http: Option<Http<'_>>) {
    note(Direction::ClientToServer, msg, valid, None, http);
}

/// Notes a server→client message of the current request.
pub fn s2c(msg: &[u8], http: Option<Http<'_>>) {
    note(Direction::ServerToClient, msg, false, None, http);
}

/// Notes in place of a message of the current request too large to record: `note` (text, not
/// JSON: a `raw` line), the message counted as dropped (its tape ends `failed`).
pub fn not_recorded(note: &[u8], http: Http<'_>) {
    CURRENT.with_borrow(|conn| {
        if let Some(conn) = conn {
            if let Some(tape) = conn.current.get() {
                conn.recorder
                    .record(tape, Direction::ServerToClient, note, false, Some(http));
                conn.recorder.drop_line(tape);
            }
        }
    });
}

/// Notes a message of the current request that a stage or an interception rule changed
/// (`forwarded`: what went on; `Some(None)`: nothing did).
pub fn changed(dir: Direction, msg: &[u8], forwarded: Forwarded<'_>, http: Option<Http<'_>>) {
    note(dir, msg, false, forwarded, http);
}

/// Whether the current request is recorded (a transport may skip work otherwise).
pub fn recording() -> bool {
    current().is_some()
}

fn note(dir: Direction, msg: &[u8], valid: bool, forwarded: Forwarded<'_>, http: Option<Http<'_>>) {
    CURRENT.with_borrow(|conn| {
        if let Some(conn) = conn {
            if let Some(tape) = conn.current.get() {
                conn.recorder
                    .record_forwarded(tape, (dir, msg, valid), forwarded, http);
            }
        }
    });
}

fn with(f: impl FnOnce(&Conn)) {
    CURRENT.with_borrow(|conn| {
        if let Some(conn) = conn {
            f(conn);
        }
    });
}

/// Makes a connection's slot current until dropped, then restores the one before.
pub struct Enter {
    before: Option<Rc<Conn>>,
}

impl Enter {
    fn new(conn: Rc<Conn>) -> Enter {
        Enter {
            before: CURRENT.replace(Some(conn)),
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.set(self.before.take());
    }
}
