//! [`RouteAuth`]: who may use a route (`[listeners.NAME.routes.auth]`, `--auth-*`,
//! `--api-keys`): OAuth 2.1 access tokens from one issuer, API keys from a file, or both, and
//! the scopes every credential must carry. Resolved from the raw table here; the listener's
//! public URL (the route's resource identifier, RFC 8707/9728) comes in from `resolve.rs`.
//!
//! Not here: checking credentials (the auth module), fetching signing keys.

use std::path::Path;

use super::api_keys::ApiKeys;
use super::error::Error;
use super::raw::RawAuth;

/// The checks of one route's requests (every POST, GET and DELETE, legacy SSE included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAuth {
    /// OAuth access tokens (`issuer`), when set.
    pub oauth: Option<OAuthConfig>,
    /// API keys (`api_keys`), when set.
    pub api_keys: Option<ApiKeys>,
    /// Scopes every credential must carry (`scopes`); missing ones get 403.
    pub scopes: Vec<String>,
    /// This route's resource identifier: the listener's public URL and the route's path. The
    /// default audience, and `resource` in its Protected Resource Metadata.
    pub resource: String,
}

/// Where tokens come from and what they must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The authorization server's issuer identifier: tokens' `iss` must equal it.
    pub issuer: String,
    /// The JWK Set URL (`jwks`); `None`: from the issuer's metadata (RFC 8414, then OIDC).
    pub jwks: Option<String>,
    /// The `aud` tokens must carry (`audience`, default [`RouteAuth::resource`]).
    pub audience: String,
}

impl RouteAuth {
    /// The path of this route's Protected Resource Metadata (RFC 9728 §3.1: the well-known
    /// prefix before the resource's path), e.g. `/.well-known/oauth-protected-resource/mcp`.
    pub fn metadata_path(&self, route_path: &str) -> String {
        format!("{WELL_KNOWN}{route_path}")
    }

    /// The absolute URL of that document, for `WWW-Authenticate: Bearer resource_metadata=`.
    pub fn metadata_url(&self, route_path: &str) -> String {
        let origin = self
            .resource
            .strip_suffix(route_path)
            .unwrap_or(&self.resource);
        format!("{origin}{WELL_KNOWN}{route_path}")
    }
}

/// RFC 9728's well-known path.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Resolves a route's `auth` table; `resource` is the listener's public URL + the route path.
///
/// # Errors
/// Neither `issuer` nor `api_keys` set; `jwks`/`audience`/`scopes` without anything to
/// check; an issuer or JWKS URL that is not `https://` (or `http://` on a loopback host); an
/// unreadable or invalid key file; a scope that cannot be written in a header.
pub(super) fn resolve_auth(
    key: &str,
    raw: Option<&RawAuth>,
    resource: &str,
) -> Result<Option<RouteAuth>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.issuer.is_none() && raw.api_keys.is_none() {
        return Err(Error::Missing {
            key: format!("{key}.issuer"),
            allowed: "an auth table checks OAuth tokens (`issuer`), API keys (`api_keys`) or \
                      both: set at least one",
        });
    }
    if raw.issuer.is_none() && (raw.jwks.is_some() || raw.audience.is_some()) {
        return Err(Error::Missing {
            key: format!("{key}.issuer"),
            allowed: "`jwks` and `audience` describe OAuth tokens: set `issuer` too",
        });
    }
    let oauth = match &raw.issuer {
        None => None,
        Some(issuer) => {
            let issuer = auth_url(&format!("{key}.issuer"), issuer)?;
            let jwks = raw
                .jwks
                .as_deref()
                .map(|jwks| auth_url(&format!("{key}.jwks"), jwks))
                .transpose()?;
            let audience = match raw.audience.as_deref() {
                None => resource.to_owned(),
                Some(aud) if is_header_safe(aud) => aud.to_owned(),
                Some(aud) => {
                    return Err(Error::Invalid {
                        key: format!("{key}.audience"),
                        value: format!("{aud:?}"),
                        allowed: "a non-empty audience of visible ASCII characters without \
                                  quotes (usually this route's public URL)",
                    })
                }
            };
            Some(OAuthConfig {
                issuer,
                jwks,
                audience,
            })
        }
    };
    let scopes = raw.scopes.clone().unwrap_or_default();
    if let Some(bad) = scopes
        .iter()
        .find(|s| !is_header_safe(s) || s.contains(' '))
    {
        return Err(Error::Invalid {
            key: format!("{key}.scopes"),
            value: format!("{bad:?}"),
            allowed: "scope names of visible ASCII characters without spaces or quotes",
        });
    }
    let api_keys = raw
        .api_keys
        .as_deref()
        .map(|file| ApiKeys::load(&format!("{key}.api_keys"), Path::new(file)))
        .transpose()?;
    Ok(Some(RouteAuth {
        oauth,
        api_keys,
        scopes,
        resource: resource.to_owned(),
    }))
}

/// An issuer or JWKS URL: `https://`, or `http://` on a loopback host (a token's keys must
/// not be fetchable by anyone on the path).
pub(super) fn auth_url(key: &str, text: &str) -> Result<String, Error> {
    let invalid = || Error::Invalid {
        key: key.to_owned(),
        value: format!("{text:?}"),
        allowed: "an absolute https:// URL without credentials, query or fragment (http:// \
                  only on a loopback host such as 127.0.0.1 or localhost)",
    };
    let url = url::Url::parse(text).map_err(|_| invalid())?;
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback_host(&url));
    if !scheme_ok || !bare(&url) {
        return Err(invalid());
    }
    // As written: `iss` is compared with the issuer byte for byte (RFC 8414 §3.3).
    Ok(text.to_owned())
}

/// The public URL a listener on `bind` has without `public_url`: its address as an origin,
/// written as a written one would be normalized (`http://127.0.0.1:80` is `http://127.0.0.1`).
pub(super) fn default_public_url(bind: std::net::SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let text = format!("{scheme}://{bind}");
    url::Url::parse(&text).map_or(text, |url| url.origin().ascii_serialization())
}

/// A host and nothing a setting's URL must not carry: credentials, a query, a fragment.
fn bare(url: &url::Url) -> bool {
    url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
}

/// Whether `url`'s host is a loopback address or `localhost` (where `http://` is accepted for
/// an authorization server: nobody else is on the path).
pub fn loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Visible ASCII without `"` or `\`: safe inside a quoted header parameter.
pub(super) fn is_header_safe(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\')
}

/// The listener's public URL (`public_url`): `scheme://host[:port]`, no path. Default: the
/// bind address with `https://` on a TLS listener, `http://` otherwise; a wildcard bind has
/// no usable default, so a route with `auth` on it needs the setting.
///
/// # Errors
/// Not such a URL, or a wildcard bind without it while a route checks credentials.
pub(super) fn public_url(
    key: &str,
    raw: Option<&str>,
    bind: std::net::SocketAddr,
    tls: bool,
    needed: bool,
) -> Result<String, Error> {
    let Some(text) = raw else {
        if needed && bind.ip().is_unspecified() {
            return Err(Error::Missing {
                key: key.to_owned(),
                allowed: "a route of this listener checks credentials and the listener binds a \
                          wildcard address: set the URL clients use to reach it (e.g. \
                          \"https://mcp.example.com\"), the tokens' audience",
            });
        }
        return Ok(default_public_url(bind, tls));
    };
    let invalid = || Error::Invalid {
        key: key.to_owned(),
        value: format!("{text:?}"),
        allowed: "an origin: http:// or https://, a host and an optional port, no path, query \
                  or credentials (e.g. \"https://mcp.example.com\")",
    };
    let url = url::Url::parse(text).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.path() != "/" || !bare(&url) {
        return Err(invalid());
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
