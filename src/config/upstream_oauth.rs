//! `[upstreams.NAME.oauth]` (`--upstream-oauth-*`): the proxy's own OAuth client towards an
//! HTTP or legacy SSE upstream ([`UpstreamOAuth`]). Either client credentials (RFC 6749 §4.4:
//! one token per shard, refreshed before it expires) or, with `token_exchange = true`, each
//! caller's access token exchanged for one the upstream accepts (RFC 8693). The client
//! authenticates with HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1).
//!
//! Not here: fetching and caching tokens (`crate::credentials`), writing request heads.
//! Secrets: the secret is read from the variable `client_secret_env` names at load, kept only
//! as the rendered `Authorization: Basic` value, never printed (`config check` shows the
//! variable's name), logged or put in an error; `Debug` leaves it out.

use std::fmt;

use super::auth::RouteAuth;
use super::auth::{auth_url, is_header_safe};
use super::error::Error;
use super::raw::{RawUpstream, RawUpstreamOAuth};
use super::upstream_headers::{is_env_name, stdio_conflict, UpstreamHeaders};

/// The proxy's OAuth client towards one upstream.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamOAuth {
    /// The token endpoint (`token_url`).
    pub token_url: String,
    /// The proxy's client id there (`client_id`).
    pub client_id: String,
    /// The variable the client secret was read from (`client_secret_env`).
    pub client_secret_env: String,
    /// `Basic base64(urlencode(id):urlencode(secret))`: the client's `Authorization` value.
    basic: Box<[u8]>,
    /// Scopes asked for (`scopes`), in the order written.
    pub scopes: Vec<String>,
    /// `audience` asked for (`audience`).
    pub audience: Option<String>,
    /// `resource` asked for (`resource`, RFC 8707).
    pub resource: Option<String>,
    /// Exchange each caller's token (RFC 8693) rather than use client credentials.
    pub token_exchange: bool,
}

impl UpstreamOAuth {
    /// The client's `Authorization` header value (holds the secret: write it on the wire only).
    pub fn basic(&self) -> &[u8] {
        &self.basic
    }

    /// The form fields every token request carries besides its grant: `scope`, `audience`,
    /// `resource`, when set.
    pub fn common_fields(&self) -> impl Iterator<Item = (&'static str, std::borrow::Cow<'_, str>)> {
        let scope = (!self.scopes.is_empty()).then(|| ("scope", self.scopes.join(" ").into()));
        let audience = self.audience.as_deref().map(|a| ("audience", a.into()));
        let resource = self.resource.as_deref().map(|r| ("resource", r.into()));
        scope.into_iter().chain(audience).chain(resource)
    }

    /// The table as written (the secret's variable, never the secret), for `config check`.
    pub(super) fn to_raw(&self) -> RawUpstreamOAuth {
        RawUpstreamOAuth {
            token_url: Some(self.token_url.clone()),
            client_id: Some(self.client_id.clone()),
            client_secret_env: Some(self.client_secret_env.clone()),
            scopes: (!self.scopes.is_empty()).then(|| self.scopes.clone()),
            audience: self.audience.clone(),
            resource: self.resource.clone(),
            token_exchange: self.token_exchange.then_some(true),
        }
    }
}

impl fmt::Debug for UpstreamOAuth {
    /// Everything but the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamOAuth")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret_env", &self.client_secret_env)
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("token_exchange", &self.token_exchange)
            .finish_non_exhaustive()
    }
}

/// `upstreams.NAME.oauth` of upstream `name` (a legacy SSE one when `sse`, a stdio one when
/// `stdio`, with the static
/// `headers`), the secret read from the process environment.
///
/// # Errors
/// On a stdio upstream; `token_exchange` on a legacy SSE upstream (its one link per session
/// is opened before a caller is known to it); with an `Authorization` header configured; a
/// missing `token_url`,
/// `client_id` or `client_secret_env`; a token URL that is not `https://` (or `http://` on a
/// loopback host); an unset or empty secret variable; a value that cannot go in a form.
pub(super) fn resolve_oauth(
    name: &str,
    raw: &RawUpstream,
    (sse, stdio): (bool, bool),
    headers: &UpstreamHeaders,
) -> Result<Option<UpstreamOAuth>, Error> {
    let Some(written) = &raw.oauth else {
        return Ok(None);
    };
    let key = format!("upstreams.{name}.oauth");
    if sse && written.token_exchange == Some(true) {
        return Err(Error::Conflict {
            key: format!("{key}.token_exchange"),
            other: format!("upstreams.{name}.transport"),
            allowed: "token exchange needs Streamable HTTP (url without transport = \"sse\"); \
                      a legacy SSE upstream takes client credentials",
        });
    }
    if stdio {
        let allowed = "oauth applies to HTTP upstreams (url); a stdio server gets its \
                       credentials as environment variables (env)";
        return Err(stdio_conflict(key, name, allowed));
    }
    if headers
        .names()
        .any(|h| h.eq_ignore_ascii_case("authorization"))
    {
        return Err(Error::Conflict {
            key,
            other: format!("upstreams.{name}.headers"),
            allowed: "oauth writes the Authorization header itself: drop the configured one",
        });
    }
    build(&key, written, &|var| std::env::var(var).ok())
}

/// A route (`key`) to `upstream`: with `token_exchange`, it must check OAuth access tokens,
/// the tokens exchanged.
///
/// # Errors
/// `token_exchange` on the upstream of a route without `auth.issuer`.
pub(super) fn check_route(
    key: &str,
    upstream: Option<&UpstreamOAuth>,
    auth: Option<&RouteAuth>,
) -> Result<(), Error> {
    let exchanges = upstream.is_some_and(|o| o.token_exchange);
    if !exchanges || auth.is_some_and(|a| a.oauth.is_some()) {
        return Ok(());
    }
    Err(Error::Missing {
        key: format!("{key}.auth.issuer"),
        allowed: "the route's upstream exchanges callers' access tokens (oauth.token_exchange): \
                  the route must check OAuth access tokens (auth.issuer)",
    })
}

/// Checks `written` (keys for errors under `key`), looking the secret up with `lookup`.
fn build(
    key: &str,
    written: &RawUpstreamOAuth,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<UpstreamOAuth>, Error> {
    let field = |f: &str| format!("{key}.{f}");
    let required = |value: &Option<String>, f: &str, allowed: &'static str| {
        value.clone().ok_or_else(|| Error::Missing {
            key: field(f),
            allowed,
        })
    };
    let token_url = required(
        &written.token_url,
        "token_url",
        "the authorization server's token endpoint",
    )?;
    let token_url = auth_url(&field("token_url"), &token_url)?;
    let client_id = required(&written.client_id, "client_id", "the proxy's client id")?;
    check_text(&field("client_id"), &client_id)?;
    let client_secret_env = required(
        &written.client_secret_env,
        "client_secret_env",
        "the name of the environment variable holding the client secret",
    )?;
    if !is_env_name(&client_secret_env) {
        return Err(super::error::invalid_str(
            &field("client_secret_env"),
            &client_secret_env,
            "an environment variable name (letters, digits and _, not starting with a digit)",
        ));
    }
    let secret = lookup(&client_secret_env)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::UnsetSecret {
            key: field("client_secret_env"),
            var: client_secret_env.clone(),
        })?;
    let scopes = written.scopes.clone().unwrap_or_default();
    if let Some(bad) = scopes
        .iter()
        .find(|s| !is_header_safe(s) || s.contains(' '))
    {
        return Err(Error::Invalid {
            key: field("scopes"),
            value: format!("{bad:?}"),
            allowed: "scope names of visible ASCII characters without spaces or quotes",
        });
    }
    if let Some(audience) = &written.audience {
        check_text(&field("audience"), audience)?;
    }
    if let Some(resource) = &written.resource {
        check_resource(&field("resource"), resource)?;
    }
    Ok(Some(UpstreamOAuth {
        basic: basic(&client_id, &secret),
        token_url,
        client_id,
        client_secret_env,
        scopes,
        audience: written.audience.clone(),
        resource: written.resource.clone(),
        token_exchange: written.token_exchange.unwrap_or(false),
    }))
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> Box<[u8]> {
    use base64::Engine as _;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(id), encode(secret));
    let mut value = b"Basic ".to_vec();
    value.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(pair)
            .as_bytes(),
    );
    value.into_boxed_slice()
}

/// A non-empty value of visible ASCII without quotes.
fn check_text(key: &str, text: &str) -> Result<(), Error> {
    if is_header_safe(text) {
        return Ok(());
    }
    Err(Error::Invalid {
        key: key.to_owned(),
        value: format!("{text:?}"),
        allowed: "a non-empty value of visible ASCII characters without quotes",
    })
}

/// An RFC 8707 resource: an absolute URI without a fragment.
fn check_resource(key: &str, text: &str) -> Result<(), Error> {
    match url::Url::parse(text) {
        Ok(url) if url.fragment().is_none() && is_header_safe(text) => Ok(()),
        _ => Err(Error::Invalid {
            key: key.to_owned(),
            value: format!("{text:?}"),
            allowed: "an absolute URI without a fragment (RFC 8707), e.g. the upstream's URL",
        }),
    }
}

#[cfg(test)]
#[path = "upstream_oauth_tests.rs"]
mod tests;
