//! Who sent a request: the principal sessions and upstream pools are keyed by. Every client is
//! [`Principal::anonymous`] until an authentication stage sets it.
//!
//! Not here: authenticating anyone (a future stage), keying pools (the translations do).
//! Hot path: the anonymous principal is a borrowed `'static` name: no allocation per request.

use std::borrow::Cow;

/// Who an upstream session belongs to: sessions are never shared across principals
/// (MCP-NOTES §11.5). Without authentication every client is [`Principal::anonymous`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(Cow<'static, str>);

impl Principal {
    /// The principal of every client until authentication exists.
    pub fn anonymous() -> Self {
        Self(Cow::Borrowed("anonymous"))
    }

    /// A principal by name (what an authentication stage will set).
    pub fn named(name: impl Into<String>) -> Self {
        Self(Cow::Owned(name.into()))
    }

    /// The name sealed into `requestState`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
