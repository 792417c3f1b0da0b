//! Which client sessions have a GET stream open right now on this shard ([`OpenStreams`]): the
//! reaper keeps such a session alive however long it has been idle.
//!
//! Not here: the streams themselves (the proxy's bodyless.rs, legacy and translation streams).
//! Single-shard data: a `RefCell`, no borrow held across an `.await`.

use std::cell::RefCell;
use std::collections::HashMap;

use super::SessionId;

/// Open GET streams per session (how many).
#[derive(Debug, Default)]
pub struct OpenStreams(RefCell<HashMap<SessionId, u32>>);

impl OpenStreams {
    /// Registers an open stream for `session` until the returned guard drops (on every path,
    /// including a connection task dropped at shutdown).
    pub fn open(&self, session: SessionId) -> OpenStream<'_> {
        *self.0.borrow_mut().entry(session).or_insert(0) += 1;
        OpenStream {
            streams: self,
            session,
        }
    }

    /// Whether `session` has a stream open.
    pub fn is_open(&self, session: &SessionId) -> bool {
        self.0.borrow().contains_key(session)
    }
}

/// Marks a session as having an open GET stream for as long as it lives.
#[derive(Debug)]
pub struct OpenStream<'a> {
    streams: &'a OpenStreams,
    session: SessionId,
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        let mut open = self.streams.0.borrow_mut();
        if let Some(count) = open.get_mut(&self.session) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.session);
            }
        }
    }
}
