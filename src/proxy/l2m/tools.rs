//! Per shard and translated upstream: what each tool's `inputSchema` asks to mirror into
//! `Mcp-Param-*` headers. Learned from the `tools/list` answers relayed to translated sessions
//! and, when a `tools/call` names a tool not known yet, from a `tools/list` the proxy sends
//! upstream itself (all pages, at most [`MAX_PAGES`]). Forgotten on
//! `notifications/tools/list_changed`, and refreshed when the upstream answers a call with
//! `-32020` (HeaderMismatch), as the spec asks of a client. A failed fetch is not tried again
//! for [`RETRY_AFTER`] (except by that refresh). A fetched listing is merged into what is known
//! (tools added or updated, none removed: only a list change forgets).
//!
//! Not here: what the cache knows and when it forgets (tool_cache.rs), reading schemas and
//! computing the headers (params.rs), sending the call (call.rs), one fetch at a time per
//! upstream (listing.rs). The cache is shared by the
//! shard's sessions on that upstream: an upstream whose tool list depends on the caller (its
//! headers or `_meta`) is corrected by the `-32020` refresh, and merging keeps one caller's
//! refresh from evicting the tools another caller learned.

use crate::config::UpstreamId;
use std::rc::Rc;

use crate::http::RequestHead;

use super::super::state::ShardState;
use super::listing;
use super::params::{self, Page, ToolParams};
/// The cache itself (in tool_cache.rs; these paths still work).
pub use super::tool_cache::{Listing, Lookup, ToolCache, ToolCaches, RETRY_AFTER};
use super::upstream;
use super::wire::{self, ClientMeta, Shape};
use crate::session::l2m::L2mSession;
use shards::timeout::within;

/// Most `tools/list` pages one fetch reads (a cursor loop must end).
pub const MAX_PAGES: usize = 32;
fn with_cache<T>(
    state: &ShardState,
    upstream: UpstreamId,
    f: impl FnOnce(&mut ToolCache) -> T,
) -> T {
    f(state.l2m.tools.borrow_mut().entry(upstream).or_default())
}

/// Takes in a `tools/list` answer (one page) relayed to a translated session; returns it as
/// the client gets it: without the tools whose annotations are invalid.
pub fn relayed_list(state: &ShardState, upstream: UpstreamId, message: Vec<u8>) -> Vec<u8> {
    let Some(page) = params::list_page(&message) else {
        return message;
    };
    with_cache(state, upstream, |cache| cache.learn(page));
    params::without_invalid(&message).unwrap_or(message)
}

/// Forgets what is known of `upstream`'s tools (their list changed).
pub fn forget(state: &ShardState, upstream: UpstreamId) {
    with_cache(state, upstream, ToolCache::forget);
}

/// Forgets `upstream`'s tools when `message` is `notifications/tools/list_changed`.
pub fn on_notification(state: &ShardState, upstream: UpstreamId, message: &[u8]) {
    const CHANGED: &[u8] = b"notifications/tools/list_changed";
    if !message.windows(CHANGED.len()).any(|w| w == CHANGED) {
        return;
    }
    #[derive(serde::Deserialize)]
    struct M<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    if serde_json::from_slice::<M<'_>>(message)
        .is_ok_and(|m| m.method.as_deref() == Some("notifications/tools/list_changed"))
    {
        tracing::debug!(
            upstream = upstream.compact(),
            "tools list changed: mirrored arguments forgotten"
        );
        forget(state, upstream);
    }
}

/// What tool `name` mirrors on the session's upstream: from the cache, else from a
/// `tools/list` sent upstream now (with the client's end-to-end headers) or the one under way
/// for that upstream (listing.rs); `refresh` skips the cache. `None` when the upstream does not
/// list the tool or the list cannot be read (the call then goes without `Mcp-Param-*` headers).
pub async fn params_for(
    state: &Rc<ShardState>,
    session: &L2mSession,
    head: &RequestHead,
    name: &str,
    refresh: bool,
) -> Option<Rc<ToolParams>> {
    // One request timeout for the whole listing: every call on the shard that needs it waits
    // for this fetch, so an upstream that never finishes must not hold them for more.
    let deadline = state.config.upstream(session.upstream).request_timeout;
    listing::params(
        &state.l2m.tools,
        session.upstream,
        name,
        refresh,
        || async move {
            within(deadline, fetch(state, session, head))
                .await
                .unwrap_or(Err("tools/list did not finish within the request timeout"))
        },
    )
    .await
}

/// Every tool the upstream lists (following `nextCursor`); whether the listing is whole.
async fn fetch(
    state: &Rc<ShardState>,
    session: &L2mSession,
    head: &RequestHead,
) -> Result<(Vec<(String, ToolParams)>, bool), &'static str> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = fetch_page(state, session, head, cursor.as_deref()).await?;
        tools.extend(page.tools);
        match page.next_cursor {
            Some(next) if !next.is_empty() => cursor = Some(next),
            _ => return Ok((tools, true)),
        }
    }
    Ok((tools, false))
}

async fn fetch_page(
    state: &Rc<ShardState>,
    session: &L2mSession,
    head: &RequestHead,
    cursor: Option<&str>,
) -> Result<Page, &'static str> {
    let up = state.config.upstream(session.upstream);
    let url = up.http().ok_or("not an HTTP upstream")?;
    let timeout = up.request_timeout;
    let mut list = Vec::with_capacity(96);
    list.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    crate::mcp::write_json_string(&mut list, &session.mint("tools"));
    list.extend_from_slice(br#","method":"tools/list""#);
    if let Some(cursor) = cursor {
        list.extend_from_slice(br#","params":{"cursor":"#);
        crate::mcp::write_json_string(&mut list, cursor);
        list.push(b'}');
    }
    list.push(b'}');
    let level = session.log_level.borrow().clone();
    let meta = ClientMeta {
        capabilities: &session.capabilities,
        client_info: &session.client_info,
        log_level: level.as_deref(),
    };
    let body = wire::upstream_body(&list, &meta, None).map_err(|_| "tools/list body")?;
    state
        .exchange_for(session.upstream, &session.owner)
        .await
        .map_err(|_| "no access token for the upstream")?;
    let configured = state
        .upstream_headers(session.upstream, &session.owner)
        .map_err(|_| "no access token for the upstream")?;
    let mut request = Vec::with_capacity(body.len() + 512);
    wire::request_head(
        &mut request,
        (url, &configured),
        head,
        "tools/list",
        None,
        body.len(),
    );
    request.extend_from_slice(&body);
    let mut reply = upstream::send(state, session.upstream, &request, None)
        .await
        .map_err(|_| "upstream unreachable")?;
    if !(200..300).contains(&reply.status()) {
        return Err("tools/list refused");
    }
    loop {
        match reply.next(None, timeout).await {
            Ok(Some(message)) => match wire::shape(&message) {
                Shape::Response => {
                    reply.release(state, timeout);
                    return params::list_page(&message).ok_or("tools/list answered an error");
                }
                Shape::Notification => on_notification(state, session.upstream, &message),
                _ => {}
            },
            Ok(None) => return Err("tools/list ended without an answer"),
            Err(_) => return Err("tools/list answer broken or late"),
        }
    }
}

/// The `Mcp-Param-*` headers of a translated `tools/call` of `name` with `body` (see
/// [`params_for`]); none when the tool mirrors nothing.
pub async fn call_headers(
    state: &Rc<ShardState>,
    session: &L2mSession,
    head: &RequestHead,
    name: &str,
    body: &[u8],
    refresh: bool,
) -> Vec<(String, String)> {
    match params_for(state, session, head, name, refresh).await {
        Some(params) => params::call_headers(body, &params),
        None => Vec::new(),
    }
}

/// Whether an upstream answer is a `-32020` (HeaderMismatch) error.
pub fn is_header_mismatch(message: &[u8]) -> bool {
    // Every tools/call answer passes here: only one naming the code is parsed.
    if !message.windows(6).any(|w| w == b"-32020") {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Response {
        error: Option<Error>,
    }
    #[derive(serde::Deserialize)]
    struct Error {
        code: i64,
    }
    serde_json::from_slice::<Response>(message).is_ok_and(|r| {
        r.error
            .is_some_and(|e| e.code == i64::from(crate::mcp::jsonrpc::HEADER_MISMATCH))
    })
}

#[cfg(test)]
#[path = "tools_tests.rs"]
mod tests;
