//! The `legacy_sse` route keys: defaults, custom paths, every rejection (paths shared with
//! another route or endpoint, paths without `legacy_sse = true`).
//!
//! Not here: the `--legacy-sse` flag (the cli module's `command_tests.rs`), the transport itself
//! (the proxy's `legacy/`).

use super::*;

const UPSTREAM: &str = "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n";

fn text(routes: &str) -> String {
    format!("{UPSTREAM}[listeners.main]\nbind = \"127.0.0.1:8080\"\n{routes}")
}

fn route(path: &str, extra: &str) -> String {
    format!("[[listeners.main.routes]]\npath = \"{path}\"\nupstream = \"demo\"\n{extra}")
}

fn rejected(text: &str) -> Error {
    match from_toml_str(text, "t.toml") {
        Ok(config) => panic!("accepted:\n{text}\n{config:?}"),
        Err(err) => err,
    }
}

#[test]
fn legacy_sse_gets_the_sdk_paths_by_default() {
    let config = from_toml_str(&text(&route("/mcp", "legacy_sse = true\n")), "t.toml").unwrap();
    let legacy = config.listeners[0].routes[0].legacy_sse.clone().unwrap();
    assert_eq!(legacy.sse_path, "/sse");
    assert_eq!(legacy.messages_path, "/messages");
    let off = from_toml_str(&text(&route("/mcp", "legacy_sse = false\n")), "t.toml").unwrap();
    assert_eq!(off.listeners[0].routes[0].legacy_sse, None);
}

#[test]
fn two_legacy_routes_need_their_own_paths() {
    let both = format!(
        "{}{}",
        route("/a", "legacy_sse = true\n"),
        route("/b", "legacy_sse = true\n")
    );
    let err = rejected(&text(&both));
    let message = err.to_string();
    assert_eq!(
        err.key(),
        Some("listeners.main.routes[1].sse_path"),
        "{message}"
    );
    assert!(
        message.contains("`listeners.main.routes[0].sse_path`"),
        "{message}"
    );
    assert!(
        message.contains("set sse_path and messages_path"),
        "{message}"
    );

    let apart = format!(
        "{}{}",
        route("/a", "legacy_sse = true\n"),
        route(
            "/b",
            "legacy_sse = true\nsse_path = \"/b/sse\"\nmessages_path = \"/b/messages\"\n"
        )
    );
    let config = from_toml_str(&text(&apart), "t.toml").unwrap();
    let b = config.listeners[0].routes[1].legacy_sse.clone().unwrap();
    assert_eq!(
        (b.sse_path.as_str(), b.messages_path.as_str()),
        ("/b/sse", "/b/messages")
    );
}

#[test]
fn legacy_paths_may_not_collide_with_each_other_or_routes() {
    let cases = [
        (
            route(
                "/mcp",
                "legacy_sse = true\nsse_path = \"/x\"\nmessages_path = \"/x\"\n",
            ),
            "listeners.main.routes[0].messages_path",
            "listeners.main.routes[0].sse_path",
        ),
        (
            route("/sse", "legacy_sse = true\n"),
            "listeners.main.routes[0].sse_path",
            "listeners.main.routes[0].path",
        ),
        (
            format!(
                "{}{}",
                route("/mcp", "legacy_sse = true\n"),
                route("/messages", "")
            ),
            "listeners.main.routes[1].path",
            "listeners.main.routes[0].messages_path",
        ),
    ];
    for (routes, key, first) in cases {
        let err = rejected(&text(&routes));
        let message = err.to_string();
        assert_eq!(err.key(), Some(key), "{message}");
        assert!(message.contains(&format!("`{first}`")), "{message}");
    }
}

#[test]
fn legacy_paths_are_checked_and_need_legacy_sse() {
    let err = rejected(&text(&route(
        "/mcp",
        "legacy_sse = true\nsse_path = \"sse\"\n",
    )));
    assert_eq!(
        err.key(),
        Some("listeners.main.routes[0].sse_path"),
        "{err}"
    );
    let err = rejected(&text(&route("/mcp", "messages_path = \"/m\"\n")));
    assert_eq!(
        err.key(),
        Some("listeners.main.routes[0].legacy_sse"),
        "{err}"
    );
    assert!(err.to_string().contains("legacy_sse = true"), "{err}");
}

#[test]
fn legacy_sse_needs_a_route_that_serves_sessions() {
    let err = rejected(&text(&route(
        "/mcp",
        "era = \"modern\"\nlegacy_sse = true\n",
    )));
    assert_eq!(
        err.key(),
        Some("listeners.main.routes[0].legacy_sse"),
        "{err}"
    );
    assert!(err.to_string().contains("era = \"dual\""), "{err}");
}
