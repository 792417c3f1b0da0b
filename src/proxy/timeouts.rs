//! Deadline helper: race a future against a glommio timer.
//!
//! Not here: which timeout applies where (the callers decide, from config).

use std::future::Future;
use std::time::Duration;

/// `Some(output)` if `fut` finishes within `limit`, `None` if the timer wins.
pub async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(limit).await;
        None
    })
    .await
}
