//! Verifies one OAuth access token (a JWT): an asymmetric signature by a key of the issuer's
//! set, `iss`, `aud` (RFC 8707: issued for this resource), `exp` and `nbf` with a small
//! leeway, and a `sub` to name the principal. `alg: none` and HMAC algorithms are refused
//! before any key is looked at, so a public key can never be used as an HMAC secret.
//!
//! Not here: where the keys come from (keys.rs), scopes (mod.rs), the HTTP answer.

use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::Deserialize;

use super::jwks::KeySet;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub(super) const LEEWAY_SECS: u64 = 30;

/// Why a token was refused. The text goes into `error_description` (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenError {
    /// No key of the set has the token's `kid` (or fits its algorithm): the set may be stale.
    UnknownKey,
    /// Anything else: the description.
    Invalid(&'static str),
}

/// What a valid token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenClaims {
    /// `sub`.
    pub(super) subject: String,
    /// `scope` (space-separated, RFC 9068) or `scp` (an array, as some servers send).
    pub(super) scopes: Vec<String>,
    /// `exp`, in seconds since the epoch.
    pub(super) expires: u64,
    /// Every claim (for policy rules about `groups`, `roles`, ...).
    pub(super) claims: serde_json::Map<String, serde_json::Value>,
}

/// The claims read; the rest (`iss`, `aud`, `exp`, `nbf`) is checked by `Validation`. The
/// whole claim set is kept beside them.
#[derive(Deserialize)]
struct Claims {
    exp: u64,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: Option<Scp>,
    #[serde(default)]
    scp: Option<Scp>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scp {
    List(Vec<String>),
    Text(String),
}

/// Checks `token` against `keys`, the `issuer` and the `audience`.
///
/// # Errors
/// [`TokenError::UnknownKey`] when no key fits (refresh the set and try once more), otherwise
/// why the token is not acceptable.
pub(super) fn verify(
    token: &str,
    keys: &KeySet,
    issuer: &str,
    audience: &str,
) -> Result<TokenClaims, TokenError> {
    let header = decode_header(token).map_err(|_| {
        // jsonwebtoken knows no `none`: an unsigned token fails here, as does garbage.
        TokenError::Invalid("the token is not a signed JWT with a supported algorithm")
    })?;
    if matches!(
        header.alg,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(TokenError::Invalid(
            "HMAC-signed tokens are not accepted: the issuer's tokens carry asymmetric signatures",
        ));
    }
    let key = keys
        .find(header.kid.as_deref(), header.alg)
        .ok_or(TokenError::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = decode::<serde_json::Map<String, serde_json::Value>>(token, &key.key, &validation)
        .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        TokenError::Invalid(match e.kind() {
            K::InvalidSignature => "the signature does not verify",
            K::ExpiredSignature => "the token has expired",
            K::ImmatureSignature => "the token is not valid yet (nbf)",
            K::InvalidIssuer => "the token was issued by another authorization server",
            K::InvalidAudience => "the token was issued for another resource (aud)",
            K::MissingRequiredClaim(_) => "the token lacks exp, iss, aud or sub",
            K::InvalidAlgorithm => "the token's algorithm does not fit its key",
            _ => "the token is malformed",
        })
    })?;
    let all = data.claims;
    let claims: Claims = serde_json::from_value(serde_json::Value::Object(all.clone()))
        .map_err(|_| TokenError::Invalid("the token's claims are malformed"))?;
    let subject = claims
        .sub
        .filter(|s| !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_control))
        .ok_or(TokenError::Invalid("the token's sub is empty or malformed"))?;
    // `scope` is space-separated text (RFC 9068); some servers send it, or `scp`, as an array.
    let mut scopes: Vec<String> = Vec::new();
    for claim in [claims.scope, claims.scp].into_iter().flatten() {
        match claim {
            Scp::List(list) => scopes.extend(list.into_iter().filter(|s| !s.is_empty())),
            Scp::Text(text) => {
                scopes.extend(text.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
            }
        }
    }
    Ok(TokenClaims {
        subject,
        scopes,
        expires: claims.exp,
        claims: all,
    })
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
