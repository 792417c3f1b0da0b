//! [`Caller`]: who sent a request, as the `authenticate` stage found out: the principal
//! (sessions and pools are keyed by it), the scopes it holds and, for an access token, its
//! claims (policy rules may ask about `groups`, `roles`, ...); an access token itself rides
//! with the principal (`Principal::presented`: exchanged for an upstream's token, RFC 8693;
//! never logged). Routes without `auth` have the connection's client certificate as caller
//! (mTLS: no scopes, no claims) or none: everyone there is [`Principal::anonymous`], seen by
//! policies as [`Anonymous`].
//!
//! Not here: authenticating (the auth module), deciding (config::Policy, policy.rs).

use crate::config::Subject;
use crate::session::Principal;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The scopes its credential carries.
    pub scopes: Vec<String>,
    /// An access token's claims (empty for API keys).
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Subject for Caller {
    fn name(&self) -> &str {
        self.principal.name()
    }

    fn is_certificate(&self) -> bool {
        self.principal.as_str().starts_with("cert:")
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn claim_has(&self, claim: &str, value: &str) -> bool {
        match self.claims.get(claim) {
            Some(serde_json::Value::String(text)) => text == value,
            Some(serde_json::Value::Array(items)) => {
                items.iter().any(|v| v.as_str() == Some(value))
            }
            Some(serde_json::Value::Bool(b)) => value == if *b { "true" } else { "false" },
            Some(serde_json::Value::Number(n)) => n.to_string() == value,
            _ => false,
        }
    }
}

/// The caller on a route without `auth`.
#[derive(Debug, Clone, Copy)]
pub struct Anonymous;

impl Subject for Anonymous {
    fn name(&self) -> &str {
        "anonymous"
    }

    fn has_scope(&self, _: &str) -> bool {
        false
    }

    fn claim_has(&self, _: &str, _: &str) -> bool {
        false
    }
}
