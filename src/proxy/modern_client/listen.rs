//! `subscriptions/listen` from a 2026-07-28 client to a legacy upstream: a fresh upstream
//! session of its own (subscriptions are session state, so it is never pooled), subscribed to
//! the requested resources (`resources/subscribe`), whose unsolicited stream (the HTTP GET
//! stream, or the link session's inbox) is relayed as the listen's SSE answer:
//! `notifications/subscriptions/acknowledged` with the honoured subset first, then only the
//! requested kinds, each with `_meta["io.modelcontextprotocol/subscriptionId"]` = the listen's
//! id; shutdown or the upstream's end closes it with `result {resultType: "complete"}`. The
//! session is ended when the listen ends.
//!
//! Not here: the request flow of other methods (serve.rs, drive.rs), upstream I/O (upstream.rs).

use crate::config::UpstreamId;
use crate::session::Principal;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::LocalReceiver;
use serde_json::{json, Map, Value};
use shards::io::NetStream;

use crate::http::{write_request_head_with, Framing, HttpConn};
use crate::mcp::JsonRpcId;

use super::super::error::ProxyError;
use super::super::exchange::exchange;
use super::super::metrics::{Counter, ListenGuard};
use super::super::state::ShardState;
use super::super::stdio::answer::{next_or_end, ClientShape, SseOut, StreamWake};
use super::reply::refuse;
use super::source::{HttpAnswer, Source};
use super::upstream::UpSession;

/// The `_meta` key every message of a listen carries (as rmcp spells it).
const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// A GET stream has no idle timeout.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// What the client asked for, and what the upstream can give.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `toolsListChanged`.
    pub tools: bool,
    /// `promptsListChanged`.
    pub prompts: bool,
    /// `resourcesListChanged`.
    pub resources: bool,
    /// `resourceSubscriptions`.
    pub uris: Vec<String>,
}

impl Filter {
    /// Reads `params.notifications`.
    pub fn requested(params: &Value) -> Self {
        let n = params.get("notifications");
        let flag = |name: &str| n.and_then(|n| n.get(name)).and_then(Value::as_bool) == Some(true);
        Self {
            tools: flag("toolsListChanged"),
            prompts: flag("promptsListChanged"),
            resources: flag("resourcesListChanged"),
            uris: n
                .and_then(|n| n.get("resourceSubscriptions"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The list-change kinds the upstream declares (`listChanged: true`); subscriptions only
    /// when it declares `resources.subscribe` (each is confirmed upstream afterwards).
    pub fn honoured(&self, capabilities: &Value) -> Self {
        let declares = |kind: &str, flag: &str| {
            capabilities
                .get(kind)
                .and_then(|c| c.get(flag))
                .and_then(Value::as_bool)
                == Some(true)
        };
        Self {
            tools: self.tools && declares("tools", "listChanged"),
            prompts: self.prompts && declares("prompts", "listChanged"),
            resources: self.resources && declares("resources", "listChanged"),
            uris: if declares("resources", "subscribe") {
                self.uris.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// The filter as the acknowledgement states it.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (name, on) in [
            ("toolsListChanged", self.tools),
            ("promptsListChanged", self.prompts),
            ("resourcesListChanged", self.resources),
        ] {
            if on {
                out.insert(name.into(), Value::Bool(true));
            }
        }
        if !self.uris.is_empty() {
            out.insert("resourceSubscriptions".into(), json!(self.uris));
        }
        Value::Object(out)
    }

    /// Whether an upstream notification is one the listener asked for.
    pub fn wants(&self, message: &Value) -> bool {
        match message.get("method").and_then(Value::as_str) {
            Some("notifications/tools/list_changed") => self.tools,
            Some("notifications/prompts/list_changed") => self.prompts,
            Some("notifications/resources/list_changed") => self.resources,
            Some("notifications/resources/updated") => message
                .get("params")
                .and_then(|p| p.get("uri"))
                .and_then(Value::as_str)
                .is_some_and(|uri| self.uris.iter().any(|u| u == uri)),
            _ => false,
        }
    }
}

/// Adds `_meta[subscriptionId]` to a notification's params.
fn tagged(mut message: Value, id: &Value) -> Value {
    if let Some(object) = message.as_object_mut() {
        let params = object
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(params) = params.as_object_mut() {
            let meta = params
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(SUBSCRIPTION_ID.into(), id.clone());
            }
        }
    }
    message
}

/// The upstream stream a listen relays.
enum Stream {
    Http(Source),
    Inbox(LocalReceiver<Vec<u8>>),
    /// The upstream offers no stream (GET refused): the listen is held open, silent.
    None,
}

impl Stream {
    async fn next(&mut self, state: &ShardState) -> Option<Vec<u8>> {
        match self {
            Self::Http(source) => source.next(state, FOREVER).await.ok().flatten(),
            Self::Inbox(rx) => rx.recv().await,
            Self::None => std::future::pending().await,
        }
    }
}

/// Serves `subscriptions/listen` on a fresh session of `upstream`.
///
/// # Errors
/// Client write failures.
pub async fn listen(
    state: &Rc<ShardState>,
    (upstream, principal): (UpstreamId, &Principal),
    client: &mut HttpConn<NetStream>,
    shape: ClientShape<'_>,
    id: &JsonRpcId,
    params: &Value,
) -> Result<bool, ProxyError> {
    let (capabilities, info) = super::upstream::declared_client(params);
    let opened =
        match super::upstream::open(state, (upstream, principal), &capabilities, &info).await {
            Ok(opened) => opened,
            Err(failure) => {
                let (code, message) = failure.describe();
                return refuse(state, client, shape, 502, id, code, &message).await;
            }
        };
    let session = opened.session;
    let server_caps = opened
        .result
        .get("capabilities")
        .cloned()
        .unwrap_or(Value::Null);
    let mut honoured = Filter::requested(params).honoured(&server_caps);
    keep_subscribed(state, upstream, &session, &mut honoured).await;
    let mut stream = match open_stream(state, upstream, &session).await {
        Some(stream) => stream,
        None => Stream::None,
    };
    let listen_id = id.to_value();
    let _listening = ListenGuard::open(&state.metrics);
    let mut out = SseOut::new(shape);
    let streamed = async {
        out.start(state, client).await?;
        let ack = json!({
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": honoured.to_json()},
        });
        out.event(
            state,
            client,
            tagged(ack, &listen_id).to_string().as_bytes(),
        )
        .await?;
        loop {
            let wake = next_or_end(state, client, stream.next(state)).await;
            match wake {
                StreamWake::Message(Some(bytes)) => {
                    let Ok(message) = serde_json::from_slice::<Value>(&bytes) else {
                        continue;
                    };
                    if message.get("id").is_none() && honoured.wants(&message) {
                        let event = tagged(message, &listen_id).to_string();
                        out.event(state, client, event.as_bytes()).await?;
                        state.metrics.incr(Counter::SseEvents);
                    }
                }
                StreamWake::Message(None) | StreamWake::Shutdown => {
                    let end = json!({
                        "jsonrpc": "2.0",
                        "id": listen_id,
                        "result": {"resultType": "complete", "_meta": {SUBSCRIPTION_ID: listen_id}},
                    });
                    out.event(state, client, end.to_string().as_bytes()).await?;
                    return out.finish(state, client).await;
                }
                StreamWake::ClientGone => {
                    state.metrics.incr(Counter::ClientGone);
                    return Ok(false);
                }
            }
        }
    }
    .await;
    if let (Stream::Inbox(rx), UpSession::Link(bound, _)) = (stream, &session) {
        bound.link.return_inbox(bound.key, rx);
    }
    let state = state.clone();
    glommio::spawn_local(async move { session.close(&state).await }).detach();
    streamed
}

/// Subscribes the listen's session to each resource `honoured` names; keeps those the
/// upstream agreed to.
async fn keep_subscribed(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    session: &UpSession,
    honoured: &mut Filter,
) {
    let mut confirmed = Vec::with_capacity(honoured.uris.len());
    for (n, uri) in honoured.uris.iter().enumerate() {
        if subscribe(state, upstream, session, n, uri).await {
            confirmed.push(uri.clone());
        }
    }
    honoured.uris = confirmed;
}

/// `resources/subscribe` for `uri` on the listen's session; whether the upstream agreed.
async fn subscribe(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    session: &UpSession,
    n: usize,
    uri: &str,
) -> bool {
    if let UpSession::Link(bound, _) = session {
        if !bound.link.subscription(bound.key, uri, true) {
            // A shared child already subscribed for another session: it sends the updates.
            return true;
        }
    }
    let id = JsonRpcId::String(format!("shadowcat-listen-subscribe-{n}"));
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.to_value(),
        "method": "resources/subscribe",
        "params": {"uri": uri},
    })
    .to_string();
    let timeout = state.config.upstream(upstream).request_timeout;
    let Ok(mut source) = session
        .call(
            state,
            upstream,
            &id,
            None,
            &super::upstream::spans_of(state, body.as_bytes()),
            body.as_bytes(),
        )
        .await
    else {
        return false;
    };
    loop {
        match source.next(state, timeout).await {
            Ok(Some(bytes)) => {
                let Ok(message) = serde_json::from_slice::<Value>(&bytes) else {
                    continue;
                };
                if message.get("method").is_some() {
                    continue;
                }
                if let Source::Http(answer) = source {
                    answer.finish(state);
                }
                return message.get("result").is_some();
            }
            _ => return false,
        }
    }
}

/// Opens the session's unsolicited stream: the HTTP GET stream or the link session's inbox.
async fn open_stream(
    state: &Rc<ShardState>,
    upstream: UpstreamId,
    session: &UpSession,
) -> Option<Stream> {
    match session {
        UpSession::Link(bound, _) => bound.link.take_inbox(bound.key).map(Stream::Inbox),
        UpSession::Http {
            id, version, owner, ..
        } => {
            let up = state.config.upstream(upstream);
            let url = up.http()?;
            // The owner's exchanged token may have expired since the session's last request.
            if let Err(e) = state.exchange_for(upstream, owner).await {
                tracing::debug!(error = ?e, "no upstream token for the unsolicited stream");
                return None;
            }
            let configured = state.upstream_headers(upstream, owner).ok()?;
            let mut headers: Vec<(&str, &[u8])> = vec![
                ("Host", url.authority.as_bytes()),
                ("Accept", b"text/event-stream"),
                ("MCP-Protocol-Version", version.as_bytes()),
            ];
            if let Some(id) = id {
                headers.push(("Mcp-Session-Id", id.as_bytes()));
            }
            let mut request = Vec::with_capacity(256);
            write_request_head_with(
                &mut request,
                "GET",
                url.path.as_bytes(),
                headers,
                configured.lines(),
                Framing::Empty,
            );
            let ex = exchange(state, upstream, &request, None, false)
                .await
                .ok()?;
            if ex.head.status() != 200 {
                tracing::debug!(
                    status = ex.head.status(),
                    "legacy upstream offers no GET stream; the listen stays silent"
                );
                super::super::exchange::finish(state, ex, false);
                return None;
            }
            HttpAnswer::open(ex).ok().map(Stream::Http)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honoured_subset_follows_the_upstream_capabilities() {
        let params = json!({"notifications": {
            "toolsListChanged": true, "promptsListChanged": true,
            "resourceSubscriptions": ["a://1"]}});
        let requested = Filter::requested(&params);
        let caps = json!({"tools": {"listChanged": true}, "resources": {"subscribe": true}});
        let honoured = requested.honoured(&caps);
        assert_eq!(
            honoured.to_json(),
            json!({"toolsListChanged": true, "resourceSubscriptions": ["a://1"]})
        );
        assert!(honoured.wants(&json!({"method": "notifications/tools/list_changed"})));
        assert!(!honoured.wants(&json!({"method": "notifications/prompts/list_changed"})));
        assert!(honoured.wants(
            &json!({"method": "notifications/resources/updated", "params": {"uri": "a://1"}})
        ));
        assert!(!honoured.wants(
            &json!({"method": "notifications/resources/updated", "params": {"uri": "a://2"}})
        ));
        assert!(!honoured.wants(&json!({"method": "notifications/message"})));
    }

    #[test]
    fn every_message_is_tagged_with_the_listen_id() {
        let tagged = tagged(
            json!({"method": "notifications/tools/list_changed"}),
            &json!(7),
        );
        assert_eq!(tagged["params"]["_meta"][SUBSCRIPTION_ID], 7);
    }
}
