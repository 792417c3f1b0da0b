//! Who sent a request: the principal sessions and upstream pools are keyed by. Every client is
//! [`Principal::anonymous`] on a route without authentication; the auth module names the
//! others (a token's subject, an API key's name), and on a listener with `tls_client_ca` a
//! route without `auth` names the client certificate's subject.
//!
//! Not here: authenticating anyone (the auth module), keying pools (the translations do).
//! Hot path: the anonymous principal holds nothing (no allocation per request); a named one
//! is one `Rc`, so sessions and pools keep it for the price of a count.

use std::rc::Rc;

/// A short, stable tag for where a name comes from (an issuer URL, a key file path).
fn tag(origin: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(origin.as_bytes())
}

/// Who a session belongs to: sessions are never shared across principals (MCP-NOTES §11.5).
/// The unique spelling carries the kind and where the name comes from (`token:<issuer tag>
/// SUB`, `key:<file tag> NAME`, `cert:<issuer tag> SUBJECT DN`; a tag is a hash of the issuer
/// or key file), so a token whose
/// subject spells an API key's name, or the same subject from another issuer, is someone else
/// (pooled upstream sessions and sealed `requestState` are keyed by this spelling).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(Option<Rc<str>>);

impl Principal {
    /// Every client of a route without authentication.
    pub fn anonymous() -> Self {
        Self(None)
    }

    /// The subject (`sub`) of an access token of `issuer`.
    pub fn token(issuer: &str, subject: &str) -> Self {
        Self(Some(format!("token:{:016x} {subject}", tag(issuer)).into()))
    }

    /// The name of an API key of the key file `file`.
    pub fn key(file: &str, name: &str) -> Self {
        Self(Some(format!("key:{:016x} {name}", tag(file)).into()))
    }

    /// The subject of a verified client certificate (RFC 4514, `CN=alice,O=Example`) issued by
    /// `issuer` (the issuer's name in the same form).
    pub fn certificate(issuer: &str, subject: &str) -> Self {
        Self(Some(format!("cert:{:016x} {subject}", tag(issuer)).into()))
    }

    /// The certificate principal whose unique spelling ([`Principal::as_str`]) is `spelling`:
    /// a connection's certificate principal travels as this text when the connection's
    /// requests go to another shard. `None` for any other kind: only a certificate's subject
    /// travels with a connection.
    pub fn certificate_spelled(spelling: &str) -> Option<Self> {
        spelling
            .starts_with("cert:")
            .then(|| Self(Some(spelling.into())))
    }

    /// The unique spelling, kind included (sealed into `requestState`, compared).
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("anonymous")
    }

    /// The name without its kind, for log lines and audit records.
    pub fn name(&self) -> &str {
        Self::name_of(self.as_str())
    }

    /// The name in a principal's unique spelling ([`Principal::as_str`]), without its kind
    /// and origin.
    pub fn name_of(full: &str) -> &str {
        match full.split_once(':') {
            Some(("token" | "key" | "cert", rest)) => {
                rest.split_once(' ').map_or(rest, |(_, name)| name)
            }
            _ => full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Principal;

    #[test]
    fn kinds_and_origins_keep_equal_names_apart() {
        let x = "https://x.example";
        assert_ne!(
            Principal::token(x, "alice"),
            Principal::key("keys.toml", "alice")
        );
        assert_ne!(
            Principal::token(x, "alice"),
            Principal::token("https://y.example", "alice")
        );
        assert_eq!(Principal::token(x, "alice"), Principal::token(x, "alice"));
        assert_eq!(Principal::key("keys.toml", "alice").name(), "alice");
        assert_eq!(Principal::token(x, "a:b c").name(), "a:b c");
        assert_eq!(Principal::anonymous().as_str(), "anonymous");
        assert_ne!(Principal::token(x, "anonymous").as_str(), "anonymous");
        assert!(Principal::token(x, &"s".repeat(200)).as_str().len() <= 255);
        let alice = Principal::certificate("CN=CA", "CN=alice,O=Example");
        assert_eq!(alice.name(), "CN=alice,O=Example");
        assert_ne!(
            alice,
            Principal::certificate("CN=Other CA", "CN=alice,O=Example")
        );
        assert_ne!(alice, Principal::token("CN=CA", "CN=alice,O=Example"));
        let long = Principal::certificate("CN=CA", &"s".repeat(200)); // tls::MAX_SUBJECT
        assert!(long.as_str().len() <= 255);
    }

    #[test]
    fn only_a_certificate_principal_is_rebuilt_from_its_spelling() {
        let alice = Principal::certificate("CN=CA", "CN=alice,O=Example");
        assert_eq!(Principal::certificate_spelled(alice.as_str()), Some(alice));
        let token = Principal::token("https://x.example", "alice");
        assert_eq!(Principal::certificate_spelled(token.as_str()), None);
        assert_eq!(Principal::certificate_spelled("anonymous"), None);
        assert_eq!(Principal::certificate_spelled("key:00 x"), None);
    }
}
