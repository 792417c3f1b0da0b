//! Requests and notifications into the link ([`Link::call`], [`Link::notify`], [`Link::cancel`],
//! the shared link's own `initialize`), the id and progress-token bookkeeping of calls in flight
//! (remapped in shared mode), and the [`Call`] a request's messages arrive on.
//!
//! Not here: routing the child's messages back to calls (`reader.rs`), rewriting ids inside a
//! message (`remap.rs`), subscriptions (`subscriptions.rs`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalReceiver};

use super::{
    remap, ClientMessage, Delivery, Inbox, Link, LinkError, Pending, SessionKey, PROXY_SESSION,
};
use crate::config::StdioMode;
use crate::mcp::spans::Value;
use crate::mcp::{JsonRpcId, ProgressToken, Span, Spans};

impl Link {
    /// Sends a request for `session` and returns the call its messages arrive on.
    ///
    /// `id` and `token` are the client's, `spans` where they sit in `message`; in shared mode
    /// the child sees fresh ones, spliced in there.
    ///
    /// # Errors
    /// [`LinkError::Gone`] when the child is gone, [`LinkError::SessionEnded`] when the
    /// session was ended on this link.
    pub fn call(
        self: &Rc<Self>,
        session: SessionKey,
        id: &JsonRpcId,
        token: Option<&ProgressToken>,
        spans: &Spans,
        message: &[u8],
    ) -> Result<Call, LinkError> {
        self.check_session(session)?;
        let seq = self.next_seq.get();
        self.next_seq.set(seq.wrapping_add(1));
        let (tx, rx) = local_channel::new_unbounded();
        let (key, upstream_token, line) = match self.options.mode {
            StdioMode::PerSession => (id.clone(), token.cloned(), None),
            StdioMode::Shared => {
                let upstream = JsonRpcId::Number(self.next_upstream_id.get());
                self.next_upstream_id
                    .set(self.next_upstream_id.get().wrapping_add(1));
                let upstream_token = token.map(|_| upstream.clone());
                let line =
                    remap::set_request_ids(message, spans, &upstream, upstream_token.as_ref());
                if line.is_none() {
                    tracing::warn!(%id, "shared link: request without a known id span; sent as is");
                }
                (upstream, upstream_token, line)
            }
        };
        if let Some(upstream_token) = &upstream_token {
            self.tokens
                .borrow_mut()
                .insert(upstream_token.clone(), key.clone());
        }
        let shared = self.options.mode == StdioMode::Shared;
        let previous = self.pending.borrow_mut().insert(
            key.clone(),
            Pending {
                tx,
                session,
                seq,
                client_id: shared.then(|| id.clone()),
                client_token: if shared { token.cloned() } else { None },
                client_id_text: remap::AsWritten::of(message, spans.id.filter(|_| shared)),
                client_token_text: remap::AsWritten::of(
                    message,
                    spans.progress_token.filter(|_| shared),
                ),
                upstream_token,
                overflowed: Cell::new(false),
            },
        );
        if let Some(previous) = previous {
            // A client reusing the id of a request still in flight: the older call ends.
            self.forget_tokens(std::slice::from_ref(&previous));
        }
        self.send_line(line.unwrap_or_else(|| message.to_vec()))?;
        Ok(Call {
            link: self.clone(),
            key,
            seq,
            rx,
        })
    }

    /// Sends a notification or a response (to a server→client request) from `session`.
    /// Shared mode: `notifications/initialized` is the proxy's business (dropped here), a
    /// `notifications/cancelled` names the child's id for the call, and a response goes back
    /// under the child's own id, only from the session the request was sent to.
    ///
    /// # Errors
    /// As [`Link::call`].
    pub fn notify(
        &self,
        session: SessionKey,
        message: &[u8],
        about: ClientMessage<'_>,
    ) -> Result<(), LinkError> {
        self.check_session(session)?;
        let shared = self.options.mode == StdioMode::Shared;
        if shared && about.is_initialized {
            return Ok(());
        }
        let mut line = None;
        if let Some(client_id) = about.cancelled {
            // The client gave up on this call: it ends here (the child will not answer it).
            let found = self.find_call(session, client_id);
            if let Some(key) = &found {
                if shared {
                    line = remap::set(message, about.spans.request_id, Value::Id(key));
                }
                let removed = self.pending.borrow_mut().remove(key);
                self.forget_tokens(removed.as_slice());
            }
            if shared && found.is_none() {
                // Nothing of this session's in flight under that id: nothing to cancel.
                return Ok(());
            }
        }
        if let (true, Some(id)) = (shared, about.response_to) {
            let owner = self.server_requests.borrow().get(id).map(|(s, _, _)| *s);
            if owner != Some(session) {
                tracing::debug!(%id, "answer to a server request this session was not asked; dropped");
                return Ok(());
            }
            let Some((_, original, text)) = self.server_requests.borrow_mut().remove(id) else {
                return Ok(());
            };
            line = remap::set(message, about.spans.id, text.value(&original));
        }
        self.send_line(line.unwrap_or_else(|| message.to_vec()))
    }

    /// Tells the child to stop working on a call the proxy gave up on (timeout).
    pub fn cancel(&self, key: &JsonRpcId, reason: &str) {
        let mut line = Vec::with_capacity(128);
        crate::mcp::write_cancelled(&mut line, key, reason);
        let removed = self.pending.borrow_mut().remove(key);
        self.forget_tokens(removed.as_slice());
        let _ = self.send_line(line);
    }

    /// Shared mode: the child's `initialize` result, initializing it first if needed (the
    /// proxy's own request; the result is cached and answered to every client).
    ///
    /// # Errors
    /// [`LinkError::Gone`], or [`LinkError::Initialize`] when the child answered with an
    /// error or no reply came within `timeout`.
    pub async fn shared_init(self: &Rc<Self>, timeout: Duration) -> Result<Rc<[u8]>, LinkError> {
        if let Some(result) = self.init_result.borrow().clone() {
            return Ok(result);
        }
        let _one_at_a_time = self
            .init_lock
            .acquire_permit(1)
            .await
            .map_err(|_| self.gone_error())?;
        if let Some(result) = self.init_result.borrow().clone() {
            // Initialized while this session waited.
            return Ok(result);
        }
        if !self.sessions.borrow().contains_key(&PROXY_SESSION) {
            let (tx, _rx) = local_channel::new_bounded(1);
            self.sessions
                .borrow_mut()
                .insert(PROXY_SESSION, Inbox { tx, rx: None });
        }
        let id = JsonRpcId::Number(0);
        const ID_AT: usize = br#"{"jsonrpc":"2.0","id":"#.len();
        let mut request =
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":""#
                .to_vec();
        request.extend_from_slice(
            crate::mcp::ProtocolVersion::LATEST_SESSIONFUL
                .as_str()
                .as_bytes(),
        );
        request.extend_from_slice(br#"","capabilities":{"roots":{"listChanged":true},"sampling":{},"elicitation":{}},"clientInfo":{"name":"shadowcat","version":""#);
        request.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
        request.extend_from_slice(b"\"}}}");
        let spans = Spans {
            id: Span::new(ID_AT..ID_AT + 1),
            ..Spans::default()
        };
        let call = self.call(PROXY_SESSION, &id, None, &spans, &request)?;
        let reply = loop {
            match glommio::timer::timeout(timeout, async { Ok(call.next().await) }).await {
                Ok(Some(Delivery::Final { bytes, .. })) => break bytes,
                Ok(Some(Delivery::Message(_))) => continue,
                Ok(None) => return Err(self.gone_error()),
                Err(_) => {
                    return Err(LinkError::Initialize(format!(
                        "no reply within {}",
                        humantime::format_duration(timeout)
                    )))
                }
            }
        };
        let result: Rc<[u8]> = remap::result_of(&reply)
            .ok_or_else(|| LinkError::Initialize(String::from_utf8_lossy(&reply).into_owned()))?
            .into();
        self.send_line(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec())?;
        *self.init_result.borrow_mut() = Some(result.clone());
        Ok(result)
    }

    /// The pending key of `session`'s call with client id `client_id`.
    fn find_call(&self, session: SessionKey, client_id: &JsonRpcId) -> Option<JsonRpcId> {
        let pending = self.pending.borrow();
        match self.options.mode {
            StdioMode::PerSession => pending.contains_key(client_id).then(|| client_id.clone()),
            StdioMode::Shared => pending
                .iter()
                .find(|(_, call)| {
                    call.session == session && call.client_id.as_ref() == Some(client_id)
                })
                .map(|(key, _)| key.clone()),
        }
    }

    /// Shared mode: gives a server→client request for `session` an id of the proxy's, so
    /// only that session's answer goes back to the child.
    pub(super) fn remap_server_request(
        &self,
        session: SessionKey,
        line: &[u8],
        original: &JsonRpcId,
        span: Option<Span>,
    ) -> Option<Vec<u8>> {
        let n = self.next_server_request.get();
        self.next_server_request.set(n.wrapping_add(1));
        let id = JsonRpcId::String(format!("shadowcat-{n}"));
        let rewritten = remap::set(line, span, Value::Id(&id))?;
        let text = remap::AsWritten::of(line, span);
        self.server_requests
            .borrow_mut()
            .insert(id, (session, original.clone(), text));
        Some(rewritten)
    }

    /// Drops the progress tokens of calls that ended.
    pub(super) fn forget_tokens(&self, calls: &[Pending]) {
        let mut tokens = self.tokens.borrow_mut();
        for token in calls.iter().filter_map(|call| call.upstream_token.as_ref()) {
            tokens.remove(token);
        }
    }
}

/// A request in flight: its messages arrive here. Dropping it abandons the call (later
/// messages for it are dropped).
#[derive(Debug)]
pub struct Call {
    link: Rc<Link>,
    key: JsonRpcId,
    seq: u64,
    rx: LocalReceiver<Delivery>,
}

impl Call {
    /// The next message; `None` when the call ended without a response (the child is gone,
    /// the session ended, or the client cancelled it): see [`Link::failure`].
    pub async fn next(&self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// The id the child knows this call by.
    pub fn upstream_id(&self) -> &JsonRpcId {
        &self.key
    }

    /// The link it runs on.
    pub fn link(&self) -> &Rc<Link> {
        &self.link
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let mut pending = self.link.pending.borrow_mut();
        // Only our own entry: a newer call may have reused the id.
        let ours = pending.get(&self.key).is_some_and(|p| p.seq == self.seq);
        if ours {
            let removed = pending.remove(&self.key);
            drop(pending);
            self.link.forget_tokens(removed.as_slice());
        }
    }
}
