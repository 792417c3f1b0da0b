//! What a test client's bytes travel over: plain TCP, or TLS (a rustls client session over
//! TCP), so the request-path client (client.rs) speaks HTTP/1.1 the same way over both,
//! keep-alive and SSE streams included.
//!
//! Not here: HTTP (client.rs), certificates (tls_peer.rs).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::pki_types::ServerName;

/// A client connection's transport.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (server name 127.0.0.1).
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Transport {
    /// A TLS session with the server at `addr` over `tcp` (connected to it), as `client`
    /// configures it; the handshake runs with the first write.
    pub(crate) fn tls(tcp: TcpStream, client: Arc<rustls::ClientConfig>) -> Transport {
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(client, name).unwrap();
        Transport::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
    }

    /// The TCP socket underneath (for timeouts).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &tls.sock,
        }
    }

    /// The address of the server's end.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.tcp().peer_addr().unwrap()
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buf),
            Transport::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write(buf),
            // Each write goes out at once, as on a TCP socket.
            Transport::Tls(tls) => {
                let n = tls.write(buf)?;
                tls.flush()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Plain(tcp) => tcp.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}
