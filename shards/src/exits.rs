//! How the launching thread learns that a shard ended or panicked, without trusting the shard to
//! clean up after itself.
//!
//! A glommio executor does not catch a task's panic: a panic in any task (the shard's main
//! future or anything it spawned) unwinds the whole executor thread, and glommio's own
//! `catch_unwind` around wakers swallows some panics (logging them through `log`), leaving the
//! shard running with a task that will never be woken. Neither can be left to a drop guard
//! inside the shard's future: unwinding may leak that future (a task kept alive only by its own
//! wakers), or block or abort in a destructor. So:
//!
//! - a process-wide panic hook (installed once, chained after the previous hook, which still
//!   prints the message and location) sends [`Exit::Panicked`] the moment a shard thread panics,
//!   caught or not, before any unwinding;
//! - a thread-local [`ExitNotice`] sends [`Exit::Ended`] from its destructor when the shard
//!   thread itself ends (thread-local destructors run after unwinding too), or, when the shard
//!   never started its executor, when the closure holding it is dropped.
//!
//! Not here: what the launcher does about it ([`crate::Runtime`]).

use std::any::Any;
use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::{mpsc, Once};

/// What a shard tells the launcher.
#[derive(Debug)]
pub(crate) enum Exit {
    /// The shard's thread ended (or never ran its executor): joining it will not block long.
    Ended(usize),
    /// The shard's thread panicked; its thread may still be unwinding, or be stuck.
    Panicked {
        /// Index of the shard.
        shard: usize,
        /// The panic payload's text.
        message: String,
    },
}

/// Sends [`Exit::Ended`] for its shard when dropped.
#[derive(Debug)]
pub(crate) struct ExitNotice {
    shard: usize,
    exits: mpsc::Sender<Exit>,
}

impl ExitNotice {
    pub(crate) fn new(shard: usize, exits: mpsc::Sender<Exit>) -> Self {
        Self { shard, exits }
    }
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        // The receiver is gone only when the Runtime was dropped; nobody is waiting then.
        let _ = self.exits.send(Exit::Ended(self.shard));
    }
}

thread_local! {
    /// Set on a shard thread once its executor runs: the shard this thread is.
    static SHARD: RefCell<Option<ExitNotice>> = const { RefCell::new(None) };
}

/// Makes the calling thread a shard thread: from now on its panics are reported at once, and
/// its end sends [`Exit::Ended`].
pub(crate) fn adopt(notice: ExitNotice) {
    install_hook();
    SHARD.with(|shard| *shard.borrow_mut() = Some(notice));
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            report(info);
        }));
    });
}

/// Runs inside the panic hook: must not panic or block.
fn report(info: &PanicHookInfo<'_>) {
    // `try_with`: the hook may run during thread-local destruction; `try_borrow`: a panic while
    // the slot is being set.
    let _ = SHARD.try_with(|shard| {
        if let Ok(shard) = shard.try_borrow() {
            if let Some(notice) = shard.as_ref() {
                let _ = notice.exits.send(Exit::Panicked {
                    shard: notice.shard,
                    message: panic_message(info.payload()),
                });
            }
        }
    });
}

/// The text of a panic payload: `panic!` produces `&str` or `String`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        String::from("<non-string panic payload>")
    }
}
