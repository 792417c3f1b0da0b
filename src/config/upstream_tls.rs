//! `tls_ca` and `tls_insecure` on an upstream: which `https://` upstreams (Streamable HTTP and
//! legacy HTTP+SSE alike) get TLS and what their certificates must chain to
//! ([`UpstreamTrust`]; [`trust_for`] also serves forward mode's `--target-ca`). The CA file is
//! read and the rustls configuration built once here, so a bad file or a host no certificate
//! can name stops the load instead of failing every connection.
//!
//! Not here: the rustls configurations the shards use (crate::tls), URL parsing (url.rs).

use std::path::Path;

use super::error::{invalid_str, Error};
use super::model::{UpstreamTransport, UpstreamTrust, UpstreamUrl};
use super::pem::read_certs;
use super::raw::RawUpstream;

/// What a CA file must hold.
pub(super) const CA_FILE: &str =
    "a PEM file holding at least one CA certificate (-----BEGIN CERTIFICATE----- blocks)";

/// The trust of upstream `name` with transport `transport` (`None` unless an `https://`
/// upstream: Streamable HTTP or legacy HTTP+SSE).
///
/// # Errors
/// TLS settings on a plain or stdio upstream, both settings at once, an unreadable or empty
/// CA file, a host no certificate can name.
pub(super) fn resolve_upstream_tls(
    name: &str,
    raw: &RawUpstream,
    transport: &UpstreamTransport,
) -> Result<Option<UpstreamTrust>, Error> {
    let key = |field: &str| format!("upstreams.{name}.{field}");
    let insecure = raw.tls_insecure == Some(true);
    let url = match transport {
        UpstreamTransport::Http(url) | UpstreamTransport::Sse(url) if url.tls => url,
        _ => {
            let set = [("tls_ca", raw.tls_ca.is_some()), ("tls_insecure", insecure)];
            return match set.iter().find(|(_, set)| *set) {
                Some((field, _)) => Err(Error::Conflict {
                    key: key(field),
                    other: key(if raw.command.is_some() {
                        "command"
                    } else {
                        "url"
                    }),
                    allowed: "tls_ca and tls_insecure apply to https:// upstreams only",
                }),
                None => Ok(None),
            };
        }
    };
    let trust = trust_for(
        url,
        (raw.tls_ca.as_deref(), insecure),
        (&key("tls_ca"), &key("tls_insecure"), &key("url")),
    )?;
    Ok(Some(trust))
}

/// The trust an `https://` `url` is checked against: the CAs of `ca`, nothing (`insecure`), or
/// the default roots (the system's CA store); `keys` name the CA setting, the insecure setting and the URL in errors.
///
/// # Errors
/// Both settings at once, an unreadable or empty CA file, a host no certificate can name.
pub(crate) fn trust_for(
    url: &UpstreamUrl,
    (ca, insecure): (Option<&str>, bool),
    (ca_key, insecure_key, url_key): (&str, &str, &str),
) -> Result<UpstreamTrust, Error> {
    let trust = match (ca, insecure) {
        (Some(_), true) => {
            return Err(Error::Conflict {
                key: ca_key.to_owned(),
                other: insecure_key.to_owned(),
                allowed: "either trust the CAs of a file or verify nothing, not both",
            })
        }
        (Some(file), false) => load_ca_file(ca_key, Path::new(file))?,
        (None, true) => UpstreamTrust::Insecure,
        (None, false) => UpstreamTrust::DefaultRoots,
    };
    crate::tls::server_name(&url.host).map_err(|_| {
        invalid_str(
            url_key,
            &url.to_url(),
            "an https:// URL whose host is a DNS name or an IP address (a certificate names one)",
        )
    })?;
    if let Err(e) = crate::tls::client_config(&trust) {
        return Err(Error::Invalid {
            key: ca_key.to_owned(),
            value: format!("{:?} ({e})", ca.unwrap_or_default()),
            allowed: "a PEM file of CA certificates rustls accepts as trust anchors",
        });
    }
    Ok(trust)
}

/// Reads the PEM CA bundle `file`.
fn load_ca_file(key: &str, file: &Path) -> Result<UpstreamTrust, Error> {
    Ok(UpstreamTrust::CaFile {
        path: file.to_owned(),
        certs: read_certs(key, file, CA_FILE)?,
    })
}
