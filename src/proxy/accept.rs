//! The accept loop every listener uses (MCP, admin, demo): accept until the shutdown latch
//! fires, back off briefly when accept fails (EMFILE and friends) instead of spinning.
//!
//! Not here: what happens to a connection (the caller's `on_conn`).

use std::time::Duration;

use shards::io::{NetListener, NetStream};

use shards::latch::Latch;

/// Pause after a failed accept, so fd exhaustion does not turn into a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Accepts on `listener` until `stop` fires, handing each connection (Nagle off) to `on_conn`.
pub async fn accept_until(
    mut listener: NetListener,
    stop: &Latch,
    role: &'static str,
    mut on_conn: impl FnMut(NetStream),
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        })
        .await;
        match accepted {
            None => break,
            // Nagle is off already (NetListener::accept).
            Some(Ok(stream)) => on_conn(stream),
            Some(Err(e)) => {
                tracing::warn!(listener = role, error = %e, "accept failed");
                glommio::timer::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
