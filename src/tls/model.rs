//! The TLS parts of the resolved configuration: what an `https://` upstream's certificate must
//! chain to ([`UpstreamTrust`]) and a TLS listener's certificate, key and client CAs
//! ([`ListenerTls`]), all read from their files at load.
//!
//! Here, not in config, so that `tls` needs nothing from `config` (config builds on it).
//! Not here: reading and checking them (config/upstream_tls.rs, config/listener_tls.rs), the
//! rustls configurations built from them (mod.rs, server.rs).

use std::path::PathBuf;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What an `https://` upstream's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTrust {
    /// The system's CA store, or Mozilla's roots compiled in when it has none (the default;
    /// [`super::default_roots`]).
    DefaultRoots,
    /// The CA certificates of a PEM file (`tls_ca`), read at load; at least one.
    CaFile {
        /// The file, as configured.
        path: PathBuf,
        /// Its certificates (DER).
        certs: Vec<CertificateDer<'static>>,
    },
    /// Nothing is verified (`tls_insecure`): the connection is encrypted but anyone on the
    /// path can impersonate the upstream. Logged as a warning at start.
    Insecure,
}

/// A TLS listener's certificate chain and key, read at load.
#[derive(PartialEq, Eq)]
pub struct ListenerTls {
    /// The certificate file, as configured.
    pub cert_file: PathBuf,
    /// The key file, as configured.
    pub key_file: PathBuf,
    /// The chain, leaf first; at least one certificate.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key (never printed: see the `Debug` impl).
    pub(crate) key: PrivateKeyDer<'static>,
    /// `tls_client_ca`: the file and its CAs; clients must present a certificate chaining to
    /// one of them (mTLS). `None`: no client certificate is asked for.
    pub client_ca: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
}

impl ListenerTls {
    /// A copy of the private key (rustls takes it by value).
    pub fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl Clone for ListenerTls {
    fn clone(&self) -> Self {
        Self {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            chain: self.chain.clone(),
            key: self.key(),
            client_ca: self.client_ca.clone(),
        }
    }
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("chain", &self.chain.len())
            .field("client_ca", &self.client_ca.as_ref().map(|(file, _)| file))
            .finish_non_exhaustive()
    }
}
