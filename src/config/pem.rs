//! PEM files settings name (CA bundles, certificate chains, private keys): read at load, with
//! errors that name the setting and the file.
//!
//! Not here: what the certificates are trusted for (upstream_tls.rs, listener_tls.rs).

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{invalid_str, Error};

/// The certificates of PEM file `file` (other sections are skipped), at least one; `allowed`
/// says what the file should hold when it holds none or is not PEM.
///
/// # Errors
/// [`Error::ReadSetting`] when the file cannot be read, [`Error::Invalid`] otherwise.
pub(super) fn read_certs(
    key: &str,
    file: &Path,
    allowed: &'static str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let text = read(key, file)?;
    match CertificateDer::pem_slice_iter(&text).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(invalid_str(key, &file.display().to_string(), allowed)),
    }
}

/// The first private key of PEM file `file`.
///
/// # Errors
/// [`Error::ReadSetting`] when the file cannot be read, [`Error::Invalid`] without a key.
pub(super) fn read_key(key: &str, file: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let text = read(key, file)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|_| {
        invalid_str(
            key,
            &file.display().to_string(),
            "a PEM file holding a private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })
}

fn read(key: &str, file: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(file).map_err(|error| Error::ReadSetting {
        key: key.to_owned(),
        path: file.to_owned(),
        error,
    })
}
