//! `tls_cert` and `tls_key` on a listener: its certificate chain and key, read and checked
//! (rustls builds a server configuration from them) at load; and the rule that a TLS listener
//! runs on one shard.
//!
//! Not here: the rustls server configuration the shards use (crate::tls), the handshake
//! (proxy/server.rs).

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{invalid_str, Error};
use super::model::{CoreSelection, ListenerConfig, ListenerTls, RuntimeConfig};
use super::raw::RawListener;

/// What to say about a TLS listener on several shards.
const ONE_SHARD: &str = "shards = 1 in [runtime] (--shards 1): TLS listeners need --shards 1 \
     until requests can be forwarded over the mesh (a TLS session cannot move to the shard \
     owning a session)";

/// The TLS setup of listener `prefix` (`listeners.NAME`), `None` without `tls_cert`/`tls_key`.
///
/// # Errors
/// One of the two keys alone, an unreadable file, no certificate or no key in it, a key that
/// does not match the certificate.
pub(super) fn resolve_listener_tls(
    prefix: &str,
    raw: &RawListener,
) -> Result<Option<ListenerTls>, Error> {
    let (cert_key, key_key) = (format!("{prefix}.tls_cert"), format!("{prefix}.tls_key"));
    let (cert_file, key_file) = match (&raw.tls_cert, &raw.tls_key) {
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
    let shown = |file: &Path| file.display().to_string();
    let cert_text = read(&cert_key, cert_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    if chain.is_empty() {
        return Err(invalid_str(
            &cert_key,
            &shown(cert_file),
            "a PEM file holding the certificate chain, leaf first (-----BEGIN CERTIFICATE-----)",
        ));
    }
    let key_text = read(&key_key, key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|_| {
        invalid_str(
            &key_key,
            &shown(key_file),
            "a PEM file holding a private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })?;
    let tls = ListenerTls {
        cert_file: cert_file.to_owned(),
        key_file: key_file.to_owned(),
        chain,
        key,
    };
    if let Err(e) = crate::tls::server_config(&tls) {
        return Err(Error::Invalid {
            key: key_key,
            value: format!("{:?} ({e})", shown(key_file)),
            allowed: "the private key of the certificate in tls_cert",
        });
    }
    Ok(Some(tls))
}

/// A TLS listener needs exactly one shard.
///
/// # Errors
/// A TLS listener while `runtime` runs more than one shard (or one per core).
pub(super) fn check_tls_shards(
    listeners: &[ListenerConfig],
    runtime: &RuntimeConfig,
) -> Result<(), Error> {
    let one = match &runtime.cores {
        CoreSelection::Count(n) => n.get() == 1,
        CoreSelection::List(cores) => cores.len() == 1,
        CoreSelection::All => false,
    };
    match listeners.iter().find(|l| l.tls.is_some()) {
        Some(listener) if !one => Err(invalid_str(
            &format!("listeners.{}.tls_cert", listener.name),
            &listener
                .tls
                .as_ref()
                .map(|t| t.cert_file.display().to_string())
                .unwrap_or_default(),
            ONE_SHARD,
        )),
        _ => Ok(()),
    }
}

fn read(key: &str, file: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(file).map_err(|error| Error::ReadSetting {
        key: key.to_owned(),
        path: file.to_owned(),
        error,
    })
}
