//! Serves the admin endpoints on their own listener (never on the MCP listener), behind the
//! bearer token of `[admin] token_file` when one is configured.
//!
//! Not here: the metric data (scrape.rs, prometheus.rs).

use std::rc::Rc;

use shards::io::{NetListener, NetStream};

use crate::proxy::accept::accept_until;

use crate::config::AdminToken;
use crate::http::{Framing, Head, HttpConn, Method, RequestHead};
use crate::proxy::headers::local_response;
use crate::proxy::respond::refuse_foreign_host;
use crate::proxy::state::ShardState;
use shards::timeout::within;

/// Accepts admin connections until shutdown.
/// Admin traffic is not the hot path: its listener stays on glommio's sockets
/// (`shards::listener::bind_reuseport`) whatever `--io` says.
pub async fn accept_loop(state: Rc<ShardState>, listener: NetListener) {
    // Answer only to local names and our own address: a browser page cannot read the API
    // through DNS rebinding. (This loop runs only when `admin` is configured.)
    let hosts = Rc::new(
        state
            .config
            .admin
            .map(crate::config::local_hosts)
            .unwrap_or_default(),
    );
    accept_until(listener, &state.shutdown, "admin", |stream| {
        glommio::spawn_local(serve(state.clone(), hosts.clone(), stream)).detach();
    })
    .await;
}

async fn serve(state: Rc<ShardState>, hosts: Rc<Vec<String>>, stream: NetStream) {
    let mut conn = HttpConn::new(stream, Vec::with_capacity(1024));
    let limits = state.limits;
    let mut head = crate::http::RequestHead::default();
    loop {
        match within(
            state.config.timeouts.keepalive_idle,
            conn.read_request_head(&limits, &mut head),
        )
        .await
        {
            Some(Ok(true)) => {}
            _ => return,
        }
        if refuse_foreign_host(&mut conn, &head, &hosts).await {
            return;
        }
        let allowed = authorized(state.config.admin_token.as_ref(), &head);
        // Only the interception endpoints read a body: after any other answer to a request
        // with one, its unread bytes would be taken for the next request, so the connection
        // closes instead.
        let body_read = allowed && head.path().starts_with(crate::admin::intercept::PREFIX);
        let mut keep = head.keep_alive()
            && !state.shutdown.is_fired()
            && (body_read || matches!(head.framing(), Ok(Framing::Empty | Framing::Length(0))));
        let mut out = Vec::with_capacity(1024);
        match (head.method(), head.path()) {
            _ if !allowed => local_response(
                &mut out,
                401,
                Some("text/plain"),
                &[("WWW-Authenticate", "Bearer realm=\"shadowcat admin\"")],
                b"the admin API needs Authorization: Bearer TOKEN (the token of --admin-token-file)\n",
                keep,
            ),
            (_, path) if path.starts_with(crate::admin::intercept::PREFIX) => {
                keep = intercept(&state, &mut conn, &head, (&mut out, keep)).await;
            }
            (Method::Get, b"/metrics") => {
                let reports = crate::admin::scrape::gather(&state).await;
                let body = crate::admin::prometheus::render(&reports, state.ctx.shard_count);
                local_response(
                    &mut out,
                    200,
                    Some("text/plain; version=0.0.4"),
                    &[],
                    body.as_bytes(),
                    keep,
                );
            }
            (Method::Get, b"/health") => {
                local_response(&mut out, 200, Some("text/plain"), &[], b"ok\n", keep)
            }
            (Method::Get, b"/ready") => {
                let (status, body): (u16, &[u8]) = if state.shutdown.is_fired() {
                    (503, b"shutting down\n")
                } else {
                    (200, b"ready\n")
                };
                local_response(&mut out, status, Some("text/plain"), &[], body, keep)
            }
            (Method::Get, _) => {
                local_response(&mut out, 404, Some("text/plain"), &[], b"not found\n", keep)
            }
            _ => local_response(
                &mut out,
                405,
                Some("text/plain"),
                &[("Allow", "GET")],
                b"method not allowed\n",
                keep,
            ),
        }
        if conn.write_all(&out).await.is_err() || !keep {
            return;
        }
    }
}

/// An interception endpoint's answer into `out`; whether the connection stays open (not
/// after a body that could not be read whole).
async fn intercept(
    state: &Rc<ShardState>,
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
    (out, keep): (&mut Vec<u8>, bool),
) -> bool {
    let ((status, body), read) = crate::admin::intercept::serve(state, conn, head).await;
    let keep = keep && read;
    let body = format!("{body}\n");
    local_response(
        out,
        status,
        Some("application/json"),
        &[],
        body.as_bytes(),
        keep,
    );
    keep
}

/// Whether a request may use the admin API: always without a token configured; with one, the
/// probes (`/health`, `/ready`) stay open and everything else must carry it.
fn authorized(token: Option<&AdminToken>, head: &RequestHead) -> bool {
    let Some(token) = token else {
        return true;
    };
    matches!(head.path(), b"/health" | b"/ready")
        || head
            .header("authorization")
            .is_some_and(|value| token.accepts(value))
}
