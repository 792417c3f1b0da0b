//! Forward mode against an HTTP target: reads client messages, sends each on its own task (at
//! most [`MAX_IN_FLIGHT`] at once), and at the end drains, stops the GET stream and DELETEs the
//! session.
//!
//! Not here: what one POST does (http_target.rs), streams (http_stream.rs).

use std::rc::Rc;
use std::time::Duration;

use futures_lite::future::or;
use glommio::sync::{Gate, Semaphore};

use shards::latch::Latch;

use super::http_target::HttpTarget;
use super::input::{ClientInput, Next};
use super::output::Output;
use super::{ForwardExit, SIGNAL_DRAIN};

/// Client messages in flight at once; past this, reading stdin waits (backpressure on the
/// client instead of unbounded tasks).
const MAX_IN_FLIGHT: u64 = 256;

/// Runs until stdin closes or a signal arrives; in-flight requests get `drain_limit` (after a
/// signal: [`SIGNAL_DRAIN`]) to finish.
pub(crate) async fn run(
    target: Rc<HttpTarget>,
    mut input: ClientInput,
    out: Rc<Output>,
    stop: Rc<Latch>,
    drain_limit: Duration,
) -> ForwardExit {
    let gate = Gate::new();
    let slots = Rc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut initializing: Option<Rc<Latch>> = None;
    loop {
        let next = or(async { Some(input.next(&out).await) }, async {
            stop.wait().await;
            None
        })
        .await;
        let msg = match next {
            Some(Next::Message(msg)) => msg,
            Some(Next::Eof) => {
                tracing::info!("stdin closed: finishing in-flight requests");
                break;
            }
            Some(Next::Broken(error)) => {
                tracing::warn!(%error, "stdin is unusable; stopping");
                break;
            }
            None => break,
        };
        let permit = or(async { slots.acquire_static_permit(1).await.ok() }, async {
            stop.wait().await;
            None
        })
        .await;
        let Some(permit) = permit else { break };
        // Messages sent while `initialize` is in flight wait for its answer: they need the
        // session id it brings (a client that pipelines must not get "missing session").
        if let Some(init) = &initializing {
            or(init.wait(), stop.wait()).await;
        }
        let done = msg.initialize.then(|| Rc::new(Latch::default()));
        initializing.clone_from(&done);
        let task = target.clone();
        let spawned = gate.spawn(async move {
            task.post(msg).await;
            drop(permit);
            if let Some(done) = done {
                done.fire();
            }
        });
        match spawned {
            Ok(task) => {
                task.detach();
            }
            Err(_) => break,
        }
    }
    let limit = if stop.is_fired() {
        SIGNAL_DRAIN
    } else {
        drain_limit
    };
    if super::drain(limit, &stop, gate.close()).await.is_none() {
        tracing::warn!(?limit, "in-flight requests did not finish in time");
    }
    stop.fire();
    target.end_session().await;
    ForwardExit::Clean
}
