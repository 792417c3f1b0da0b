//! The principal of an mTLS connection: on a listener with `tls_client_ca`, the verified client
//! certificate's subject names the caller of every request on a route without `auth`
//! ([`Principal::certificate`]). Read once, right after the handshake; the connection keeps it
//! (a TLS connection never moves to another shard, so it never travels).
//!
//! Not here: verifying the certificate (rustls, in the handshake), reading its names
//! (crate::tls::cert_names), routes with `auth` (their token or API key names the caller).

use std::rc::Rc;

use shards::io::NetStream;

use crate::pipeline::{Caller, Principal};

/// The caller `stream`'s client certificate names: `Ok(None)` without one (plain TCP, TLS
/// without `tls_client_ca`).
///
/// # Errors
/// The certificate names no principal (empty or overlong subject, unparsable): the connection
/// must close, since its requests could only be anonymous.
pub(super) fn certificate_caller(
    stream: &NetStream,
) -> Result<Option<Rc<Caller>>, crate::tls::SubjectError> {
    let Some(der) = stream.peer_certificate() else {
        return Ok(None);
    };
    let names = crate::tls::cert_names(der)?;
    Ok(Some(Rc::new(Caller {
        principal: Principal::certificate(&names.issuer, &names.subject),
        scopes: Vec::new(),
        claims: serde_json::Map::new(),
        token: None,
    })))
}
