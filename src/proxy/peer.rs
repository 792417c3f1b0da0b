//! The principal of an mTLS connection: on a listener with `tls_client_ca`, the verified client
//! certificate's subject names the caller of every request on a route without `auth`
//! ([`Principal::certificate`]). Read once, right after the handshake; the connection keeps it.
//! When the connection's requests go to another shard (tunnel.rs, then any later fd handoff of
//! the relayed connection), the principal travels with it as text in the mesh message
//! ([`travelling`]) and is rebuilt there ([`arrived`]): a `Caller` is not `Send`, and nothing
//! a client sends can name it.
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
    Ok(Some(caller(Principal::certificate(
        &names.issuer,
        &names.subject,
    ))))
}

/// The connection's certificate principal as it travels to another shard with the
/// connection: its unique spelling (`None` without one).
pub(super) fn travelling(peer: Option<&Rc<Caller>>) -> Option<Box<str>> {
    peer.map(|c| c.principal.as_str().into())
}

/// The certificate principal among a request's (`None` for any other kind): what travels
/// with a connection moved by a request whose connection's principal is not at hand.
pub(super) fn certificate_of(principal: &Principal) -> Option<Box<str>> {
    Principal::certificate_spelled(principal.as_str()).map(|_| principal.as_str().into())
}

/// The caller a connection moved here from another shard brought ([`travelling`]): `None`
/// without one, or for anything but a certificate principal.
pub(super) fn arrived(spelling: Option<&str>) -> Option<Rc<Caller>> {
    Principal::certificate_spelled(spelling?).map(caller)
}

/// A certificate's caller: its principal, no scopes or claims.
fn caller(principal: Principal) -> Rc<Caller> {
    Rc::new(Caller {
        principal,
        scopes: Vec::new(),
        claims: serde_json::Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::{arrived, caller, travelling};
    use crate::pipeline::Principal;

    #[test]
    fn a_certificate_principal_travels_and_nothing_else_does() {
        let alice = caller(Principal::certificate("CN=CA", "CN=alice,O=Example"));
        let text = travelling(Some(&alice));
        let back = arrived(text.as_deref()).map(|c| c.principal.clone());
        assert_eq!(back, Some(alice.principal.clone()));
        assert!(arrived(None).is_none());
        let token = caller(Principal::token("https://x.example", "alice"));
        assert!(arrived(travelling(Some(&token)).as_deref()).is_none());
    }
}
