//! Finds an issuer's JWK Set URL from its metadata: RFC 8414
//! (`/.well-known/oauth-authorization-server`, inserted before the issuer's path), then
//! OpenID Connect discovery (`/.well-known/openid-configuration`, appended). The document's
//! `issuer` must equal the configured one (RFC 8414 §3.3: metadata for someone else is
//! refused), and its `jwks_uri` must be `https://` (or `http://` on a loopback host).
//!
//! Not here: fetching (fetch.rs), the keys (keys.rs).

use std::time::Duration;

use shards::io::ShardIo;

use crate::upstream::fetch;

/// The metadata URLs to try for `issuer`, in order.
pub(super) fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = Vec::with_capacity(2);
    if let Ok(url) = url::Url::parse(trimmed) {
        let origin = url.origin().ascii_serialization();
        let path = url.path().trim_end_matches('/');
        urls.push(format!(
            "{origin}/.well-known/oauth-authorization-server{path}"
        ));
    }
    urls.push(format!("{trimmed}/.well-known/openid-configuration"));
    urls
}

/// The issuer's `jwks_uri`.
///
/// # Errors
/// Why no metadata document gave one (for the log line).
pub(super) async fn jwks_uri(
    io: &ShardIo,
    issuer: &str,
    deadline: Duration,
) -> Result<String, String> {
    let mut reasons = Vec::new();
    for url in metadata_urls(issuer) {
        match fetch::get(io, &url, deadline).await {
            Ok(doc) => match read(&doc.body, issuer) {
                Ok(jwks) => return Ok(jwks),
                Err(reason) => reasons.push(format!("{url}: {reason}")),
            },
            Err(reason) => reasons.push(reason),
        }
    }
    Err(format!(
        "no usable authorization server metadata ({})",
        reasons.join("; ")
    ))
}

/// `jwks_uri` of one metadata document about `issuer`.
fn read(body: &[u8], issuer: &str) -> Result<String, &'static str> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    if doc.get("issuer").and_then(serde_json::Value::as_str) != Some(issuer) {
        return Err("its issuer is not the configured one");
    }
    let jwks = doc
        .get("jwks_uri")
        .and_then(serde_json::Value::as_str)
        .ok_or("no jwks_uri")?;
    let url = url::Url::parse(jwks).map_err(|_| "jwks_uri is not a URL")?;
    match url.scheme() {
        "https" => Ok(jwks.to_owned()),
        "http" if crate::config::loopback_host(&url) => Ok(jwks.to_owned()),
        _ => Err("jwks_uri is not https://"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_rfc_8414_then_oidc() {
        assert_eq!(
            metadata_urls("https://as.example.com"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("https://as.example.com/tenant/1/"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example.com/tenant/1/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn reads_jwks_uri_of_the_right_issuer_only() {
        let doc = |iss: &str, jwks: &str| {
            serde_json::json!({"issuer": iss, "jwks_uri": jwks}).to_string()
        };
        let iss = "https://as.example.com";
        assert_eq!(
            read(doc(iss, "https://as.example.com/jwks").as_bytes(), iss),
            Ok("https://as.example.com/jwks".into())
        );
        assert!(read(doc("https://evil.example", "https://x/j").as_bytes(), iss).is_err());
        assert!(read(doc(iss, "http://as.example.com/jwks").as_bytes(), iss).is_err());
        assert!(read(doc(iss, "http://127.0.0.1:9/jwks").as_bytes(), iss).is_ok());
        assert!(read(b"[]", iss).is_err());
    }
}
