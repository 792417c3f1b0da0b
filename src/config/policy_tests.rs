//! Policy rules: matching, first match wins, defaults, refusals at load, printing.

use super::*;
use crate::config::{from_toml_str, to_toml};

struct Who {
    name: &'static str,
    scopes: &'static [&'static str],
    groups: &'static [&'static str],
}

impl Subject for Who {
    fn name(&self) -> &str {
        self.name
    }
    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(&scope)
    }
    fn claim_has(&self, claim: &str, value: &str) -> bool {
        claim == "groups" && self.groups.contains(&value)
    }
}

const ALICE: Who = Who {
    name: "alice",
    scopes: &["mcp:admin"],
    groups: &["admins"],
};
const BOB: Who = Who {
    name: "bob",
    scopes: &[],
    groups: &["staff"],
};

fn load(route_extra: &str) -> Result<crate::config::Config, Error> {
    from_toml_str(
        &format!(
            "[upstreams.up]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
             [listeners.main]\nbind = \"127.0.0.1:8080\"\n\
             [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"up\"\n{route_extra}"
        ),
        "policy.toml",
    )
    .map_err(|e| match e {
        Error::In { error, .. } => *error,
        other => other,
    })
}

const AUTH: &str = "[listeners.main.routes.auth]\nissuer = \"https://a.example\"\n";

fn policy(rules: &str, default: &str) -> Policy {
    let text = format!(
        "[listeners.main]\nbind = \"127.0.0.1:8080\"\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"up\"\npolicy_default = \"{default}\"\n{rules}"
    );
    let raw: crate::config::raw::RawConfig = toml::from_str(&text).unwrap();
    let route = &raw.listeners["main"].routes[0];
    Policy::build("r", &route.policy, route.policy_default.as_deref(), true)
        .unwrap()
        .unwrap()
}

#[test]
fn first_match_wins_and_the_default_decides_the_rest() {
    let p = policy(
        "[[listeners.main.routes.policy]]\naction = \"allow\"\nclaims = { groups = [\"admins\"] }\n\
         [[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"delete_*\", \"drop?\"]\n\
         [[listeners.main.routes.policy]]\naction = \"deny\"\nmethods = [\"resources/*\"]\nprincipals = [\"b*\"]\n",
        "allow",
    );
    assert_eq!(
        p.decide(&ALICE, "tools/call", Some("delete_repo")),
        (Action::Allow, Some(0))
    );
    assert_eq!(
        p.decide(&BOB, "tools/call", Some("delete_repo")),
        (Action::Deny, Some(1))
    );
    assert_eq!(
        p.decide(&BOB, "tools/call", Some("drops")),
        (Action::Deny, Some(1))
    );
    assert_eq!(
        p.decide(&BOB, "tools/call", Some("echo")),
        (Action::Allow, None)
    );
    // A rule with tools matches only requests naming a tool.
    assert_eq!(p.decide(&BOB, "tools/list", None), (Action::Allow, None));
    assert_eq!(
        p.decide(&BOB, "resources/read", None),
        (Action::Deny, Some(2))
    );
    assert!(!p.allows_tool(&BOB, "delete_x"));
    assert!(p.allows_tool(&ALICE, "delete_x"));
}

#[test]
fn scopes_must_all_be_held_and_deny_by_default_works() {
    let p = policy(
        "[[listeners.main.routes.policy]]\naction = \"allow\"\nscopes = [\"mcp:admin\"]\n\
         [[listeners.main.routes.policy]]\naction = \"allow\"\nmethods = [\"initialize\", \"notifications/*\", \"tools/list\"]\n",
        "deny",
    );
    assert_eq!(p.decide(&ALICE, "tools/call", Some("x")).0, Action::Allow);
    assert_eq!(
        p.decide(&BOB, "tools/call", Some("x")),
        (Action::Deny, None)
    );
    assert_eq!(p.decide(&BOB, "initialize", None).0, Action::Allow);
}

#[test]
fn refusals_at_load_and_printing_round_trips() {
    for (extra, needle) in [
        ("policy_default = \"maybe\"\n", "policy_default"),
        ("[[listeners.main.routes.policy]]\naction = \"permit\"\n", "action"),
        ("[[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"\"]\n", "tools[0]"),
        (
            "[[listeners.main.routes.policy]]\naction = \"deny\"\nprincipals = [\"bob\"]\n",
            "auth",
        ),
        (
            &format!("{AUTH}[[listeners.main.routes.policy]]\naction = \"deny\"\nclaims = {{ groups = [] }}\n"),
            "claims.groups",
        ),
    ] {
        let err = load(extra).unwrap_err();
        assert!(err.key().unwrap_or_default().contains(needle), "{extra}: {err}");
    }
    // Rules about methods and tools need no authentication.
    assert!(load("[[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"x\"]\n").is_ok());
    let config = load(&format!(
        "policy_default = \"deny\"\n{AUTH}[[listeners.main.routes.policy]]\naction = \"allow\"\n\
         principals = [\"a*\"]\nclaims = {{ groups = [\"admins\"] }}\nmethods = [\"tools/*\"]\n"
    ))
    .unwrap();
    let again = from_toml_str(&to_toml(&config), "printed").unwrap();
    assert_eq!(again.listeners, config.listeners);
    assert!(config.listeners[0].routes[0].policy.is_some());
}

/// A client certificate's subject (matched RDN by RDN).
struct Cert(&'static str);

impl Subject for Cert {
    fn name(&self) -> &str {
        self.0
    }
    fn has_scope(&self, _: &str) -> bool {
        false
    }
    fn claim_has(&self, _: &str, _: &str) -> bool {
        false
    }
    fn is_certificate(&self) -> bool {
        true
    }
}

#[test]
fn certificate_subjects_match_rdn_by_rdn() {
    let org = policy(
        "[[listeners.main.routes.policy]]\naction = \"allow\"\nprincipals = [\"*,O=Example\"]\n",
        "deny",
    );
    let allowed = |who: &Cert| org.decide(who, "ping", None).0 == Action::Allow;
    assert!(allowed(&Cert("CN=alice,O=Example")));
    // One RDN whose CN holds ",O=Example": a `*` never spans the escaped comma.
    assert!(!allowed(&Cert("CN=mallory\\,O=Example")));
    assert!(!allowed(&Cert("CN=alice,OU=x,O=Example")));
    let alice = policy(
        "[[listeners.main.routes.policy]]\naction = \"allow\"\nprincipals = [\"CN=alice,O=*\"]\n",
        "deny",
    );
    assert_eq!(
        alice.decide(&Cert("CN=alice,O=Other"), "ping", None).0,
        Action::Allow
    );
    assert_eq!(
        alice.decide(&Cert("CN=alice\\,O=x"), "ping", None).0,
        Action::Deny
    );
    let anyone = policy(
        "[[listeners.main.routes.policy]]\naction = \"allow\"\nprincipals = [\"*\"]\n",
        "deny",
    );
    assert_eq!(
        anyone.decide(&Cert("CN=a,OU=b,O=c"), "ping", None).0,
        Action::Allow
    );
    // Other principals keep plain globs.
    let plain = Who {
        name: "CN=x,O=Example",
        ..BOB
    };
    assert_eq!(org.decide(&plain, "ping", None).0, Action::Allow);
}
