//! The server side: a TLS listener's rustls configuration, built by each shard from its config
//! snapshot.
//!
//! Not here: reading the files (config/listener_tls.rs), the handshake (proxy/server.rs).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::ListenerTls;

use super::TlsSetupError;

/// A server configuration presenting `tls`'s chain, rustls's safe defaults (TLS 1.2 and 1.3),
/// ALPN `http/1.1`; with `client_ca`, clients must show a certificate chaining to one of its
/// CAs (mTLS), otherwise none is asked for.
///
/// # Errors
/// rustls refuses the key (unsupported type, or not the certificate's key) or the client CAs.
pub fn server_config(tls: &ListenerTls) -> Result<ServerConfig, TlsSetupError> {
    let provider = Arc::new(super::provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some((_, cas)) => builder.with_client_cert_verifier(client_verifier(cas, provider)?),
    };
    let mut config = builder.with_single_cert(tls.chain.clone(), tls.key())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A verifier accepting client certificates that chain to one of `cas`.
///
/// # Errors
/// rustls refuses a CA certificate, or there is none.
pub fn client_verifier(
    cas: &[CertificateDer<'static>],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(ca.clone())?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(TlsSetupError::ClientCas)
}
