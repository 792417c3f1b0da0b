//! Deadline helper: race a future against a glommio timer.
//!
//! Not here: which timeout applies where (the callers decide).
//! Hot path: the future is polled once before any timer exists, so the common case (data
//! already buffered, a write the socket takes at once) costs no timer at all.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// `Some(output)` if `fut` finishes within `limit`, `None` if the timer wins.
pub async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    if let Some(done) = futures_lite::future::poll_once(fut.as_mut()).await {
        return Some(done);
    }
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(limit).await;
        None
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_futures_win_and_pending_ones_time_out() {
        glommio::LocalExecutorBuilder::default()
            .io_memory(512 * 1024)
            .spawn(|| async {
                assert_eq!(within(Duration::from_millis(1), async { 7 }).await, Some(7));
                let never = std::future::pending::<()>();
                assert_eq!(within(Duration::from_millis(5), never).await, None);
                let later = async {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                    3
                };
                assert_eq!(within(Duration::from_secs(5), later).await, Some(3));
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
