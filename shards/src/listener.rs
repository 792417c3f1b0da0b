//! Per-shard listening sockets: every shard binds the same address with `SO_REUSEPORT` and the
//! kernel spreads incoming connections over them.
//!
//! Not here: accepting or serving (the application's accept loops).
//! Unlike glommio's `TcpListener::bind`, this also sets `SO_REUSEADDR`, so a restarted process
//! can bind while connections of its previous life sit in TIME_WAIT, and takes the backlog.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use glommio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog per shard: bursts of new connections queue here instead of being refused.
pub const DEFAULT_BACKLOG: i32 = 4096;

/// Binds `addr` with `SO_REUSEPORT` + `SO_REUSEADDR` and listens, as glommio's listener (the
/// admin and demo listeners; the MCP listeners go through `crate::io::ShardIo::bind`). Call on
/// the shard that will accept from it.
pub fn bind_reuseport(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    Ok(crate::uring::fds::glommio_listener(bind_socket(
        addr, backlog,
    )?))
}

/// Binds `addr` with `SO_REUSEPORT` + `SO_REUSEADDR` and listens: the socket, for either I/O
/// path.
pub fn bind_socket(addr: SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(OwnedFd::from(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_listeners_share_one_port() {
        glommio::LocalExecutorBuilder::default()
            .io_memory(512 * 1024)
            .spawn(|| async {
                let first = bind_reuseport("127.0.0.1:0".parse().unwrap(), 16).unwrap();
                let addr = first.local_addr().unwrap();
                let second = bind_reuseport(addr, 16).unwrap();
                assert_eq!(second.local_addr().unwrap(), addr);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
