//! Who sent a request: the principal sessions and upstream pools are keyed by. Every client is
//! [`Principal::anonymous`] until an authentication stage sets it.
//!
//! Not here: authenticating anyone (a future stage), keying pools (the translations do).

/// Who an upstream session belongs to: sessions are never shared across principals
/// (MCP-NOTES §11.5). Without authentication every client is [`Principal::anonymous`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(pub Box<str>);

impl Principal {
    /// The principal of every client until authentication exists.
    pub fn anonymous() -> Self {
        Self("anonymous".into())
    }

    /// The name sealed into `requestState`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
