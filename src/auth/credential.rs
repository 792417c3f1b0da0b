//! The credential a request carries: `Authorization: Bearer VALUE` or `X-API-Key: VALUE`, and
//! the refusals of credentials sent where they must not be (the query string) or sent twice.
//!
//! Not here: checking the value (jwt.rs, api_key.rs).
//! Hot path: borrows from the head; nothing allocates.

use crate::http::{Head, RequestHead};

use super::AuthError;

/// What the request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credential<'h> {
    /// Nothing: 401 with the challenge that tells the client where to get a token.
    Absent,
    /// `Authorization: Bearer VALUE` (a token or an API key).
    Bearer(&'h str),
    /// `X-API-Key: VALUE`.
    ApiKey(&'h str),
}

/// Query parameters that carry a token in URLs (RFC 6750 §2.3): refused, as OAuth 2.1 and the
/// MCP authorization spec demand, because URLs end up in logs and browser history.
const QUERY_TOKENS: [&[u8]; 2] = [b"access_token", b"api_key"];

/// The request's credential.
///
/// # Errors
/// A token in the query string (400), a repeated `Authorization` or `X-API-Key`, another
/// scheme than `Bearer`, or a value that is not visible ASCII (401 `invalid_request`-like,
/// reported as an invalid token).
pub(super) fn credential(head: &RequestHead) -> Result<Credential<'_>, AuthError> {
    if let Some(query) = head.query() {
        let in_query = query.split(|&b| b == b'&').any(|pair| {
            let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
            QUERY_TOKENS.iter().any(|t| name.eq_ignore_ascii_case(t))
        });
        if in_query {
            return Err(AuthError::TokenInQuery);
        }
    }
    let authorization = single(head, "authorization")?;
    let api_key = single(head, "x-api-key")?;
    match (authorization, api_key) {
        (None, None) => Ok(Credential::Absent),
        (Some(_), Some(_)) => Err(AuthError::Invalid(
            "send one credential: Authorization or X-API-Key, not both",
        )),
        (Some(value), None) => bearer(value).map(Credential::Bearer),
        (None, Some(value)) => visible(value).map(Credential::ApiKey),
    }
}

/// The one value of header `name`; a repeated one is refused (two credentials, two answers).
fn single<'h>(head: &'h RequestHead, name: &str) -> Result<Option<&'h [u8]>, AuthError> {
    head.fields()
        .only(name)
        .map_err(|_| AuthError::Invalid("repeated credential header"))
}

/// `Bearer VALUE` (scheme case-insensitive, RFC 9110 §11.1) → VALUE.
fn bearer(value: &[u8]) -> Result<&str, AuthError> {
    let (scheme, rest) = value
        .iter()
        .position(|&b| b == b' ')
        .map_or((value, &[][..]), |at| value.split_at(at));
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::Invalid(
            "the Authorization scheme must be Bearer",
        ));
    }
    visible(rest.trim_ascii())
}

/// A non-empty value of visible ASCII (a token68 or an API key).
fn visible(value: &[u8]) -> Result<&str, AuthError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_graphic) {
        return Err(AuthError::Invalid("the credential is empty or malformed"));
    }
    std::str::from_utf8(value).map_err(|_| AuthError::Invalid("the credential is malformed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{parse_request, Limits};

    fn with(target: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut text = format!("POST {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        parse_request(text.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn reads_bearer_and_api_key_headers() {
        let head = with("/mcp", &[("Authorization", "bearer abc.def.ghi")]);
        assert_eq!(credential(&head), Ok(Credential::Bearer("abc.def.ghi")));
        let head = with("/mcp", &[("X-API-Key", "k-123")]);
        assert_eq!(credential(&head), Ok(Credential::ApiKey("k-123")));
        assert_eq!(credential(&with("/mcp", &[])), Ok(Credential::Absent));
        // A query without token parameters is fine.
        let head = with("/messages?sessionId=x&tokenish=1", &[]);
        assert_eq!(credential(&head), Ok(Credential::Absent));
    }

    #[test]
    fn refuses_query_tokens_other_schemes_and_repeats() {
        let head = with("/mcp?access_token=abc", &[("Authorization", "Bearer x")]);
        assert_eq!(credential(&head), Err(AuthError::TokenInQuery));
        let head = with("/messages?sessionId=1&API_KEY=k", &[]);
        assert_eq!(credential(&head), Err(AuthError::TokenInQuery));
        for headers in [
            &[("Authorization", "Basic dXNlcjpwdw==")][..],
            &[("Authorization", "Bearer")],
            &[("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
            &[("X-API-Key", "a"), ("x-api-key", "b")],
            &[("Authorization", "Bearer a"), ("X-API-Key", "b")],
        ] {
            assert!(
                matches!(
                    credential(&with("/mcp", headers)),
                    Err(AuthError::Invalid(_))
                ),
                "{headers:?}"
            );
        }
    }
}
