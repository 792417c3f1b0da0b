//! Tests of `upstream_headers.rs`: template expansion, name and value checks, rendering, and
//! that no expanded value reaches an error, `Debug` or `config check`.

use super::*;
use crate::config::from_toml_str;

const SECRET: &str = "s3cr3t-value";

/// A lookup knowing `TOKEN` (= [`SECRET`]), `EMPTY`, `NEWLINE` (ends in `\n`) and `NUL`.
fn env(var: &str) -> Option<OsString> {
    match var {
        "TOKEN" => Some(SECRET.into()),
        "EMPTY" => Some(OsString::new()),
        "NEWLINE" => Some(format!("{SECRET}\n").into()),
        "NUL" => Some(format!("a\0{SECRET}").into()),
        _ => None,
    }
}

fn written(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn built(pairs: &[(&str, &str)]) -> Result<UpstreamHeaders, Error> {
    build("upstreams.gh.headers", &written(pairs), &env)
}

#[test]
fn references_are_replaced_and_the_rest_kept_as_written() {
    for (template, expected) in [
        ("Bearer ${env:TOKEN}", format!("Bearer {SECRET}")),
        ("${env:TOKEN}:${env:TOKEN}", format!("{SECRET}:{SECRET}")),
        ("a${env:EMPTY}b", "ab".to_owned()),
        ("plain", "plain".to_owned()),
        ("", String::new()),
        (
            "$5 and $ and $$ and $}",
            "$5 and $ and $$ and $}".to_owned(),
        ),
        ("$${env:TOKEN}", "${env:TOKEN}".to_owned()),
        ("x$$${env:TOKEN}", "x$${env:TOKEN}".to_owned()),
    ] {
        assert_eq!(
            expand(template, &env).as_deref(),
            Ok(expected.as_bytes()),
            "{template}"
        );
    }
}

#[test]
fn a_dollar_brace_that_starts_no_reference_is_an_error() {
    for template in [
        "${TOKEN}",
        "${env:}",
        "${env:1A}",
        "${env:TO-KEN}",
        "${env:TOKEN",
        "${ env:TOKEN}",
        "${ENV:TOKEN}",
        "trailing ${",
    ] {
        assert_eq!(expand(template, &env), Err(Expand::Syntax), "{template}");
    }
    assert_eq!(
        expand("Bearer ${env:UNSET_VAR}", &env),
        Err(Expand::Unset("UNSET_VAR".into()))
    );
}

#[test]
fn lines_are_rendered_once_in_name_order() {
    let headers = built(&[
        ("X-Tenant", "acme"),
        ("Authorization", "Bearer ${env:TOKEN}"),
    ])
    .unwrap();
    assert_eq!(
        headers.lines(),
        format!("Authorization: Bearer {SECRET}\r\nX-Tenant: acme\r\n").as_bytes()
    );
    assert_eq!(
        headers.names().collect::<Vec<_>>(),
        ["Authorization", "X-Tenant"]
    );
    assert!(headers.replaces(b"authorization") && headers.replaces(b"X-TENANT"));
    assert!(!headers.replaces(b"x-api-key"));
    let templates: Vec<_> = headers.templates().collect();
    assert_eq!(
        templates,
        [
            ("Authorization", "Bearer ${env:TOKEN}"),
            ("X-Tenant", "acme")
        ]
    );
    let none = UpstreamHeaders::default();
    assert!(none.is_empty() && none.lines().is_empty() && !none.replaces(b"x-tenant"));
}

#[test]
fn debug_shows_names_never_values_or_templates() {
    let headers = built(&[("Authorization", "Bearer ${env:TOKEN}")]).unwrap();
    let debug = format!("{headers:?}");
    assert!(debug.contains("Authorization"), "{debug}");
    for hidden in [SECRET, "Bearer", "env:"] {
        assert!(!debug.contains(hidden), "{hidden} in {debug}");
    }
}

#[test]
fn names_the_proxy_owns_and_non_tokens_are_refused() {
    for name in [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Authorization",
        "Mcp-Session-Id",
        "MCP-Protocol-Version",
        "Last-Event-ID",
        "Accept",
        "Content-Type",
        "Accept-Encoding",
        "Mcp-Method",
        "Mcp-Param-Region",
        "",
        "Bad Name",
        "Bad:Name",
        "Bäd",
    ] {
        let err = built(&[(name, "v")]).unwrap_err();
        assert!(
            matches!(&err, Error::BadHeader { header, .. } if header == name),
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains("not Host, Content-Length"),
            "{err}"
        );
    }
    for fine in [
        "X-API-Key",
        "Authorization",
        "Cookie",
        "x-tenant",
        "Mcp-Tenant",
    ] {
        assert!(built(&[(fine, "v")]).is_ok(), "{fine}");
    }
}

#[test]
fn one_name_in_two_cases_is_refused() {
    let err = built(&[("X-Tenant", "a"), ("x-tenant", "b")]).unwrap_err();
    assert!(err.to_string().contains("each header name once"), "{err}");
}

#[test]
fn bad_values_are_refused_without_showing_them() {
    for (template, why) in [
        ("${env:NEWLINE}", "control characters"),
        ("${env:NUL}", "control characters"),
        ("a\r\nInjected: ${env:TOKEN}", "control characters"),
        ("${TOKEN} ${env:TOKEN}", "`${env:NAME}` reference"),
    ] {
        let err = built(&[("Authorization", template)]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(why), "{template:?}: {text}");
        assert!(text.contains("`upstreams.gh.headers`: header `Authorization`"));
        assert!(
            !text.contains(SECRET) && !text.contains("Injected"),
            "{text}"
        );
    }
    assert!(built(&[("X-Tab", "a\tb")]).is_ok());
}

#[test]
fn an_unset_variable_is_named_with_the_upstream_and_header() {
    let err = built(&[("Authorization", "Bearer ${env:GITHUB_TOKEN}")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`upstreams.gh.headers`: header `Authorization` refers to ${env:GITHUB_TOKEN}, which is \
         not set in shadowcat's environment: set it, or write `$${` for a literal `${`"
    );
    assert_eq!(err.key(), Some("upstreams.gh.headers"));
}

#[test]
fn count_and_size_are_bounded() {
    let names: Vec<String> = (0..=MAX_UPSTREAM_HEADERS)
        .map(|i| format!("X-{i}"))
        .collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert!(built(many.get(..MAX_UPSTREAM_HEADERS).unwrap()).is_ok());
    let err = built(&many).unwrap_err();
    assert!(err.to_string().contains("at most 32 headers"), "{err}");
    let long = "x".repeat(MAX_UPSTREAM_HEADER_BYTES);
    let err = built(&[("X-Long", &long)]).unwrap_err();
    assert!(err.to_string().contains("at most 8 KiB"), "{err}");
    assert!(!err.to_string().contains(&long));
}

const HTTP: &str = "[upstreams.gh]\nurl = \"http://127.0.0.1:9000/mcp\"\n";

#[test]
fn a_file_expands_from_the_process_environment() {
    // PATH is set wherever tests run; its value stands in for a secret.
    let path = std::env::var_os("PATH").expect("PATH is set");
    let text = format!("{HTTP}headers = {{ \"X-Path\" = \"<${{env:PATH}}>\" }}\n");
    let config = from_toml_str(&text, "t.toml").unwrap();
    let mut expected = b"X-Path: <".to_vec();
    expected.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()));
    expected.extend_from_slice(b">\r\n");
    assert_eq!(config.upstreams[0].headers.lines(), expected);
    // Printed as written, and the printed file loads back into an equal config.
    let printed = crate::config::to_toml(&config);
    assert!(
        printed.contains("[upstreams.gh.headers]\nX-Path = \"<${env:PATH}>\""),
        "{printed}"
    );
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);
    let debug = format!("{config:?}");
    assert!(!debug.contains("env:PATH") && debug.contains("X-Path"));
}

#[test]
fn a_missing_variable_stops_the_load() {
    let text = format!(
        "{HTTP}headers = {{ Authorization = \"Bearer ${{env:SHADOWCAT_TEST_UNSET_7F3A}}\" }}\n"
    );
    let err = from_toml_str(&text, "t.toml").unwrap_err().to_string();
    assert!(
        err.starts_with(
            "t.toml: `upstreams.gh.headers`: header `Authorization` refers to \
             ${env:SHADOWCAT_TEST_UNSET_7F3A}, which is not set"
        ),
        "{err}"
    );
}

#[test]
fn headers_go_with_http_and_sse_upstreams_only() {
    let sse = "[upstreams.gh]\nurl = \"http://127.0.0.1:9000/sse\"\ntransport = \"sse\"\n\
               headers = { X-Tenant = \"acme\" }\n";
    let config = from_toml_str(sse, "t.toml").unwrap();
    assert_eq!(config.upstreams[0].headers.lines(), b"X-Tenant: acme\r\n");
    let printed = crate::config::to_toml(&config);
    assert_eq!(from_toml_str(&printed, "printed").unwrap(), config);
    let stdio = "[upstreams.gh]\ncommand = [\"cat\"]\nheaders = { X-Tenant = \"acme\" }\n";
    let err = from_toml_str(stdio, "t.toml").unwrap_err().to_string();
    assert!(
        err.contains("`upstreams.gh.headers` and `upstreams.gh.command` cannot both be set")
            && err.contains("(env)"),
        "{err}"
    );
}
