//! The default trust of `https://` upstreams (and of the authorization servers the proxy
//! fetches keys and tokens from): the system's CA store, read once per process through
//! rustls-native-certs (the bundle openssl-probe finds, e.g. /etc/ssl/certs/ca-certificates.crt
//! on Debian, or the files `SSL_CERT_FILE` / `SSL_CERT_DIR` name); Mozilla's roots compiled in
//! (webpki-roots) when the system has no usable CA. Certificates the store holds that rustls
//! cannot use are skipped.
//!
//! Not here: `tls_ca` files (config::upstream_tls), building client configurations (mod.rs).

use std::sync::OnceLock;

use rustls::RootCertStore;

/// Where the default roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootsSource {
    /// The system's CA store, with this many usable CAs.
    System(usize),
    /// Mozilla's roots compiled in: the system store was empty or unreadable.
    Builtin,
}

/// The default roots and where they came from, read on first use (the launcher reads them
/// before the shards start: app::start).
pub fn default_roots() -> &'static (RootCertStore, RootsSource) {
    static ROOTS: OnceLock<(RootCertStore, RootsSource)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!(error = %error, "system CA store: skipped");
        }
        let mut system = RootCertStore::empty();
        let (added, _unusable) = system.add_parsable_certificates(found.certs);
        if added > 0 {
            return (system, RootsSource::System(added));
        }
        let builtin = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        (builtin, RootsSource::Builtin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_always_roots() {
        let (roots, source) = default_roots();
        assert!(!roots.is_empty());
        match source {
            RootsSource::System(n) => assert_eq!(*n, roots.len()),
            RootsSource::Builtin => assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len()),
        }
    }
}
