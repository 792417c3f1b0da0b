//! [`keep_fresh`]: the loop of a shard's background refresh (an issuer's signing keys, an
//! upstream's access token): refresh, wait the interval the refresh asked for (after a failure:
//! a delay doubling from a first to a longest one), wake early when the refresh's own latch
//! fires (something found the result stale), end when the shard stops.
//!
//! Not here: what is refreshed (`auth::keys`, `credentials`).

use std::rc::Rc;
use std::time::Duration;

use shards::latch::Latch;

/// Runs `refresh` until `stop` fires. Each round returns the time until the next round
/// (`Err`: it failed, retry after `retry.0`, doubling up to `retry.1`) and, optionally, a latch
/// that ends the wait early.
pub(crate) async fn keep_fresh<R>(stop: &Latch, retry: (Duration, Duration), mut refresh: R)
where
    R: AsyncFnMut() -> (Result<Duration, ()>, Option<Rc<Latch>>),
{
    let (first, longest) = retry;
    let mut next_retry = first;
    loop {
        let (result, wake) = refresh().await;
        let wait = match result {
            Ok(interval) => {
                next_retry = first;
                interval
            }
            Err(()) => {
                let wait = next_retry;
                next_retry = (next_retry * 2).min(longest);
                wait
            }
        };
        let woken = futures_lite::future::or(
            async {
                glommio::timer::sleep(wait).await;
                false
            },
            async {
                match &wake {
                    Some(wake) => futures_lite::future::or(stop.wait(), wake.wait()).await,
                    None => stop.wait().await,
                }
                true
            },
        )
        .await;
        if woken && stop.is_fired() {
            return;
        }
    }
}
