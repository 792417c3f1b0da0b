//! The server side: a TLS listener's rustls configuration, built by each shard from its config
//! snapshot.
//!
//! Not here: reading the files (config/listener_tls.rs), the handshake (proxy/server.rs).

use std::sync::Arc;

use rustls::ServerConfig;

use crate::config::ListenerTls;

/// A server configuration presenting `tls`'s chain, rustls's safe defaults (TLS 1.2 and 1.3),
/// ALPN `http/1.1`, no client certificates.
///
/// # Errors
/// rustls refuses the key (unsupported type, or not the certificate's key).
pub fn server_config(tls: &ListenerTls) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(super::provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(tls.chain.clone(), tls.key())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
