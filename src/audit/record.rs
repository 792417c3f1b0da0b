//! [`Record`]: what one request's audit line says, filled in as the request passes the
//! pipeline (route, principal, message, policy rule) and closed with its status and outcome.
//!
//! Not here: noting (scope.rs), the line's JSON form (line.rs).

use std::time::{Instant, SystemTime};

use crate::config::RouteId;
use crate::session::Principal;

/// The policy decision behind a request, when a policy or tool list judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleRef {
    /// Rule `N` of the route's `policy` list (0-based, as `config check` numbers them).
    Policy(usize),
    /// No rule matched: the route's `policy_default`.
    PolicyDefault,
    /// The route's `allow_tools` / `deny_tools` lists hid the tool.
    ToolLists,
}

/// How a request ended, as far as the audit cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Passed every check (whatever the upstream then answered).
    Allowed,
    /// Refused by the policy or the tool lists (`rule` says which).
    Denied,
    /// Over the route's rate limit.
    RateLimited,
    /// No acceptable credential (401).
    Unauthenticated,
    /// A credential without a scope the route needs (403).
    Forbidden,
    /// Refused for another reason before the upstream (bad request, unknown session, limits).
    Refused,
    /// Failed on the way (upstream unreachable, timeout, audit log unavailable).
    Failed,
    /// The client went away before any answer (or refusal) was written.
    ClientGone,
}

impl Outcome {
    /// The `decision` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Forbidden => "forbidden",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::ClientGone => "client_gone",
        }
    }
}

/// One request's audit facts.
#[derive(Debug)]
pub struct Record {
    /// Wall-clock time the request's head was read.
    pub at: SystemTime,
    /// The same instant, for the latency.
    pub started: Instant,
    /// `POST`, `GET`, `DELETE`, ...
    pub http_method: &'static str,
    /// The route it matched (`None`: refused before routing, e.g. a bad `Host`).
    pub route: Option<RouteId>,
    /// `true` for a legacy HTTP+SSE endpoint (`/sse`, `/messages`).
    pub legacy: bool,
    /// Who sent it; `None`: refused before anyone was authenticated.
    pub principal: Option<Principal>,
    /// The client session id, hashed (ids are bearer secrets on routes without `auth`).
    pub session: Option<String>,
    /// The JSON-RPC method (`batch` for a batch).
    pub method: Option<String>,
    /// Messages in a batch (0 for a single message).
    pub batch: usize,
    /// The JSON-RPC id of a request.
    pub id: Option<serde_json::Value>,
    /// The tool a `tools/call` names.
    pub tool: Option<String>,
    /// Hex SHA-256 of the canonical arguments of a `tools/call`.
    pub arguments_sha256: Option<String>,
    /// The canonical arguments themselves (only with `audit.arguments = true`).
    pub arguments: Option<String>,
    /// The rule that decided, when a policy or tool list judged the request.
    pub rule: Option<RuleRef>,
    /// The HTTP status the client got (the first one written for the request).
    pub status: Option<u16>,
    /// How it ended; `None` until the connection loop closes the record.
    pub outcome: Option<Outcome>,
}

impl Record {
    /// A record for a request whose head was just read.
    pub fn new(http_method: &'static str) -> Record {
        Record {
            at: SystemTime::now(),
            started: Instant::now(),
            http_method,
            route: None,
            legacy: false,
            principal: None,
            session: None,
            method: None,
            batch: 0,
            id: None,
            tool: None,
            arguments_sha256: None,
            arguments: None,
            rule: None,
            status: None,
            outcome: None,
        }
    }

    /// Keeps the first status written: once a head is out, later errors cannot change it.
    pub fn set_status(&mut self, status: u16) {
        self.status.get_or_insert(status);
    }

    /// Notes the client session `id`, hashed.
    pub fn set_session(&mut self, id: &str) {
        self.session = Some(session_hash(id));
    }
}

/// `sha256:` and the first 16 bytes of the SHA-256 of a session id, hex: enough to tell
/// sessions apart and to find a known id's lines, useless to present as the session.
pub fn session_hash(id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut text = String::with_capacity(7 + 32);
    text.push_str("sha256:");
    super::arguments::push_hex(&mut text, &digest.as_ref()[..16]);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_status_stays() {
        let mut record = Record::new("POST");
        record.set_status(200);
        record.set_status(500);
        assert_eq!(record.status, Some(200));
    }

    #[test]
    fn session_ids_are_hashed() {
        let hashed = session_hash("abc");
        assert_eq!(hashed, "sha256:ba7816bf8f01cfea414140de5dae2223");
        assert!(!hashed.contains("abc"));
    }
}
