//! What a refused request is told: the `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9728
//! §5.1: `resource_metadata` points at the route's Protected Resource Metadata, which names
//! the authorization server) and the status of each [`AuthError`].
//!
//! Not here: the JSON-RPC error body (the proxy's respond.rs writes it like every error).

use super::AuthError;

impl AuthError {
    /// The HTTP status: 401 (no or bad credential), 403 (a scope missing), 400 (a token in
    /// the query string), 503 (the issuer's keys cannot be fetched).
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing | AuthError::Invalid(_) => 401,
            AuthError::InsufficientScope(_) => 403,
            AuthError::TokenInQuery => 400,
            AuthError::KeysUnavailable => 503,
        }
    }

    /// The text clients see as the JSON-RPC error message.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => {
                "Authentication required: send Authorization: Bearer <token>".to_owned()
            }
            AuthError::Invalid(why) => format!("Invalid credential: {why}"),
            AuthError::InsufficientScope(scopes) => {
                format!("Insufficient scope: this endpoint needs {scopes}")
            }
            AuthError::TokenInQuery => {
                "Credentials in the query string are refused: send them in the Authorization \
                 header"
                    .to_owned()
            }
            AuthError::KeysUnavailable => {
                "The authorization server's signing keys are unavailable; try again".to_owned()
            }
        }
    }
}

/// The `WWW-Authenticate` value for `error` on a route whose metadata is at `metadata` (OAuth
/// routes; `None` on a route taking only API keys) and which needs `scopes`.
pub fn challenge(error: &AuthError, metadata: Option<&str>, scopes: &[String]) -> Option<String> {
    let mut params: Vec<(&str, String)> = Vec::with_capacity(4);
    match error {
        AuthError::Missing => {}
        AuthError::Invalid(why) => {
            params.push(("error", "invalid_token".to_owned()));
            params.push(("error_description", (*why).to_owned()));
        }
        AuthError::InsufficientScope(needed) => {
            params.push(("error", "insufficient_scope".to_owned()));
            params.push(("scope", needed.clone()));
        }
        AuthError::TokenInQuery => {
            params.push(("error", "invalid_request".to_owned()));
            params.push((
                "error_description",
                "tokens are accepted in the Authorization header only".to_owned(),
            ));
        }
        AuthError::KeysUnavailable => return None,
    }
    if matches!(error, AuthError::Missing) && !scopes.is_empty() {
        params.push(("scope", scopes.join(" ")));
    }
    match metadata {
        Some(url) => params.push(("resource_metadata", url.to_owned())),
        None if params.is_empty() => params.push(("realm", "mcp".to_owned())),
        None => {}
    }
    let mut out = String::from("Bearer ");
    for (n, (name, value)) in params.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        // Values are visible ASCII without quotes (checked at load, or fixed texts).
        out.push_str(&format!("{name}=\"{value}\""));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp";

    #[test]
    fn challenges_point_at_the_metadata() {
        let scopes = vec!["mcp:tools".to_owned(), "mcp:read".to_owned()];
        assert_eq!(
            challenge(&AuthError::Missing, Some(META), &scopes).unwrap(),
            format!("Bearer scope=\"mcp:tools mcp:read\", resource_metadata=\"{META}\"")
        );
        assert_eq!(
            challenge(
                &AuthError::Invalid("the token has expired"),
                Some(META),
                &[]
            )
            .unwrap(),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"the token has expired\", \
                 resource_metadata=\"{META}\""
            )
        );
        assert_eq!(
            challenge(&AuthError::InsufficientScope("mcp:tools".into()), Some(META), &scopes)
                .unwrap(),
            format!("Bearer error=\"insufficient_scope\", scope=\"mcp:tools\", resource_metadata=\"{META}\"")
        );
        assert_eq!(
            challenge(&AuthError::Missing, None, &[]).unwrap(),
            "Bearer realm=\"mcp\""
        );
        assert_eq!(
            challenge(&AuthError::KeysUnavailable, Some(META), &[]),
            None
        );
        assert_eq!(AuthError::InsufficientScope(String::new()).status(), 403);
        assert_eq!(AuthError::TokenInQuery.status(), 400);
    }
}
