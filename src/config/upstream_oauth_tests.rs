//! Tests of `upstream_oauth.rs`: required fields, URL and value checks, the secret's variable,
//! the rules against other settings, and that the secret reaches no error, `Debug` or print.

use super::*;
use crate::config::{from_toml_str, Config};

const SECRET: &str = "s3cr3t:value/+";

fn env(var: &str) -> Option<String> {
    match var {
        "SECRET" => Some(SECRET.to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn raw(token_url: &str, secret_env: &str) -> RawUpstreamOAuth {
    RawUpstreamOAuth {
        token_url: Some(token_url.to_owned()),
        client_id: Some("proxy client".to_owned()),
        client_secret_env: Some(secret_env.to_owned()),
        scopes: Some(vec!["mcp:read".to_owned(), "mcp:write".to_owned()]),
        ..RawUpstreamOAuth::default()
    }
}

fn built(raw: &RawUpstreamOAuth) -> Result<UpstreamOAuth, Error> {
    build("upstreams.up.oauth", raw, &env).map(|o| o.expect("a table resolves to Some"))
}

#[test]
fn basic_authentication_encodes_id_and_secret_as_rfc6749_says() {
    use base64::Engine as _;
    let oauth = built(&raw("https://as.example/token", "SECRET")).unwrap();
    let value = std::str::from_utf8(oauth.basic()).unwrap();
    let encoded = value.strip_prefix("Basic ").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
    assert_eq!(decoded, b"proxy+client:s3cr3t%3Avalue%2F%2B");
    let fields: Vec<_> = oauth.common_fields().collect();
    assert_eq!(fields, [("scope", "mcp:read mcp:write".into())]);
}

#[test]
fn token_urls_must_be_https_or_loopback_http() {
    for ok in [
        "https://as.example/token",
        "http://127.0.0.1:9000/token",
        "http://localhost/token",
    ] {
        assert!(built(&raw(ok, "SECRET")).is_ok(), "{ok}");
    }
    for bad in [
        "http://as.example/token",
        "ftp://127.0.0.1/token",
        "https://user:pw@as.example/token",
        "https://as.example/token?x=1",
        "token",
    ] {
        let err = built(&raw(bad, "SECRET")).unwrap_err();
        assert_eq!(err.key(), Some("upstreams.up.oauth.token_url"), "{bad}");
    }
}

#[test]
fn an_unset_or_empty_secret_variable_is_named_and_the_secret_never_shows() {
    for var in ["UNSET", "EMPTY"] {
        let err = built(&raw("https://as.example/token", var)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(var), "{text}");
        assert_eq!(err.key(), Some("upstreams.up.oauth.client_secret_env"));
    }
    let err = built(&raw("https://as.example/token", "1BAD")).unwrap_err();
    assert_eq!(err.key(), Some("upstreams.up.oauth.client_secret_env"));
    let oauth = built(&raw("https://as.example/token", "SECRET")).unwrap();
    let debug = format!("{oauth:?}");
    assert!(
        !debug.contains("s3cr3t") && debug.contains("SECRET"),
        "{debug}"
    );
    let printed = toml::to_string(&oauth.to_raw()).unwrap();
    assert!(
        !printed.contains("s3cr3t") && printed.contains("SECRET"),
        "{printed}"
    );
}

/// Makes one field of a table bad.
type Spoil = fn(&mut RawUpstreamOAuth);

#[test]
fn missing_fields_and_bad_values_name_their_key() {
    let cases: [(Spoil, &str); 6] = [
        (|r| r.token_url = None, "token_url"),
        (|r| r.client_id = None, "client_id"),
        (|r| r.client_secret_env = None, "client_secret_env"),
        (|r| r.scopes = Some(vec!["a b".into()]), "scopes"),
        (|r| r.audience = Some(String::new()), "audience"),
        (|r| r.resource = Some("https://x#f".into()), "resource"),
    ];
    for (spoil, field) in cases {
        let mut written = raw("https://as.example/token", "SECRET");
        spoil(&mut written);
        let err = built(&written).unwrap_err();
        assert_eq!(
            err.key(),
            Some(format!("upstreams.up.oauth.{field}").as_str())
        );
    }
}

/// A config with one upstream `up` (`upstream` lines added), `oauth` lines added to its
/// `oauth` table; the secret is `PATH`'s value (always set).
fn config(upstream: &str, oauth: &str) -> Result<Config, crate::config::Error> {
    from_toml_str(
        &format!(
            "[upstreams.up]\n{upstream}\n[upstreams.up.oauth]\ntoken_url = \
             \"http://127.0.0.1:1/token\"\nclient_id = \"c\"\nclient_secret_env = \
             \"PATH\"\n{oauth}"
        ),
        "test",
    )
}

#[test]
fn oauth_is_refused_where_it_cannot_apply() {
    let stdio = config("command = [\"cat\"]", "").unwrap_err();
    assert!(
        stdio.to_string().contains("upstreams.up.command"),
        "{stdio}"
    );
    let header = config(
        "url = \"http://127.0.0.1:2/mcp\"\nheaders = { authorization = \"Bearer x\" }",
        "",
    )
    .unwrap_err();
    assert!(
        header.to_string().contains("upstreams.up.headers"),
        "{header}"
    );
    let sse = config(
        "url = \"http://127.0.0.1:2/sse\"\ntransport = \"sse\"",
        "token_exchange = true",
    )
    .unwrap_err();
    assert!(sse.to_string().contains("token_exchange"), "{sse}");
    let loaded = config("url = \"http://127.0.0.1:2/mcp\"", "").unwrap();
    assert!(loaded.upstreams[0].oauth.is_some());
}

#[test]
fn token_exchange_needs_routes_that_check_access_tokens() {
    let err = config("url = \"http://127.0.0.1:2/mcp\"", "token_exchange = true").unwrap_err();
    assert!(err.to_string().contains("auth.issuer"), "{err}");
}
