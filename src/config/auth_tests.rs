//! The `auth` table and `public_url`: defaults, refusals, and printing round-trips.

use crate::config::{from_toml_str, to_toml, Config, Error};

fn load(listener_extra: &str, auth: &str) -> Result<Config, Error> {
    from_toml_str(
        &format!(
            "[upstreams.up]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
             [listeners.main]\nbind = \"127.0.0.1:8080\"\n{listener_extra}\n\
             [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"up\"\n\
             [listeners.main.routes.auth]\n{auth}\n"
        ),
        "auth.toml",
    )
}

#[test]
fn audience_defaults_to_the_public_url_and_path() {
    let config = load("", "issuer = \"http://127.0.0.1:7000\"\nscopes = [\"mcp\"]").unwrap();
    let auth = config.listeners[0].routes[0].auth.as_ref().unwrap();
    assert_eq!(auth.resource, "http://127.0.0.1:8080/mcp");
    let oauth = auth.oauth.as_ref().unwrap();
    assert_eq!(oauth.audience, "http://127.0.0.1:8080/mcp");
    assert_eq!(oauth.issuer, "http://127.0.0.1:7000");
    assert_eq!(auth.scopes, ["mcp"]);
    assert_eq!(
        auth.metadata_url("/mcp"),
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"
    );

    let config = load(
        "public_url = \"https://MCP.example.com:443/\"",
        "issuer = \"https://as.example.com\"",
    )
    .unwrap();
    let auth = config.listeners[0].routes[0].auth.as_ref().unwrap();
    assert_eq!(auth.resource, "https://mcp.example.com/mcp");
    assert_eq!(
        auth.metadata_url("/mcp"),
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );
}

#[test]
fn default_public_urls_are_normalized_like_written_ones() {
    let text = "[upstreams.up]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
                [listeners.main]\nbind = \"127.0.0.1:80\"\n\
                [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"up\"\n";
    let config = from_toml_str(text, "t").unwrap();
    assert_eq!(config.listeners[0].public_url, "http://127.0.0.1");
    let again = from_toml_str(&to_toml(&config), "printed").unwrap();
    assert_eq!(again.listeners, config.listeners);
}

#[test]
fn printed_config_loads_back_equal() {
    let config = load(
        "public_url = \"https://mcp.example.com\"",
        "issuer = \"https://as.example.com/tenant\"\njwks = \"https://as.example.com/keys\"\n\
         audience = \"api://mcp\"\nscopes = [\"a\", \"b\"]",
    )
    .unwrap();
    let again = from_toml_str(&to_toml(&config), "printed").unwrap();
    assert_eq!(again.listeners, config.listeners);
}

#[test]
fn refusals_name_the_key() {
    for (listener, auth, key) in [
        ("", "", "auth.issuer"),
        (
            "",
            "jwks = \"https://a.example/keys\"\napi_keys = \"/dev/null\"",
            "auth.issuer",
        ),
        ("", "issuer = \"http://as.example.com\"", "auth.issuer"),
        ("", "issuer = \"https://as.example.com?x=1\"", "auth.issuer"),
        ("", "issuer = \"https://u:p@as.example.com\"", "auth.issuer"),
        (
            "",
            "issuer = \"https://a.example\"\njwks = \"http://a.example/k\"",
            "auth.jwks",
        ),
        (
            "",
            "issuer = \"https://a.example\"\nscopes = [\"a b\"]",
            "auth.scopes",
        ),
        (
            "",
            "issuer = \"https://a.example\"\naudience = \"\"",
            "auth.audience",
        ),
        ("", "api_keys = \"/nonexistent/keys.toml\"", "auth.api_keys"),
        (
            "public_url = \"https://a.example/mcp\"",
            "issuer = \"https://a.example\"",
            "public_url",
        ),
        (
            "public_url = \"ftp://a.example\"",
            "issuer = \"https://a.example\"",
            "public_url",
        ),
    ] {
        let err = load(listener, auth).unwrap_err();
        let named = err.key().unwrap_or_default().to_owned();
        assert!(named.ends_with(key), "{listener} {auth}: {named} ({err})");
    }
}

#[test]
fn a_wildcard_bind_needs_a_public_url_only_with_auth() {
    let text = |auth: &str| {
        format!(
            "[upstreams.up]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
             [listeners.main]\nbind = \"0.0.0.0:8080\"\nallowed_hosts = [\"*\"]\n\
             [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"up\"\n{auth}"
        )
    };
    assert!(from_toml_str(&text(""), "t").is_ok());
    let err = from_toml_str(
        &text("[listeners.main.routes.auth]\nissuer = \"https://a.example\"\n"),
        "t",
    )
    .unwrap_err();
    assert!(err.to_string().contains("public_url"), "{err}");
}
