//! Cross-shard channels: one bounded SPSC channel per ordered pair of shards, with fixed ids.
//!
//! Not here: what travels (the payload `T` is the caller's, e.g. a connection fd plus the bytes
//! already read), routing decisions ([`crate::ring`]), serving a local target (the caller handles
//! it directly; sending to yourself is refused).
//! Hot path: [`ConnectedMesh::try_send_to`] allocates nothing and never waits;
//! [`ConnectedMesh::send_to`] awaits only for room in the bounded channel.
//!
//! # Why not glommio's `channel_mesh`
//! glommio's `MeshBuilder` numbers peers in the order they `join()`, so a shard's mesh id need
//! not match its [`ShardId`] or its place on the ring. Here the matrix is built up front on the
//! launching thread, so endpoint `i` is shard `i`, always.
//!
//! # Lifecycle
//! 1. [`Mesh::build`] on the launching thread returns one `Send` [`MeshEndpoint`] per shard.
//! 2. Move endpoint `i` into shard `i` ([`crate::Runtime::start_each`]) and call
//!    [`MeshEndpoint::connect`] there; it returns once every peer has connected its halves
//!    (or dropped them).
//! 3. Receive with [`ConnectedMesh::spawn_dispatch`]: one local task per peer calls your
//!    handler with `(from, message)`, in order per peer. The handler is synchronous; spawn a
//!    task from it for long work, so that the channel keeps draining. For custom receive loops
//!    (e.g. selecting against shutdown) take the raw receivers with
//!    [`ConnectedMesh::take_receivers`] instead; either way receivers are handed out once.
//! 4. Send with [`ConnectedMesh::send_to`] / [`ConnectedMesh::try_send_to`]; a failure gives
//!    the payload back so the caller can still answer its client.
//! 5. [`ConnectedMesh::close`] (or dropping the mesh) ends peers' receive loops once drained.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use glommio::{GlommioError, ResourceType, Task};

use crate::ShardId;

/// Builder of the channel matrix; see the module docs.
#[derive(Debug)]
pub struct Mesh<T> {
    _payload: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Mesh<T> {
    /// Builds channels for every ordered pair `(i, j)`, `i != j`, of `shard_count` shards and
    /// returns the endpoints in shard order. Cold: allocates `shard_count * (shard_count - 1)`
    /// channels.
    ///
    /// `capacity` is how many messages each channel buffers before senders wait; glommio rounds
    /// it up to a power of two (0 becomes 1).
    pub fn build(shard_count: usize, capacity: usize) -> Vec<MeshEndpoint<T>> {
        let mut endpoints: Vec<MeshEndpoint<T>> = (0..shard_count)
            .map(|id| MeshEndpoint {
                id: ShardId(id),
                senders: (0..shard_count).map(|_| None).collect(),
                receivers: (0..shard_count).map(|_| None).collect(),
            })
            .collect();
        for from in 0..shard_count {
            for to in (0..shard_count).filter(|&to| to != from) {
                let (sender, receiver) = shared_channel::new_bounded(capacity);
                if let Some(slot) = endpoints.get_mut(from).and_then(|e| e.senders.get_mut(to)) {
                    *slot = Some(sender);
                }
                if let Some(slot) = endpoints
                    .get_mut(to)
                    .and_then(|e| e.receivers.get_mut(from))
                {
                    *slot = Some(receiver);
                }
            }
        }
        endpoints
    }
}

/// One shard's unconnected halves of the mesh. `Send`: build on the launching thread, move to
/// the shard, then [`connect`](MeshEndpoint::connect) there.
#[derive(Debug)]
pub struct MeshEndpoint<T: Send> {
    id: ShardId,
    /// Indexed by destination shard; `None` at this shard's own index.
    senders: Vec<Option<SharedSender<T>>>,
    /// Indexed by source shard; `None` at this shard's own index.
    receivers: Vec<Option<SharedReceiver<T>>>,
}

impl<T: Send + 'static> MeshEndpoint<T> {
    /// The shard this endpoint belongs to.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// Connects every half on the current shard and waits until each peer has connected its
    /// side (or dropped its endpoint, in which case that channel is closed).
    ///
    /// Must run inside the shard's glommio executor. All halves are connected concurrently,
    /// because connecting one channel waits for the peer, which may be connecting another.
    pub async fn connect(self) -> ConnectedMesh<T> {
        let MeshEndpoint {
            id,
            senders,
            receivers,
        } = self;
        let sender_tasks: Vec<Option<Task<ConnectedSender<T>>>> = senders
            .into_iter()
            .map(|half| half.map(|half| glommio::spawn_local(half.connect())))
            .collect();
        let receiver_tasks: Vec<(ShardId, Task<ConnectedReceiver<T>>)> = receivers
            .into_iter()
            .enumerate()
            .filter_map(|(from, half)| {
                half.map(|half| (ShardId(from), glommio::spawn_local(half.connect())))
            })
            .collect();
        let mut connected_senders = Vec::with_capacity(sender_tasks.len());
        for task in sender_tasks {
            connected_senders.push(match task {
                Some(task) => Some(task.await),
                None => None,
            });
        }
        let mut connected_receivers = Vec::with_capacity(receiver_tasks.len());
        for (from, task) in receiver_tasks {
            connected_receivers.push((from, task.await));
        }
        ConnectedMesh {
            id,
            senders: connected_senders,
            receivers: RefCell::new(connected_receivers),
        }
    }
}

/// One shard's connected mesh: send to any peer, receive from all. Not `Send`; share it on its
/// shard through an `Rc`.
#[derive(Debug)]
pub struct ConnectedMesh<T: Send> {
    id: ShardId,
    /// Indexed by destination shard; `None` at this shard's own index.
    senders: Vec<Option<ConnectedSender<T>>>,
    /// Handed out once, by `take_receivers` or `spawn_dispatch`.
    receivers: RefCell<Vec<(ShardId, ConnectedReceiver<T>)>>,
}

impl<T: Send + 'static> ConnectedMesh<T> {
    /// This shard's id.
    pub fn id(&self) -> ShardId {
        self.id
    }

    /// How many shards the mesh connects (including this one).
    pub fn shard_count(&self) -> usize {
        self.senders.len()
    }

    fn sender(&self, to: ShardId) -> Option<&ConnectedSender<T>> {
        self.senders.get(to.0).and_then(Option::as_ref)
    }

    /// Sends `message` to shard `to`, waiting while its channel is full.
    ///
    /// # Errors
    /// Gives `message` back when `to` is this shard or out of range (handle local work
    /// directly), or when the channel is closed (the peer ended).
    pub async fn send_to(&self, to: ShardId, message: T) -> Result<(), T> {
        match self.sender(to) {
            Some(sender) => sender
                .send(message)
                .await
                .map_err(|err| payload_of(err).into_inner()),
            None => Err(message),
        }
    }

    /// Sends `message` to shard `to` if its channel has room right now.
    ///
    /// # Errors
    /// [`TrySendError`] says why and holds `message`.
    pub fn try_send_to(&self, to: ShardId, message: T) -> Result<(), TrySendError<T>> {
        match self.sender(to) {
            Some(sender) => sender.try_send(message).map_err(payload_of),
            None => Err(TrySendError::NotAPeer(message)),
        }
    }

    /// Takes the receivers from every peer, tagged with the sending shard, in shard order.
    /// The first call gets them all; later calls (and `spawn_dispatch` after this) get none.
    pub fn take_receivers(&self) -> Vec<(ShardId, ConnectedReceiver<T>)> {
        std::mem::take(&mut *self.receivers.borrow_mut())
    }

    /// Spawns one local task per peer that calls `handler(from, message)` for every message,
    /// until that peer closes its side. Takes the receivers (see
    /// [`take_receivers`](ConnectedMesh::take_receivers)); a second call dispatches nothing.
    ///
    /// Must run inside the shard's glommio executor.
    pub fn spawn_dispatch<H>(&self, handler: H) -> Dispatch
    where
        H: Fn(ShardId, T) + 'static,
    {
        let handler = Rc::new(handler);
        let tasks = self
            .take_receivers()
            .into_iter()
            .map(|(from, receiver)| {
                let handler = Rc::clone(&handler);
                glommio::spawn_local(async move {
                    while let Some(message) = receiver.recv().await {
                        handler(from, message);
                    }
                })
            })
            .collect();
        Dispatch { tasks }
    }

    /// Closes this shard's sending side of every channel: peers' receive loops end once they
    /// have drained what was sent. Sends after this fail with the payload returned.
    pub fn close(&self) {
        for sender in self.senders.iter().flatten() {
            sender.close();
        }
    }
}

/// Recovers the payload from a failed glommio channel send.
fn payload_of<T>(err: GlommioError<T>) -> TrySendError<T> {
    match err {
        GlommioError::WouldBlock(ResourceType::Channel(message)) => TrySendError::Full(message),
        GlommioError::Closed(ResourceType::Channel(message))
        | GlommioError::CanNotBeClosed(ResourceType::Channel(message), _) => {
            TrySendError::Closed(message)
        }
        // glommio 0.9's `ConnectedSender::{try_send, send}` fail only with `Closed` or
        // `WouldBlock` carrying the item (shared_channel.rs); no other error exists to hand
        // back, and without the item there is nothing to return.
        _ => unreachable!("glommio channel send failed without its payload"),
    }
}

/// The receive loops started by [`ConnectedMesh::spawn_dispatch`].
#[derive(Debug)]
#[must_use = "dropping a Dispatch cancels its receive loops; call detach() or join().await"]
pub struct Dispatch {
    tasks: Vec<Task<()>>,
}

impl Dispatch {
    /// How many peers are being received from.
    pub fn peer_count(&self) -> usize {
        self.tasks.len()
    }

    /// Waits until every peer has closed its side and all its messages were handled.
    pub async fn join(self) {
        for task in self.tasks {
            task.await;
        }
    }

    /// Lets the receive loops run in the background for the rest of the shard's life.
    pub fn detach(self) {
        for task in self.tasks {
            // The join handle is not needed: a loop ends when its peer closes.
            drop(task.detach());
        }
    }
}

/// Why [`ConnectedMesh::try_send_to`] failed; every variant gives the message back.
pub enum TrySendError<T> {
    /// The channel to that shard is full right now.
    Full(T),
    /// The channel is closed: the peer ended or closed its side.
    Closed(T),
    /// The target is this shard or not a shard of this mesh; handle local work directly.
    NotAPeer(T),
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(message)
            | TrySendError::Closed(message)
            | TrySendError::NotAPeer(message) => message,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            TrySendError::Full(_) => "Full",
            TrySendError::Closed(_) => "Closed",
            TrySendError::NotAPeer(_) => "NotAPeer",
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may be large or not Debug; the kind is what matters.
        write!(f, "TrySendError::{}(..)", self.kind())
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("mesh channel is full"),
            TrySendError::Closed(_) => f.write_str("mesh channel is closed"),
            TrySendError::NotAPeer(_) => f.write_str("target is not a peer shard"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

#[cfg(test)]
#[path = "mesh_tests.rs"]
mod tests;
