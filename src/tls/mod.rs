//! rustls configurations built from the config: the client side of `https://` upstreams
//! ([`UpstreamTls`]: trust roots, verifier, server name) and TLS listeners' server side
//! (server.rs). Each shard builds its own from its config snapshot, so no `Arc` is shared
//! across shards on the request path.
//!
//! Not here: the handshake itself (`shards::io::NetStream::connect_tls`), reading and checking
//! the settings (config/upstream_tls.rs), the connect deadline (the upstream pool).

mod insecure;
mod model;
mod roots;
mod server;
mod subject;

pub use model::{ListenerTls, UpstreamTrust};
pub use roots::{default_roots, RootsSource};
pub use server::{client_verifier, server_config};
pub use subject::{cert_names, CertNames, SubjectError, MAX_SUBJECT};

use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

/// Why a TLS configuration could not be built (config load reports it; shards build the same
/// configurations again and so do not meet it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsSetupError {
    /// An upstream host that is neither a DNS name nor an IP address.
    #[error("{0:?} is not a name a TLS certificate can carry")]
    ServerName(String),
    /// rustls refused a certificate, a key or the protocol versions.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    /// rustls refused the client-certificate CAs of a listener.
    #[error("{0}")]
    ClientCas(rustls::server::VerifierBuilderError),
}

/// What one shard needs to open TLS connections to one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// Protocol versions, cipher suites, verifier and roots.
    pub config: Arc<ClientConfig>,
    /// SNI and the name the certificate must carry: the URL's host.
    pub name: ServerName<'static>,
}

impl UpstreamTls {
    /// The TLS setup for an upstream URL's `host` checked against `trust`.
    ///
    /// # Errors
    /// The host is not a name a certificate can carry, or rustls refuses the configuration;
    /// both are checked at config load, so a shard does not see them.
    pub fn new(host: &str, trust: &UpstreamTrust) -> Result<UpstreamTls, TlsSetupError> {
        Ok(UpstreamTls {
            config: Arc::new(client_config(trust)?),
            name: server_name(host)?,
        })
    }
}

/// The name a certificate must carry for `host` (an upstream URL's host): an IP literal
/// (brackets stripped; rustls then sends no SNI and checks the IP SAN) or a DNS name.
///
/// # Errors
/// `host` is neither.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsSetupError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(|_| TlsSetupError::ServerName(host.to_owned()))
}

/// A client configuration trusting `trust`, with rustls's safe defaults (TLS 1.2 and 1.3),
/// the ring provider and ALPN `http/1.1` (upstreams speak HTTP/1.1).
///
/// # Errors
/// rustls refuses the provider or the roots (none usable in a CA file).
pub fn client_config(trust: &UpstreamTrust) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = match trust {
        UpstreamTrust::DefaultRoots => builder
            .with_root_certificates(default_roots().0.clone())
            .with_no_client_auth(),
        UpstreamTrust::CaFile { certs, .. } => {
            let mut roots = RootCertStore::empty();
            for cert in certs {
                roots.add(cert.clone())?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        UpstreamTrust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::AcceptAny::new(provider)))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The crypto provider every TLS configuration uses: ring, which builds with the Rust toolchain alone (aws-lc-rs, rustls's
/// default, needs cmake and a C build).
#[allow(
    deprecated,
    reason = "rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange; \
              classical X25519/P-256 is what ring offers and what this build chose"
)]
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
