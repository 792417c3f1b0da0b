//! Tests of `token.rs`: token responses as RFC 6749 §5.1/§5.2 describe them, the forms sent,
//! and the refresh timing.

use super::*;

fn ok(body: &str) -> Result<Issued, Failure> {
    parse(200, body.as_bytes())
}

#[test]
fn a_bearer_token_response_gives_its_token_and_lifetime() {
    let issued = ok(r#"{"access_token":"abc.DEF-_~+/=","token_type":"bearer","expires_in":3600}"#);
    assert_eq!(
        issued,
        Ok(Issued {
            token: "abc.DEF-_~+/=".into(),
            lifetime: Duration::from_secs(3600),
        })
    );
    let default = ok(r#"{"access_token":"t","token_type":"Bearer"}"#).unwrap();
    assert_eq!(default.lifetime, DEFAULT_LIFETIME);
    let fraction = ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":1.5}"#).unwrap();
    assert_eq!(fraction.lifetime, Duration::from_millis(1500));
    let huge = ok(r#"{"access_token":"t","token_type":"Bearer","expires_in":1e300}"#).unwrap();
    assert_eq!(huge.lifetime, MAX_LIFETIME);
}

#[test]
fn answers_that_are_no_usable_token_are_refused_without_naming_the_token() {
    for (body, why) in [
        ("not json", "without access_token"),
        (r#"{"token_type":"Bearer"}"#, "without access_token"),
        (r#"{"access_token":"t","token_type":"mac"}"#, "not Bearer"),
        (r#"{"access_token":"t"}"#, "not Bearer"),
        (
            r#"{"access_token":"a b","token_type":"Bearer"}"#,
            "b64token",
        ),
        (
            r#"{"access_token":"a\r\nX: y","token_type":"Bearer"}"#,
            "b64token",
        ),
        (r#"{"access_token":"","token_type":"Bearer"}"#, "b64token"),
        (
            r#"{"access_token":"t","token_type":"Bearer","expires_in":-1}"#,
            "expires_in",
        ),
        (
            r#"{"access_token":"t","token_type":"Bearer","expires_in":"60"}"#,
            "expires_in",
        ),
    ] {
        match ok(body) {
            Err(Failure::Unavailable(reason)) => {
                assert!(reason.contains(why), "{body}: {reason}");
                assert!(!reason.contains("a b"), "{reason}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
    let long = format!(
        r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
        "a".repeat(9000)
    );
    assert!(matches!(ok(&long), Err(Failure::Unavailable(_))));
}

#[test]
fn oauth_errors_are_refusals_and_other_statuses_unavailability() {
    let refused = parse(
        400,
        br#"{"error":"invalid_client","error_description":"x"}"#,
    );
    assert_eq!(
        refused,
        Err(Failure::Refused("status 400, invalid_client".into()))
    );
    let odd = parse(401, b"<html>");
    assert_eq!(
        odd,
        Err(Failure::Refused("status 401, no error code".into()))
    );
    let quoted = parse(400, br#"{"error":"a\"b"}"#);
    assert_eq!(
        quoted,
        Err(Failure::Refused("status 400, no error code".into()))
    );
    let down = parse(503, b"{}");
    assert_eq!(down, Err(Failure::Unavailable("status 503".into())));
}

#[test]
fn refresh_comes_at_four_fifths_of_the_lifetime_but_not_in_a_loop() {
    assert_eq!(
        refresh_after(Duration::from_secs(3600)),
        Duration::from_secs(2880)
    );
    assert_eq!(
        refresh_after(Duration::from_secs(5)),
        Duration::from_secs(4)
    );
    assert_eq!(refresh_after(Duration::ZERO), MIN_REFRESH);
    assert_eq!(refresh_after(Duration::from_millis(500)), MIN_REFRESH);
}

fn oauth(toml: &str) -> UpstreamOAuth {
    let text = format!(
        "[upstreams.up]\nurl = \"http://127.0.0.1:2/mcp\"\n[upstreams.up.oauth]\n\
         token_url = \"http://127.0.0.1:1/token\"\nclient_id = \"c\"\n\
         client_secret_env = \"PATH\"\n{toml}"
    );
    let config = crate::config::from_toml_str(&text, "test").unwrap();
    config.upstreams[0].oauth.clone().unwrap()
}

#[test]
fn forms_carry_the_grant_and_the_configured_fields() {
    let plain = oauth("");
    assert_eq!(
        client_credentials_form(&plain),
        b"grant_type=client_credentials"
    );
    let full = oauth(
        "scopes = [\"a\", \"b:c\"]\naudience = \"https://up.example\"\n\
         resource = \"https://up.example/mcp\"",
    );
    let form = String::from_utf8(client_credentials_form(&full)).unwrap();
    assert_eq!(
        form,
        "grant_type=client_credentials&scope=a+b%3Ac&audience=https%3A%2F%2Fup.example\
         &resource=https%3A%2F%2Fup.example%2Fmcp"
    );
    let exchange = String::from_utf8(exchange_form(&plain, "tok&en")).unwrap();
    assert_eq!(
        exchange,
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
         &subject_token=tok%26en\
         &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
         &requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
    );
}
