//! Who sent a request: the principal sessions and upstream pools are keyed by. Every client is
//! [`Principal::anonymous`] on a route without authentication; the auth module names the
//! others (a token's subject, an API key's name), and on a listener with `tls_client_ca` a
//! route without `auth` names the client certificate's subject.
//!
//! A principal also carries the access token it presented ([`Presented`]), when it did: an
//! upstream with token exchange sends each request with the token exchanged for the request's
//! own caller token (keyed by its SHA-256), and a session keeps the one it was opened with for
//! the requests the proxy makes on its own. The token is no part of who the principal is:
//! equality and hashing look at the spelling only.
//!
//! Not here: authenticating anyone (the auth module), keying pools (the translations do).
//! Hot path: the anonymous principal holds nothing (no allocation per request); a named one
//! is one `Rc`, so sessions and pools keep it for the price of a count.

use std::cell::OnceCell;
use std::hash::{Hash, Hasher};
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
///
/// Equal and hashed by the spelling alone: the [`Presented`] token rides along.
#[derive(Debug, Clone)]
pub struct Principal(Option<Rc<str>>, Option<Rc<Presented>>);

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Principal {}

impl Hash for Principal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// The access token a principal presented with a request (exchanged for an upstream's token,
/// RFC 8693; never logged) and its SHA-256, the key the exchanged token is kept under.
pub struct Presented {
    token: Rc<str>,
    digest: OnceCell<[u8; 32]>,
}

impl Presented {
    /// The token as presented.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Its SHA-256 (computed once, on first use).
    pub fn digest(&self) -> &[u8; 32] {
        self.digest.get_or_init(|| {
            let digest = ring::digest::digest(&ring::digest::SHA256, self.token.as_bytes());
            let mut out = [0; 32];
            out.copy_from_slice(digest.as_ref());
            out
        })
    }
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Presented(..)")
    }
}

impl Principal {
    /// Every client of a route without authentication.
    pub fn anonymous() -> Self {
        Self(None, None)
    }

    /// The subject (`sub`) of an access token of `issuer`.
    pub fn token(issuer: &str, subject: &str) -> Self {
        Self(
            Some(format!("token:{:016x} {subject}", tag(issuer)).into()),
            None,
        )
    }

    /// The name of an API key of the key file `file`.
    pub fn key(file: &str, name: &str) -> Self {
        Self(Some(format!("key:{:016x} {name}", tag(file)).into()), None)
    }

    /// The subject of a verified client certificate (RFC 4514, `CN=alice,O=Example`) issued by
    /// `issuer` (the issuer's name in the same form).
    pub fn certificate(issuer: &str, subject: &str) -> Self {
        Self(
            Some(format!("cert:{:016x} {subject}", tag(issuer)).into()),
            None,
        )
    }

    /// This principal as it presented the access token `token` (`None`: an API key, a
    /// certificate, no credential).
    #[must_use]
    pub fn presenting(mut self, token: Option<Rc<str>>) -> Self {
        self.1 = token.map(|token| {
            Rc::new(Presented {
                token,
                digest: OnceCell::new(),
            })
        });
        self
    }

    /// The access token it presented, if any.
    pub fn presented(&self) -> Option<&Presented> {
        self.1.as_deref()
    }

    /// The certificate principal whose unique spelling ([`Principal::as_str`]) is `spelling`:
    /// a connection's certificate principal travels as this text when the connection's
    /// requests go to another shard. `None` for any other kind: only a certificate's subject
    /// travels with a connection.
    pub fn certificate_spelled(spelling: &str) -> Option<Self> {
        spelling
            .starts_with("cert:")
            .then(|| Self(Some(spelling.into()), None))
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

    #[test]
    fn the_presented_token_rides_along_but_is_no_part_of_who() {
        let x = "https://x.example";
        let bare = Principal::token(x, "alice");
        let narrow = bare.clone().presenting(Some("T1".into()));
        let broad = bare.clone().presenting(Some("T2".into()));
        assert_eq!(narrow, broad);
        assert_eq!(narrow, bare);
        let (d1, d2) = (narrow.presented().unwrap(), broad.presented().unwrap());
        assert_ne!(d1.digest(), d2.digest());
        assert_eq!(d1.token(), "T1");
        assert!(bare.presented().is_none());
        assert!(!format!("{narrow:?}").contains("T1"), "never shown");
    }
}
