//! Authentication of a route's requests: who sent it ([`Principal`]), from an OAuth 2.1
//! access token (a JWT of the configured issuer, checked as the MCP authorization spec asks
//! of a resource server) or an API key, and whether it carries the route's scopes. Also the
//! route's Protected Resource Metadata (RFC 9728), which tells clients where to get a token.
//!
//! One [`Authenticator`] per route per shard, built from the config snapshot: the issuer's
//! keys are fetched by the shard itself (keys.rs), the API key file re-read on SIGHUP.
//! Files: the credential in the head (credential.rs), token checks (jwt.rs, jwks.rs), where
//! keys come from (keys.rs, discovery.rs; the HTTP exchange is `upstream::fetch`), API keys (api_key.rs), the 401/403
//! challenge (challenge.rs), the metadata document (metadata.rs), verified tokens kept for
//! their lifetime (cache.rs).
//! Not here: where in the pipeline it runs and the HTTP answer (the proxy), sessions'
//! owners (the session table).
//! Hot path: a token seen before costs one hash lookup (cache.rs); a route without `auth`
//! has no authenticator at all.

mod api_key;
mod cache;
mod challenge;
mod credential;
mod discovery;
mod jwks;
mod jwt;
mod keys;
mod metadata;

pub use challenge::challenge;

use std::cell::RefCell;
use std::rc::Rc;

use shards::io::ShardIo;
use shards::latch::Latch;

use crate::config::{ApiKeys, RouteAuth, RouteConfig};
use crate::http::RequestHead;
use crate::pipeline::Caller;
use crate::session::Principal;

use cache::TokenCache;
use credential::Credential;
use jwt::TokenError;
use keys::IssuerKeys;

/// Why a request is not let in (see `challenge.rs` for statuses and texts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credential at all.
    Missing,
    /// A credential that is not acceptable (why, for `error_description`).
    Invalid(&'static str),
    /// A valid credential without every required scope (the scopes needed).
    InsufficientScope(String),
    /// A credential in the query string.
    TokenInQuery,
    /// A token whose key we could not get: the issuer's keys are unreachable.
    KeysUnavailable,
}

/// One route's authentication on one shard.
#[derive(Debug)]
pub struct Authenticator {
    config: RouteAuth,
    route_path: String,
    keys: Option<Rc<IssuerKeys>>,
    api_keys: RefCell<Option<Rc<ApiKeys>>>,
    tokens: RefCell<TokenCache>,
}

impl Authenticator {
    /// The authenticator of `route`, when it has `auth`.
    pub fn new(io: &ShardIo, route: &RouteConfig) -> Option<Rc<Authenticator>> {
        let config = route.auth.clone()?;
        let keys = config.oauth.as_ref().map(|oauth| {
            Rc::new(IssuerKeys::new(
                io.clone(),
                &oauth.issuer,
                oauth.jwks.as_deref(),
            ))
        });
        let api_keys = config.api_keys.clone().map(Rc::new);
        Some(Rc::new(Authenticator {
            config,
            route_path: route.path.clone(),
            keys,
            api_keys: RefCell::new(api_keys),
            tokens: RefCell::new(TokenCache::default()),
        }))
    }

    /// Keeps the issuer's keys fresh until `stop` fires (nothing to do without OAuth).
    pub async fn maintain(self: Rc<Self>, stop: &Latch) {
        if let Some(keys) = self.keys.clone() {
            keys.maintain(stop).await;
        }
    }

    /// Who sent `head`, if they may use the route.
    ///
    /// # Errors
    /// Why not (the proxy answers with [`AuthError::status`] and [`Authenticator::challenge`]).
    pub async fn authenticate(&self, head: &RequestHead) -> Result<Rc<Caller>, AuthError> {
        let caller = match credential::credential(head)? {
            Credential::Absent => return Err(AuthError::Missing),
            Credential::ApiKey(key) => self.api_key(key)?,
            Credential::Bearer(value) if looks_like_jwt(value) && self.keys.is_some() => {
                let generation = self.keys.as_ref().map_or(0, |k| k.generation());
                if let Some(caller) = self.tokens.borrow_mut().get(value, generation) {
                    return Ok(caller);
                }
                let (caller, expires) = self.token(value).await?;
                self.check_scopes(&caller.scopes)?;
                let caller = Rc::new(caller);
                let generation = self.keys.as_ref().map_or(0, |k| k.generation());
                self.tokens
                    .borrow_mut()
                    .insert(value, caller.clone(), (expires, generation));
                return Ok(caller);
            }
            Credential::Bearer(value) => self.api_key(value)?,
        };
        self.check_scopes(&caller.scopes)?;
        Ok(Rc::new(caller))
    }

    /// The `WWW-Authenticate` value for `error`, if it gets one.
    pub fn challenge(&self, error: &AuthError) -> Option<String> {
        let metadata = self
            .config
            .oauth
            .as_ref()
            .map(|_| self.config.metadata_url(&self.route_path));
        challenge(error, metadata.as_deref(), &self.config.scopes)
    }

    /// The route's Protected Resource Metadata document (OAuth routes only).
    pub fn metadata(&self) -> Option<Vec<u8>> {
        metadata::document(&self.config)
    }

    /// Re-reads the API key file (SIGHUP). A file that no longer loads keeps the keys in use.
    pub fn reload_api_keys(&self) {
        let Some(file) = self.config.api_keys.as_ref().map(|k| k.file.clone()) else {
            return;
        };
        match ApiKeys::load("api_keys", &file) {
            Ok(keys) => {
                tracing::info!(file = %file.display(), keys = keys.keys.len(), "API keys reloaded");
                *self.api_keys.borrow_mut() = Some(Rc::new(keys));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reload the API keys; keeping the ones in use");
            }
        }
    }

    /// An API key's caller.
    fn api_key(&self, presented: &str) -> Result<Caller, AuthError> {
        let keys = self.api_keys.borrow().clone();
        let keys = keys.ok_or(AuthError::Invalid("this endpoint takes no API keys"))?;
        let key = api_key::find(&keys, presented).ok_or(AuthError::Invalid("unknown API key"))?;
        Ok(Caller {
            principal: Principal::key(&keys.file.to_string_lossy(), &key.name),
            scopes: key.scopes.clone(),
            claims: serde_json::Map::new(),
        })
    }

    /// A token's caller and expiry; an unknown key id refreshes the keys once.
    async fn token(&self, token: &str) -> Result<(Caller, u64), AuthError> {
        let (Some(keys), Some(oauth)) = (&self.keys, &self.config.oauth) else {
            return Err(AuthError::Invalid("this endpoint takes no access tokens"));
        };
        let verify = |set: &jwks::KeySet| jwt::verify(token, set, &oauth.issuer, &oauth.audience);
        let claims = match verify(&keys.current()) {
            Err(TokenError::UnknownKey) => {
                keys.refresh_for_unknown_key().await;
                let set = keys.current();
                match verify(&set) {
                    Err(TokenError::UnknownKey) if set.is_empty() => {
                        return Err(AuthError::KeysUnavailable)
                    }
                    other => other,
                }
            }
            other => other,
        };
        match claims {
            Ok(claims) => Ok((
                Caller {
                    // The token rides with the principal: an upstream with token exchange
                    // gets the one exchanged for it (cached with the caller: one allocation
                    // and one SHA-256 per token and shard).
                    principal: Principal::token(&oauth.issuer, &claims.subject)
                        .presenting(Some(token.into())),
                    scopes: claims.scopes,
                    claims: claims.claims,
                },
                claims.expires,
            )),
            Err(TokenError::UnknownKey) => Err(AuthError::Invalid(
                "the token is signed with a key the authorization server does not publish",
            )),
            Err(TokenError::Invalid(why)) => Err(AuthError::Invalid(why)),
        }
    }

    /// Every required scope is among `held`.
    fn check_scopes(&self, held: &[String]) -> Result<(), AuthError> {
        let missing = self.config.scopes.iter().any(|s| !held.contains(s));
        if missing {
            return Err(AuthError::InsufficientScope(self.config.scopes.join(" ")));
        }
        Ok(())
    }
}

/// Three base64url parts: a JWS in compact form (anything else is an API key).
fn looks_like_jwt(value: &str) -> bool {
    value.split('.').count() == 3
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
