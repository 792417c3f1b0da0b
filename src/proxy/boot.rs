//! What a shard gets at start ([`ShardBoot`]: its mesh end, its stop signal, its readiness
//! report) and the wait for that stop signal; shared by the proxy and the standalone demo shards.
//!
//! Not here: starting the shards or what each one serves (the app module).

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::mpsc;

use futures_lite::AsyncReadExt;
use shards::mesh::MeshEndpoint;

use super::state::MeshMsg;

/// Everything a shard gets at start, moved onto its thread.
#[derive(Debug)]
pub struct ShardBoot {
    /// This shard's end of the mesh.
    pub mesh: MeshEndpoint<MeshMsg>,
    /// Becomes readable when the process is told to stop.
    pub shutdown: OwnedFd,
    /// Where the shard reports that its listeners are bound (or why not).
    pub ready: mpsc::Sender<Result<(), BindError>>,
}

/// A listener a shard could not bind.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address.
    pub addr: std::net::SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// The byte the launcher sends to ask for a reload (SIGHUP); any other byte means stop.
pub const RELOAD: u8 = b'h';

/// Resolves when the launcher signals stop (or dies); runs `reload` for every reload byte
/// before that.
pub async fn wait_for_signal(fd: OwnedFd, reload: impl Fn()) {
    // SAFETY: the fd is one end of a socketpair made for this shard and owned by us.
    #[allow(unsafe_code, reason = "wrapping our own socketpair end")]
    let mut stream = unsafe { glommio::net::UnixStream::from_raw_fd(fd.into_raw_fd()) };
    let mut byte = [0u8; 1];
    // Any other outcome (another byte, EOF because the launcher died, an error) means stop.
    while matches!(stream.read(&mut byte).await, Ok(1)) && byte[0] == RELOAD {
        reload();
    }
}
