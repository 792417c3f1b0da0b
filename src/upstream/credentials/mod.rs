//! [`UpstreamCredentials`]: the access tokens one shard sends to one upstream with `oauth`
//! (`[upstreams.NAME.oauth]`), as ready header lines ([`UpstreamHeaders`] with
//! `Authorization: Bearer`), and [`HeaderLines`], what every request writer asks for.
//!
//! Client credentials: a background task per shard fetches a token at start and again at
//! 80 % of its lifetime; a failed fetch is retried with backoff (1 s doubling to 60 s) and the
//! last token is kept until it expires; an upstream's 401 asks for one early refresh. Token
//! exchange (RFC 8693): the caller's access token is exchanged when it is first seen
//! ([`UpstreamCredentials::exchange`], before the request is forwarded) and the result kept
//! per principal until it expires (exchange.rs).
//!
//! Each shard fetches for itself: nothing is shared across threads. Not here: the requests
//! (token.rs), the config (`config::UpstreamOAuth`), where writers get their lines
//! (`ShardState::upstream_headers`). Secrets: no token or client secret is logged.

mod exchange;
mod token;

use std::cell::{Cell, RefCell};
use std::ops::Deref;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shards::io::ShardIo;
use shards::latch::Latch;

use crate::config::{UpstreamConfig, UpstreamHeaders, UpstreamOAuth};

use exchange::{subject_tag, Exchanged};
use token::Failure;

/// First retry delay after a failed client credentials request.
const RETRY: Duration = Duration::from_secs(1);
/// Longest retry delay.
const MAX_RETRY: Duration = Duration::from_secs(60);
/// Shortest time between a client credentials request and an early one asked for by a 401
/// (an upstream refusing every token must not turn into a flood of token requests).
const MIN_EARLY_REFRESH: Duration = Duration::from_secs(10);
/// An exchanged token with less than this left is exchanged again before use.
const EXCHANGE_MARGIN: Duration = Duration::from_secs(5);

/// The header lines a request to an upstream starts with: the configured ones (no `oauth`),
/// or those plus the current token. Derefs to [`UpstreamHeaders`].
#[derive(Debug)]
pub enum HeaderLines<'a> {
    /// `headers` as configured: borrowed, no count touched.
    Configured(&'a UpstreamHeaders),
    /// With `Authorization: Bearer` of the current token.
    Token(Rc<UpstreamHeaders>),
}

impl Deref for HeaderLines<'_> {
    type Target = UpstreamHeaders;

    fn deref(&self) -> &UpstreamHeaders {
        match self {
            HeaderLines::Configured(headers) => headers,
            HeaderLines::Token(headers) => headers,
        }
    }
}

/// Why a request cannot get a token for the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoToken {
    /// None fetched yet, or the last one expired (the authorization server is unreachable or
    /// refuses the proxy): retry later.
    Unavailable,
    /// The authorization server refused to exchange the caller's token (or the caller has
    /// none to exchange: an API key).
    Refused,
}

/// A token and when it runs out.
#[derive(Debug)]
struct Current {
    headers: Rc<UpstreamHeaders>,
    expires: Instant,
}

/// One upstream's tokens on one shard.
#[derive(Debug)]
pub struct UpstreamCredentials {
    io: ShardIo,
    upstream: Rc<str>,
    oauth: UpstreamOAuth,
    /// The configured headers the token's line is added to.
    configured: UpstreamHeaders,
    /// Client credentials: the token in use.
    current: RefCell<Option<Current>>,
    /// Fired to refresh early (the upstream refused the token); replaced after each fetch.
    stale: RefCell<Rc<Latch>>,
    /// When the last client credentials request began.
    last_request: Cell<Option<Instant>>,
    /// Token exchange: per principal.
    exchanged: RefCell<Exchanged>,
}

impl UpstreamCredentials {
    /// The credentials of `upstream`, when it has `oauth` (cold path).
    pub fn build(io: &ShardIo, upstream: &UpstreamConfig) -> Option<Rc<UpstreamCredentials>> {
        let oauth = upstream.oauth.clone()?;
        Some(Rc::new(UpstreamCredentials {
            io: io.clone(),
            upstream: upstream.name.as_str().into(),
            oauth,
            configured: upstream.headers.clone(),
            current: RefCell::new(None),
            stale: RefCell::new(Rc::new(Latch::default())),
            last_request: Cell::new(None),
            exchanged: RefCell::new(Exchanged::default()),
        }))
    }

    /// Whether callers' tokens are exchanged (else one client credentials token serves all).
    pub fn exchanges(&self) -> bool {
        self.oauth.token_exchange
    }

    /// The lines for a request of `principal` (its unique spelling): the client credentials
    /// token, or the token exchanged for the principal. Allocates nothing.
    ///
    /// # Errors
    /// [`NoToken::Unavailable`] when there is no valid token (never send the request
    /// without one).
    pub fn headers(&self, principal: &str) -> Result<Rc<UpstreamHeaders>, NoToken> {
        let now = Instant::now();
        if self.oauth.token_exchange {
            return self
                .exchanged
                .borrow()
                .get(principal, now)
                .ok_or(NoToken::Unavailable);
        }
        match &*self.current.borrow() {
            Some(current) if current.expires > now => Ok(current.headers.clone()),
            _ => Err(NoToken::Unavailable),
        }
    }

    /// The upstream answered 401 to a request of `principal`: the token is refused. Client
    /// credentials: refresh now (the token stays in use until a new one comes). Exchange:
    /// forget the principal's token, so its next request exchanges again.
    pub fn rejected(&self, principal: &str) {
        tracing::warn!(upstream = %self.upstream, "the upstream refused the proxy's access token");
        if self.oauth.token_exchange {
            self.exchanged.borrow_mut().forget(principal);
        } else {
            let recent = self
                .last_request
                .get()
                .is_some_and(|at| at.elapsed() < MIN_EARLY_REFRESH);
            if !recent {
                self.stale.borrow().fire();
            }
        }
    }

    /// Makes sure `principal` has a valid token exchanged for the caller token `subject`
    /// (`None`: the caller has no access token), exchanging it now if not. Nothing to do
    /// without `token_exchange`.
    ///
    /// # Errors
    /// [`NoToken::Refused`] when the server refuses the exchange or there is no token to
    /// exchange; [`NoToken::Unavailable`] when it cannot be reached.
    pub async fn exchange(&self, principal: &str, subject: Option<&str>) -> Result<(), NoToken> {
        if !self.oauth.token_exchange {
            return Ok(());
        }
        let subject = subject.ok_or(NoToken::Refused)?;
        let tag = subject_tag(subject);
        let started = Instant::now();
        if self
            .exchanged
            .borrow()
            .holds(principal, tag, started + EXCHANGE_MARGIN)
        {
            return Ok(());
        }
        let form = token::exchange_form(&self.oauth, subject);
        match token::request(&self.io, &self.oauth, &form).await {
            Ok(issued) => {
                let headers = Rc::new(self.configured.with_bearer(&issued.token));
                let expires = started + issued.lifetime;
                let now = Instant::now();
                self.exchanged
                    .borrow_mut()
                    .insert(principal, (tag, headers), expires, now);
                Ok(())
            }
            Err(failure) => {
                tracing::warn!(
                    upstream = %self.upstream,
                    error = failure.reason(),
                    "token exchange for the upstream failed"
                );
                Err(match failure {
                    Failure::Refused(_) => NoToken::Refused,
                    Failure::Unavailable(_) => NoToken::Unavailable,
                })
            }
        }
    }

    /// Keeps a client credentials token until `stop` fires (nothing to do for an exchange).
    pub async fn maintain(self: Rc<Self>, stop: &Latch) {
        if self.oauth.token_exchange {
            return;
        }
        super::refresh::keep_fresh(stop, (RETRY, MAX_RETRY), async || {
            let stale = Rc::new(Latch::default());
            *self.stale.borrow_mut() = stale.clone();
            (self.refresh().await, Some(stale))
        })
        .await;
    }

    /// One client credentials request; on success the token replaces the old one and the
    /// time until the next refresh comes back.
    async fn refresh(&self) -> Result<Duration, ()> {
        let started = Instant::now();
        self.last_request.set(Some(started));
        let form = token::client_credentials_form(&self.oauth);
        match token::request(&self.io, &self.oauth, &form).await {
            Ok(issued) => {
                tracing::debug!(
                    upstream = %self.upstream,
                    lifetime_s = issued.lifetime.as_secs(),
                    "access token for the upstream fetched"
                );
                let headers = Rc::new(self.configured.with_bearer(&issued.token));
                let expires = started + issued.lifetime;
                *self.current.borrow_mut() = Some(Current { headers, expires });
                Ok(token::refresh_after(issued.lifetime))
            }
            Err(failure) => {
                let valid = self
                    .current
                    .borrow()
                    .as_ref()
                    .is_some_and(|c| c.expires > Instant::now());
                tracing::warn!(
                    upstream = %self.upstream,
                    error = failure.reason(),
                    keeping_valid_token = valid,
                    "cannot fetch an access token for the upstream"
                );
                Err(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Client credentials, or token exchange when `exchange`.
    fn credentials(exchange: bool) -> Rc<UpstreamCredentials> {
        let text = "[upstreams.up]\nurl = \"http://127.0.0.1:2/mcp\"\n[upstreams.up.oauth]\n\
                    token_url = \"http://127.0.0.1:1/token\"\nclient_id = \"c\"\n\
                    client_secret_env = \"PATH\"\n";
        let config = crate::config::from_toml_str(text, "test").unwrap();
        let mut upstream = config.upstreams[0].clone();
        upstream.oauth.as_mut().unwrap().token_exchange = exchange;
        UpstreamCredentials::build(&ShardIo::glommio(), &upstream).unwrap()
    }

    #[test]
    fn no_token_means_no_header_lines_and_a_401_asks_for_one_early_refresh() {
        let creds = credentials(false);
        assert_eq!(creds.headers("anyone").unwrap_err(), NoToken::Unavailable);
        let headers = Rc::new(creds.configured.with_bearer("tok"));
        *creds.current.borrow_mut() = Some(Current {
            headers,
            expires: Instant::now() + Duration::from_secs(60),
        });
        let lines = creds.headers("anyone").unwrap();
        assert_eq!(lines.lines(), b"Authorization: Bearer tok\r\n");
        let stale = creds.stale.borrow().clone();
        creds.rejected("anyone");
        assert!(stale.is_fired(), "no request yet: refresh now");
        let stale = Rc::new(Latch::default());
        *creds.stale.borrow_mut() = stale.clone();
        creds.last_request.set(Some(Instant::now()));
        creds.rejected("anyone");
        assert!(!stale.is_fired(), "a request just went out: no flood");
        *creds.current.borrow_mut() = Some(Current {
            headers: Rc::new(UpstreamHeaders::default()),
            expires: Instant::now(),
        });
        assert_eq!(
            creds.headers("anyone").unwrap_err(),
            NoToken::Unavailable,
            "expired"
        );
    }

    #[test]
    fn exchanged_tokens_are_per_principal_and_a_401_forgets_one() {
        let creds = credentials(true);
        assert!(creds.exchanges());
        let later = Instant::now() + Duration::from_secs(60);
        let headers = Rc::new(creds.configured.with_bearer("alice-upstream"));
        let entry = (subject_tag("alice-token"), headers);
        creds
            .exchanged
            .borrow_mut()
            .insert("alice", entry, later, Instant::now());
        assert!(creds.headers("alice").is_ok());
        assert_eq!(creds.headers("bob").unwrap_err(), NoToken::Unavailable);
        creds.rejected("alice");
        assert_eq!(creds.headers("alice").unwrap_err(), NoToken::Unavailable);
    }
}
