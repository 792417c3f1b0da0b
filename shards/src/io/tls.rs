//! TLS over a [`NetStream`]: the handshakes (client and server) that turn a connected stream
//! into a TLS stream
//! (rustls through futures-rustls, over the AsyncRead/AsyncWrite the HTTP code already uses),
//! so every caller keeps its `NetStream` and works unchanged on either I/O path.
//!
//! Not here: building the rustls configurations (the application builds one per shard from its
//! config snapshot), the deadline (the caller bounds the handshake).

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};

use super::stream::{Inner, NetStream};

impl NetStream {
    /// Runs a TLS client handshake over this connected stream and returns the TLS stream:
    /// `name` is sent as SNI (unless it is an IP address) and checked against the server's
    /// certificate by `config`'s verifier.
    ///
    /// # Errors
    /// The handshake failed: the socket's error, or rustls's (certificate not trusted, name
    /// mismatch, protocol alert) as `InvalidData` with the rustls error inside.
    pub async fn connect_tls(
        self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<NetStream> {
        let stream = futures_rustls::TlsConnector::from(config)
            .connect(name, self)
            .await?;
        Ok(NetStream(Inner::Tls(Box::new(stream.into()))))
    }

    /// Runs a TLS server handshake over this accepted stream and returns the TLS stream.
    ///
    /// # Errors
    /// The handshake failed: the socket's error, or rustls's (no common protocol version or
    /// cipher suite, a client alert, not TLS at all) as `InvalidData`.
    pub async fn accept_tls(self, config: Arc<rustls::ServerConfig>) -> io::Result<NetStream> {
        let stream = futures_rustls::TlsAcceptor::from(config)
            .accept(self)
            .await?;
        Ok(NetStream(Inner::Tls(Box::new(stream.into()))))
    }

    /// The end-entity certificate the peer presented in the handshake: on a server stream whose
    /// configuration asks for client certificates (mTLS), the client's, already verified by
    /// that configuration's verifier. `None` on a plain stream or without a certificate.
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        match &self.0 {
            Inner::Tls(s) => s.get_ref().1.peer_certificates()?.first(),
            _ => None,
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        matches!(self.0, Inner::Tls(_))
    }
}
