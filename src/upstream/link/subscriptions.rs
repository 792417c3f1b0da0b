//! Resource subscriptions on a shared link: one child subscription per URI while any session
//! wants it, and who gets its `notifications/resources/updated`.
//!
//! Not here: sending and routing messages (`calls.rs`, `reader.rs`); per-session links forward
//! every subscribe and unsubscribe as they are.

use super::{Link, SessionKey};
use crate::config::StdioMode;
use crate::mcp::JsonRpcId;

impl Link {
    /// Records `session`'s `resources/subscribe` (or unsubscribe) of `uri` and says whether
    /// the request must reach the child. Shared mode keeps one child subscription per URI
    /// while any session wants it: only the first subscribe and the last unsubscribe go
    /// through, the others are answered by the proxy. Per-session links forward everything.
    pub fn subscription(&self, session: SessionKey, uri: &str, subscribe: bool) -> bool {
        if self.options.mode == StdioMode::PerSession {
            return true;
        }
        let mut subscriptions = self.subscriptions.borrow_mut();
        if subscribe {
            let sessions = subscriptions.entry(uri.to_owned()).or_default();
            let first = sessions.is_empty();
            sessions.insert(session);
            first
        } else {
            let Some(sessions) = subscriptions.get_mut(uri) else {
                return true;
            };
            sessions.remove(&session);
            let last = sessions.is_empty();
            if last {
                subscriptions.remove(uri);
            }
            last
        }
    }

    /// Undoes [`Link::subscription`]'s record of a subscribe the child refused.
    pub fn forget_subscription(&self, session: SessionKey, uri: &str) {
        let mut subscriptions = self.subscriptions.borrow_mut();
        if let Some(sessions) = subscriptions.get_mut(uri) {
            sessions.remove(&session);
            if sessions.is_empty() {
                subscriptions.remove(uri);
            }
        }
    }

    /// Shared mode: the sessions subscribed to `uri`.
    pub(super) fn subscribers(&self, uri: &str) -> Vec<SessionKey> {
        self.subscriptions
            .borrow()
            .get(uri)
            .map(|sessions| sessions.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Shared mode: drops `key`'s subscriptions; a URI nobody wants any more is unsubscribed at
    /// the child (its answer is dropped).
    pub(super) fn end_subscriptions(&self, key: SessionKey) {
        let abandoned: Vec<String> = {
            let mut subscriptions = self.subscriptions.borrow_mut();
            for sessions in subscriptions.values_mut() {
                sessions.remove(&key);
            }
            let empty: Vec<String> = subscriptions
                .iter()
                .filter(|(_, sessions)| sessions.is_empty())
                .map(|(uri, _)| uri.clone())
                .collect();
            for uri in &empty {
                subscriptions.remove(uri);
            }
            empty
        };
        for uri in abandoned {
            let id = self.next_upstream_id.get();
            self.next_upstream_id.set(id.wrapping_add(1));
            let mut line = br#"{"jsonrpc":"2.0","id":"#.to_vec();
            JsonRpcId::Number(id).write_json(&mut line);
            line.extend_from_slice(br#","method":"resources/unsubscribe","params":{"uri":"#);
            crate::mcp::write_json_string(&mut line, &uri);
            line.extend_from_slice(b"}}");
            let _ = self.send_line(line);
        }
    }
}
