//! [`Policy`]: who may do what on a route (`[[listeners.NAME.routes.policy]]` rules and the
//! route's `policy_default`). A rule matches a request by the caller (principal name globs,
//! claim values, scopes held) and by what it asks (JSON-RPC method globs, tool name globs);
//! the first matching rule's `action` decides, else the default. Checked at load; the one
//! question the pipeline asks is [`Policy::decide`].
//!
//! Not here: refusing requests or hiding tools (the pipeline's `policy` stage), who the caller
//! is (the auth module). Hot path: [`Policy::decide`] allocates nothing.

use super::error::Error;
use super::raw::RawPolicyRule;
use super::tools::{check_glob, glob_match};

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The request goes on.
    Allow,
    /// Refused: an unknown tool or method to this caller.
    Deny,
}

impl Action {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// What a rule can ask about the caller.
pub trait Subject {
    /// The principal's name (a token's `sub`, an API key's name, a client certificate's
    /// subject DN; `anonymous` otherwise).
    fn name(&self) -> &str;
    /// Whether the caller holds `scope`.
    fn has_scope(&self, scope: &str) -> bool;
    /// Whether claim `claim` is `value` or an array holding it.
    fn claim_has(&self, claim: &str, value: &str) -> bool;
    /// Whether the name is a client certificate's subject DN (matched RDN by RDN).
    fn is_certificate(&self) -> bool {
        false
    }
}

/// A route's rules and default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<(Action, RawPolicyRule)>,
    default: Action,
}

impl Policy {
    /// Checks `rules` and `default` (`key` names the route in errors); `None` without rules
    /// and with the default `allow`. `named_callers`: the route has `auth`, or its listener
    /// asks for client certificates (`tls_client_ca`), whose subjects name the callers.
    ///
    /// # Errors
    /// An unknown action, a bad glob, an empty claim value list, or rules about callers
    /// (`principals`, `claims`, `scopes`) on a route whose callers are all anonymous (no
    /// `auth`, no client certificates), where such a rule could never mean what it says.
    pub fn build(
        key: &str,
        rules: &[RawPolicyRule],
        default: Option<&str>,
        named_callers: bool,
    ) -> Result<Option<Policy>, Error> {
        let default = match default {
            None => Action::Allow,
            Some(text) => action(&format!("{key}.policy_default"), text)?,
        };
        let mut checked = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let at = format!("{key}.policy[{index}]");
            let act = action(&format!("{at}.action"), &rule.action)?;
            for (name, globs) in [
                ("principals", &rule.principals),
                ("methods", &rule.methods),
                ("tools", &rule.tools),
            ] {
                for (n, glob) in globs.iter().enumerate() {
                    check_glob(&format!("{at}.{name}[{n}]"), glob)?;
                }
            }
            if let Some((claim, _)) = rule.claims.iter().find(|(_, values)| values.is_empty()) {
                return Err(Error::Invalid {
                    key: format!("{at}.claims.{claim}"),
                    value: "[]".into(),
                    allowed: "at least one value the claim may have",
                });
            }
            let about_caller =
                !rule.principals.is_empty() || !rule.claims.is_empty() || !rule.scopes.is_empty();
            if about_caller && !named_callers {
                return Err(Error::Missing {
                    key: format!("{key}.auth"),
                    allowed: "policy rules about callers (principals, claims, scopes) need \
                              authentication on the route: add an auth table (or \
                              tls_client_ca on the listener: certificate subjects)",
                });
            }
            checked.push((act, rule.clone()));
        }
        if checked.is_empty() && default == Action::Allow {
            return Ok(None);
        }
        Ok(Some(Policy {
            rules: checked,
            default,
        }))
    }

    /// The decision for `caller` asking `method` (naming `tool`, for `tools/call`), and the
    /// index of the rule that made it (`None`: the default).
    pub fn decide(
        &self,
        caller: &dyn Subject,
        method: &str,
        tool: Option<&str>,
    ) -> (Action, Option<usize>) {
        let found = self
            .rules
            .iter()
            .position(|(_, rule)| matches(rule, caller, method, tool));
        match found {
            Some(index) => (self.rules[index].0, Some(index)),
            None => (self.default, None),
        }
    }

    /// Whether `caller` may see and call tool `name` (listings show only those).
    pub fn allows_tool(&self, caller: &dyn Subject, name: &str) -> bool {
        self.decide(caller, "tools/call", Some(name)).0 == Action::Allow
    }

    /// The rules as written and the default (for printing).
    pub fn parts(&self) -> (Vec<RawPolicyRule>, Action) {
        let rules = self.rules.iter().map(|(_, rule)| rule.clone()).collect();
        (rules, self.default)
    }
}

/// Whether `glob` names `caller`. A certificate's subject DN is matched RDN by RDN (split at
/// unescaped commas; `*` alone matches any subject): a `*` never spans an escaped `\,`, so a
/// certificate whose CN is `mallory,O=Example` (written `CN=mallory\,O=Example`) does not
/// match `*,O=Example`.
fn principal_matches(glob: &str, caller: &dyn Subject) -> bool {
    let name = caller.name();
    if !caller.is_certificate() || glob == "*" {
        return glob_match(glob.as_bytes(), name.as_bytes());
    }
    let (globs, rdns) = (rdns(glob), rdns(name));
    globs.len() == rdns.len()
        && globs
            .iter()
            .zip(&rdns)
            .all(|(g, rdn)| glob_match(g.as_bytes(), rdn.as_bytes()))
}

/// The RDNs of an RFC 4514 DN: split at commas not escaped by a backslash.
fn rdns(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (at, b) in dn.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b',' => {
                parts.push(&dn[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&dn[start..]);
    parts
}

fn matches(rule: &RawPolicyRule, caller: &dyn Subject, method: &str, tool: Option<&str>) -> bool {
    let any = |globs: &[String], text: &str| {
        globs.is_empty()
            || globs
                .iter()
                .any(|g| glob_match(g.as_bytes(), text.as_bytes()))
    };
    let tool_ok = match (rule.tools.is_empty(), tool) {
        (true, _) => true,
        (false, Some(tool)) => any(&rule.tools, tool),
        (false, None) => false,
    };
    tool_ok
        && any(&rule.methods, method)
        && (rule.principals.is_empty()
            || rule.principals.iter().any(|g| principal_matches(g, caller)))
        && rule.scopes.iter().all(|s| caller.has_scope(s))
        && rule
            .claims
            .iter()
            .all(|(claim, values)| values.iter().any(|v| caller.claim_has(claim, v)))
}

fn action(key: &str, text: &str) -> Result<Action, Error> {
    match text {
        "allow" => Ok(Action::Allow),
        "deny" => Ok(Action::Deny),
        _ => Err(Error::Invalid {
            key: key.to_owned(),
            value: format!("{text:?}"),
            allowed: "\"allow\" or \"deny\"",
        }),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
