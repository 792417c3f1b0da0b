//! `tls_cert`, `tls_key` and `tls_client_ca` on a listener: its certificate chain and key (and
//! the CAs client certificates must chain to, for mTLS), read and checked
//! (rustls builds a server configuration from them) at load. A TLS listener runs on any number
//! of shards: a request for a session another shard owns is relayed to it (proxy/tunnel.rs).
//!
//! Not here: the rustls server configuration the shards use (crate::tls), the handshake
//! (proxy/server.rs).

use std::path::Path;
use std::sync::Arc;

use super::error::Error;
use super::model::ListenerTls;
use super::pem::{read_certs, read_key};
use super::raw::RawListener;
use super::upstream_tls::CA_FILE;

/// What a certificate file must hold.
const CHAIN: &str =
    "a PEM file holding the certificate chain, leaf first (-----BEGIN CERTIFICATE-----)";

/// The TLS setup of listener `prefix` (`listeners.NAME`), `None` without `tls_cert`/`tls_key`.
///
/// # Errors
/// One of the two keys alone (or `tls_client_ca` without them), an unreadable file, no
/// certificate or no key in it, a key that does not match the certificate.
pub(super) fn resolve_listener_tls(
    prefix: &str,
    raw: &RawListener,
) -> Result<Option<ListenerTls>, Error> {
    let (cert_key, key_key) = (format!("{prefix}.tls_cert"), format!("{prefix}.tls_key"));
    let (cert_file, key_file) = match (&raw.tls_cert, &raw.tls_key) {
        (None, None) if raw.tls_client_ca.is_some() => {
            return Err(Error::Missing {
                key: cert_key,
                allowed: "tls_client_ca asks clients for certificates over TLS: set tls_cert \
                          and tls_key too",
            })
        }
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (Path::new(cert), Path::new(key)),
        (Some(_), None) => {
            return Err(Error::Missing {
                key: key_key,
                allowed: "a TLS listener needs both tls_cert and tls_key (PEM files)",
            })
        }
        (None, Some(_)) => {
            return Err(Error::Missing {
                key: cert_key,
                allowed: "a TLS listener needs both tls_cert and tls_key (PEM files)",
            })
        }
    };
    let client_ca = match &raw.tls_client_ca {
        None => None,
        Some(file) => {
            let key = format!("{prefix}.tls_client_ca");
            let file = Path::new(file);
            let cas = read_certs(&key, file, CA_FILE)?;
            if let Err(e) = crate::tls::client_verifier(&cas, Arc::new(crate::tls::provider())) {
                return Err(Error::Invalid {
                    key,
                    value: format!("{:?} ({e})", file.display().to_string()),
                    allowed: "a PEM file of CA certificates rustls accepts as trust anchors",
                });
            }
            Some((file.to_owned(), cas))
        }
    };
    let tls = ListenerTls {
        cert_file: cert_file.to_owned(),
        key_file: key_file.to_owned(),
        chain: read_certs(&cert_key, cert_file, CHAIN)?,
        key: read_key(&key_key, key_file)?,
        client_ca,
    };
    if let Err(e) = crate::tls::server_config(&tls) {
        return Err(Error::Invalid {
            key: key_key,
            value: format!("{:?} ({e})", key_file.display().to_string()),
            allowed: "the private key of the certificate in tls_cert",
        });
    }
    Ok(Some(tls))
}

/// Reads the TLS files of listener `name` again (the reload signal, SIGHUP), with the same
/// checks as at load: the certificate chain and key (and `tls_client_ca`) as they are now.
///
/// # Errors
/// As at load: an unreadable file, no certificate or key in it, a key that does not match.
pub fn reload_listener_tls(name: &str, current: &ListenerTls) -> Result<ListenerTls, Error> {
    let path = |file: &Path| file.display().to_string();
    let raw = RawListener {
        tls_cert: Some(path(&current.cert_file)),
        tls_key: Some(path(&current.key_file)),
        tls_client_ca: current.client_ca.as_ref().map(|(file, _)| path(file)),
        ..RawListener::default()
    };
    let prefix = format!("listeners.{name}");
    resolve_listener_tls(&prefix, &raw)?.ok_or(Error::Missing {
        key: format!("{prefix}.tls_cert"),
        allowed: "the TLS files of a TLS listener",
    })
}
