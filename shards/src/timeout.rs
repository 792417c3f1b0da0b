//! Deadline helper: race a future against a glommio timer.
//!
//! Not here: which timeout applies where (the callers decide).
//! Hot path: the future is polled once before any timer exists, so the common case (data
//! already buffered, a write the socket takes at once) costs no timer at all. [`Within`] is a
//! struct, not an `async fn`: an `async fn` taking the future by value holds it twice (the
//! argument and the pinned local), and every request path awaits its I/O through this.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use glommio::timer::Timer;

/// `Some(output)` if `fut` finishes within `limit`, `None` if the timer wins.
pub fn within<F: Future>(limit: Duration, fut: F) -> Within<F> {
    Within {
        fut,
        limit,
        timer: None,
    }
}

pin_project_lite::pin_project! {
    /// The future [`within`] returns.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Within<F> {
        #[pin]
        fut: F,
        limit: Duration,
        // Made on the first poll that finds `fut` pending.
        timer: Option<Timer>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(done) = this.fut.poll(cx) {
            return Poll::Ready(Some(done));
        }
        let limit = *this.limit;
        let timer = this.timer.get_or_insert_with(|| Timer::new(limit));
        match Pin::new(timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
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
