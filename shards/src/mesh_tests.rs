//! Tests for the mesh: real executors exchanging messages over every ordered pair.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::executor::tests::test_spec;
use crate::Runtime;

const MESSAGES: usize = 50;

type Message = (usize, usize, String);

fn message(from: usize, to: usize, seq: usize) -> Message {
    (from, seq, format!("{from}->{to}#{seq}"))
}

/// Every shard sends `MESSAGES` numbered messages to every peer through channels smaller than
/// that (so senders wait on receivers), then checks that it got exactly the expected messages
/// from each peer, in order.
fn exchange_all_pairs(shard_count: usize) {
    let endpoints = Mesh::<Message>::build(shard_count, 4);
    let checked = Arc::new(AtomicUsize::new(0));
    let checked_in = checked.clone();
    let runtime = Runtime::start_each(test_spec(shard_count), endpoints, move |ctx, endpoint| {
        let checked = checked_in.clone();
        async move {
            assert_eq!(endpoint.id(), ctx.id);
            let mesh = endpoint.connect().await;
            assert_eq!(mesh.shard_count(), shard_count);
            let received = Rc::new(RefCell::new(vec![Vec::new(); shard_count]));
            let sink = received.clone();
            let dispatch =
                mesh.spawn_dispatch(move |from, msg| sink.borrow_mut()[from.0].push(msg));
            assert_eq!(dispatch.peer_count(), shard_count - 1);
            let me = ctx.id.0;
            for seq in 0..MESSAGES {
                for to in (0..shard_count).filter(|&to| to != me) {
                    mesh.send_to(ShardId(to), message(me, to, seq))
                        .await
                        .unwrap();
                }
            }
            mesh.close();
            dispatch.join().await;
            let received = received.borrow();
            for (from, got) in received.iter().enumerate() {
                let expected: Vec<Message> = if from == me {
                    Vec::new()
                } else {
                    (0..MESSAGES).map(|seq| message(from, me, seq)).collect()
                };
                assert_eq!(got, &expected, "shard {me} from shard {from}");
            }
            checked.fetch_add(1, Ordering::SeqCst);
        }
    })
    .unwrap();
    runtime.join().unwrap();
    assert_eq!(checked.load(Ordering::SeqCst), shard_count);
}

#[test]
fn two_shards_exchange_both_ways() {
    exchange_all_pairs(2);
}

#[test]
fn three_shards_exchange_all_pairs() {
    exchange_all_pairs(3);
}

#[test]
fn build_wires_each_pair_once() {
    let endpoints = Mesh::<u8>::build(3, 2);
    assert_eq!(endpoints.len(), 3);
    for (index, endpoint) in endpoints.iter().enumerate() {
        assert_eq!(endpoint.id(), ShardId(index));
        assert!(endpoint.senders[index].is_none());
        assert!(endpoint.receivers[index].is_none());
        assert_eq!(endpoint.senders.iter().flatten().count(), 2);
        assert_eq!(endpoint.receivers.iter().flatten().count(), 2);
    }
}

/// Shard 0 fills its channel to shard 1 before shard 1 reads (a control mesh says when), then
/// sends again after shard 1 dropped its mesh.
#[test]
fn try_send_reports_full_not_a_peer_and_closed() {
    let data = Mesh::<u32>::build(2, 4);
    let control = Mesh::<()>::build(2, 1);
    let inputs: Vec<_> = data.into_iter().zip(control).collect();
    let finished = Arc::new(AtomicUsize::new(0));
    let finished_in = finished.clone();
    let runtime = Runtime::start_each(test_spec(2), inputs, move |ctx, (data, control)| {
        let finished = finished_in.clone();
        async move {
            let data = data.connect().await;
            let control = control.connect().await;
            let (_, signal) = control.take_receivers().pop().unwrap();
            let peer = ShardId(1 - ctx.id.0);
            if ctx.id == ShardId(0) {
                assert!(matches!(
                    data.try_send_to(ShardId(0), 1),
                    Err(TrySendError::NotAPeer(1))
                ));
                assert!(matches!(
                    data.try_send_to(ShardId(9), 2),
                    Err(TrySendError::NotAPeer(2))
                ));
                assert_eq!(data.send_to(ShardId(0), 3).await, Err(3));
                for n in 0..4 {
                    data.try_send_to(peer, n).unwrap();
                }
                let full = data.try_send_to(peer, 4).unwrap_err();
                assert_eq!(full.to_string(), "mesh channel is full");
                assert!(matches!(full, TrySendError::Full(4)));
                control.send_to(peer, ()).await.unwrap();
                // Shard 1 signals after dropping its data mesh.
                assert_eq!(signal.recv().await, Some(()));
                assert!(matches!(
                    data.try_send_to(peer, 5),
                    Err(TrySendError::Closed(5))
                ));
                assert_eq!(data.send_to(peer, 6).await, Err(6));
            } else {
                assert_eq!(signal.recv().await, Some(()));
                let (from, receiver) = data.take_receivers().pop().unwrap();
                assert_eq!(from, peer);
                for n in 0..4 {
                    assert_eq!(receiver.recv().await, Some(n));
                }
                assert!(data.take_receivers().is_empty());
                drop(receiver);
                drop(data);
                control.send_to(peer, ()).await.unwrap();
            }
            finished.fetch_add(1, Ordering::SeqCst);
        }
    })
    .unwrap();
    runtime.join().unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 2);
}

/// An endpoint that never reaches a shard must not stall the others' `connect`, and sends to
/// it fail with the payload.
#[test]
fn dropped_endpoint_closes_its_channels() {
    let mut endpoints = Mesh::<u32>::build(3, 2);
    drop(endpoints.pop());
    let finished = Arc::new(AtomicUsize::new(0));
    let finished_in = finished.clone();
    let runtime = Runtime::start_each(test_spec(2), endpoints, move |ctx, endpoint| {
        let finished = finished_in.clone();
        async move {
            let mesh = endpoint.connect().await;
            assert_eq!(mesh.send_to(ShardId(2), 7).await, Err(7));
            let peer = ShardId(1 - ctx.id.0);
            let dispatch = mesh.spawn_dispatch(|_, _| {});
            mesh.send_to(peer, 8).await.unwrap();
            mesh.close();
            dispatch.join().await;
            finished.fetch_add(1, Ordering::SeqCst);
        }
    })
    .unwrap();
    runtime.join().unwrap();
    assert_eq!(finished.load(Ordering::SeqCst), 2);
}
