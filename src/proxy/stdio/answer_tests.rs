//! Sizes of the answer writers' futures: every stdio and translated answer's future holds
//! them (answer_call, the l2m sinks, drive/notify/listen, each connection task).

use std::future::Future;

/// The size of the future `f` returns, without calling it (layout does not depend on the
/// lifetimes the arguments would have).
fn returned_size<F, A, B, C, D, Fut>(_f: F) -> usize
where
    F: FnOnce(A, B, C, D) -> Fut,
    Fut: Future,
{
    std::mem::size_of::<Fut>()
}

/// [`returned_size`] of a five-argument function.
fn returned_size5<F, A, B, C, D, E, Fut>(_f: F) -> usize
where
    F: FnOnce(A, B, C, D, E) -> Fut,
    Fut: Future,
{
    std::mem::size_of::<Fut>()
}

/// A held message's wait (the pause table, the timeout, the client watch: about 800 bytes in
/// a debug build) is boxed out of line: inline, it made `SseOut::event`'s future 1160 bytes,
/// `event_live`'s 1112 and `write_json`'s 1064 (232 and 240 before response holds), in every
/// answer, rule or no rule; boxed, 344, 296 and 272.
#[test]
fn a_hold_does_not_size_every_answer() {
    let event = returned_size(super::SseOut::event);
    let live = returned_size5(super::SseOut::event_live);
    let json = returned_size(super::write_json);
    assert!(event <= 400, "SseOut::event's future: {event} bytes");
    assert!(live <= 400, "SseOut::event_live's future: {live} bytes");
    assert!(json <= 320, "write_json's future: {json} bytes");
}
