//! Who sent a request: the principal sessions and upstream pools are keyed by. Every client is
//! [`Principal::anonymous`] on a route without authentication; the auth module names the
//! others (a token's subject, an API key's name).
//!
//! Not here: authenticating anyone (the auth module), keying pools (the translations do).
//! Hot path: the anonymous principal holds nothing (no allocation per request); a named one
//! is one `Rc`, so sessions and pools keep it for the price of a count.

use std::rc::Rc;

/// Who a session belongs to: sessions are never shared across principals (MCP-NOTES §11.5).
/// A name carries its kind (`token:SUB`, `key:NAME`), so a token whose subject spells an API
/// key's name is still someone else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(Option<Rc<str>>);

impl Principal {
    /// Every client of a route without authentication.
    pub fn anonymous() -> Self {
        Self(None)
    }

    /// The subject (`sub`) of an access token.
    pub fn token(subject: &str) -> Self {
        Self(Some(format!("token:{subject}").into()))
    }

    /// The name of an API key.
    pub fn key(name: &str) -> Self {
        Self(Some(format!("key:{name}").into()))
    }

    /// The unique spelling, kind included (sealed into `requestState`, compared).
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("anonymous")
    }

    /// The name without its kind, for log lines and audit records.
    pub fn name(&self) -> &str {
        Self::name_of(self.as_str())
    }

    /// The name in a principal's unique spelling ([`Principal::as_str`]), without its kind.
    pub fn name_of(full: &str) -> &str {
        full.split_once(':').map_or(full, |(_, name)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::Principal;

    #[test]
    fn kinds_keep_equal_names_apart() {
        assert_ne!(Principal::token("alice"), Principal::key("alice"));
        assert_eq!(Principal::token("alice"), Principal::token("alice"));
        assert_eq!(Principal::key("alice").name(), "alice");
        assert_eq!(Principal::token("a:b").name(), "a:b");
        assert_eq!(Principal::anonymous().as_str(), "anonymous");
        assert_ne!(Principal::token("anonymous").as_str(), "anonymous");
    }
}
