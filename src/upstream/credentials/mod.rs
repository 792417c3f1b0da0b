//! [`UpstreamCredentials`]: the access tokens one shard sends to one upstream with `oauth`
//! (`[upstreams.NAME.oauth]`), as ready header lines ([`UpstreamHeaders`] with
//! `Authorization: Bearer`), and [`HeaderLines`], what every request writer asks for.
//!
//! Client credentials: a background task per shard fetches a token at start and again at
//! 80 % of its lifetime; a failed fetch is retried with backoff (1 s doubling to 60 s) and the
//! last token is kept until it expires; an upstream's 401 asks for one early refresh. Token
//! exchange (RFC 8693): the caller's access token is exchanged when a request carrying it is
//! about to go upstream ([`UpstreamCredentials::exchange`]; concurrent requests with the same
//! token wait for one exchange) and the result kept per caller token (its SHA-256) until it
//! expires (exchange.rs); a 401 forgets it, at most once per [`MIN_EARLY_REFRESH`].
//!
//! Each shard fetches for itself: nothing is shared across threads. Not here: the requests
//! (token.rs), the config (`config::UpstreamOAuth`), where writers get their lines
//! (`ShardState::upstream_headers`). Secrets: no token or client secret is logged.

mod exchange;
mod token;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Deref;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shards::io::ShardIo;
use shards::latch::Latch;

use crate::config::{UpstreamConfig, UpstreamHeaders, UpstreamOAuth};
use crate::session::Presented;
use crate::tls::UpstreamTls;

use exchange::{Exchanged, Subject};
use token::Failure;

/// First retry delay after a failed client credentials request.
const RETRY: Duration = Duration::from_secs(1);
/// Longest retry delay.
const MAX_RETRY: Duration = Duration::from_secs(60);
/// Shortest time between a client credentials request and an early one asked for by a 401,
/// and youngest exchanged token a 401 forgets (an upstream refusing every token must not turn
/// into a flood of token requests); also the least time between two warnings of refusals.
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
    /// The TLS setup for an `https://` token endpoint, built once per shard (the rustls
    /// configuration and its session cache are reused by every token request).
    tls: Option<UpstreamTls>,
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
    /// Token exchange: per caller token.
    exchanged: RefCell<Exchanged>,
    /// Token exchange: the exchanges under way, fired when each ends.
    pending: RefCell<HashMap<Subject, Rc<Flight>>>,
    /// When the last "refused" warning was logged.
    last_warning: Cell<Option<Instant>>,
    /// How many times the upstream refused a token (401), for the metrics.
    refusals: Cell<u64>,
    /// How many exchange requests went to the authorization server, for the metrics.
    exchanges: Cell<u64>,
}

/// One exchange under way, which the requests with the same caller token wait for.
#[derive(Debug, Default)]
struct Flight {
    /// Fired when it ends, however it ends.
    done: Latch,
    /// How it ended (`None`: cancelled, its request gone: a waiter tries itself).
    outcome: Cell<Option<Result<(), NoToken>>>,
}

/// Ends a pending exchange however it ends (cancelled too): wakes the requests waiting for it.
struct Pending<'a> {
    map: &'a RefCell<HashMap<Subject, Rc<Flight>>>,
    subject: Subject,
    flight: Rc<Flight>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.map.borrow_mut().remove(&self.subject);
        self.flight.done.fire();
    }
}

impl UpstreamCredentials {
    /// The credentials of `upstream`, when it has `oauth` (cold path).
    pub fn build(io: &ShardIo, upstream: &UpstreamConfig) -> Option<Rc<UpstreamCredentials>> {
        let oauth = upstream.oauth.clone()?;
        Some(Rc::new(UpstreamCredentials {
            io: io.clone(),
            tls: super::fetch::tls_for(&oauth.token_url),
            upstream: upstream.name.as_str().into(),
            oauth,
            configured: upstream.headers.clone(),
            current: RefCell::new(None),
            stale: RefCell::new(Rc::new(Latch::default())),
            last_request: Cell::new(None),
            exchanged: RefCell::new(Exchanged::default()),
            pending: RefCell::new(HashMap::new()),
            last_warning: Cell::new(None),
            refusals: Cell::new(0),
            exchanges: Cell::new(0),
        }))
    }

    /// Whether callers' tokens are exchanged (else one client credentials token serves all).
    pub fn exchanges(&self) -> bool {
        self.oauth.token_exchange
    }

    /// The lines for a request whose caller presented `presented`: the client credentials
    /// token, or the token exchanged for exactly that caller token. Allocates nothing.
    ///
    /// # Errors
    /// [`NoToken::Unavailable`] when there is no valid token (never send the request
    /// without one).
    pub fn headers(&self, presented: Option<&Presented>) -> Result<Rc<UpstreamHeaders>, NoToken> {
        let now = Instant::now();
        if self.oauth.token_exchange {
            let subject = presented.ok_or(NoToken::Unavailable)?.digest();
            return self
                .exchanged
                .borrow()
                .get(subject, now)
                .ok_or(NoToken::Unavailable);
        }
        match &*self.current.borrow() {
            Some(current) if current.expires > now => Ok(current.headers.clone()),
            _ => Err(NoToken::Unavailable),
        }
    }

    /// The upstream answered 401 to a request whose caller presented `presented`: the token
    /// is refused. Client credentials: refresh now (the token stays in use until a new one
    /// comes). Exchange: forget the token exchanged for that caller token, so its next request
    /// exchanges again. Either at most once per [`MIN_EARLY_REFRESH`].
    pub fn rejected(&self, presented: Option<&Presented>) {
        self.refusals.set(self.refusals.get() + 1);
        let acted = if self.oauth.token_exchange {
            presented.is_some_and(|p| {
                let mut exchanged = self.exchanged.borrow_mut();
                exchanged.forget(p.digest(), MIN_EARLY_REFRESH)
            })
        } else {
            let recent = self
                .last_request
                .get()
                .is_some_and(|at| at.elapsed() < MIN_EARLY_REFRESH);
            if !recent {
                self.stale.borrow().fire();
            }
            !recent
        };
        let quiet = self
            .last_warning
            .get()
            .is_some_and(|at| at.elapsed() < MIN_EARLY_REFRESH);
        if quiet {
            tracing::debug!(upstream = %self.upstream, acted, "the upstream refused the proxy's access token");
        } else {
            self.last_warning.set(Some(Instant::now()));
            tracing::warn!(upstream = %self.upstream, acted, "the upstream refused the proxy's access token");
        }
    }

    /// How many times the upstream refused a token (`shadowcat_upstream_token_refusals_total`).
    pub fn refusals(&self) -> u64 {
        self.refusals.get()
    }

    /// How many exchange requests went out (`shadowcat_upstream_token_exchanges_total`).
    pub fn exchanges_asked(&self) -> u64 {
        self.exchanges.get()
    }

    /// Makes sure the caller token `presented` (`None`: the caller has none) has a valid
    /// exchanged token, exchanging it now if not; a request finding the same token's exchange
    /// under way waits for it and shares its outcome (an authorization server that is down
    /// costs one attempt per token, not one per waiting request). Nothing to do without
    /// `token_exchange`.
    ///
    /// # Errors
    /// [`NoToken::Refused`] when the server refuses the exchange or there is no token to
    /// exchange; [`NoToken::Unavailable`] when it cannot be reached.
    pub async fn exchange(&self, presented: Option<&Presented>) -> Result<(), NoToken> {
        if !self.oauth.token_exchange {
            return Ok(());
        }
        let presented = presented.ok_or(NoToken::Refused)?;
        let subject = *presented.digest();
        let valid = |this: &Self| {
            let until = Instant::now() + EXCHANGE_MARGIN;
            this.exchanged.borrow().holds(&subject, until)
        };
        loop {
            if valid(self) {
                return Ok(());
            }
            // Nothing awaits between this look and the insert below: one flight per token.
            let under_way = self.pending.borrow().get(&subject).cloned();
            let Some(flight) = under_way else { break };
            flight.done.wait().await;
            if let Some(outcome) = flight.outcome.get() {
                return outcome;
            }
        }
        let flight = Rc::new(Flight::default());
        self.pending.borrow_mut().insert(subject, flight.clone());
        let pending = Pending {
            map: &self.pending,
            subject,
            flight,
        };
        let outcome = self.exchange_now(subject, presented.token()).await;
        pending.flight.outcome.set(Some(outcome));
        outcome
    }

    /// One exchange request for the caller token `subject_token` (digest `subject`).
    async fn exchange_now(&self, subject: Subject, subject_token: &str) -> Result<(), NoToken> {
        let started = Instant::now();
        self.exchanges.set(self.exchanges.get() + 1);
        let form = token::exchange_form(&self.oauth, subject_token);
        match token::request((&self.io, self.tls.as_ref()), &self.oauth, &form).await {
            Ok(issued) => {
                let headers = Rc::new(self.configured.with_bearer(&issued.token));
                let expires = started + issued.lifetime;
                let now = Instant::now();
                self.exchanged
                    .borrow_mut()
                    .insert(subject, headers, expires, now);
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
        match token::request((&self.io, self.tls.as_ref()), &self.oauth, &form).await {
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
        assert_eq!(creds.headers(None).unwrap_err(), NoToken::Unavailable);
        let headers = Rc::new(creds.configured.with_bearer("tok"));
        *creds.current.borrow_mut() = Some(Current {
            headers,
            expires: Instant::now() + Duration::from_secs(60),
        });
        let lines = creds.headers(None).unwrap();
        assert_eq!(lines.lines(), b"Authorization: Bearer tok\r\n");
        let stale = creds.stale.borrow().clone();
        creds.rejected(None);
        assert!(stale.is_fired(), "no request yet: refresh now");
        let stale = Rc::new(Latch::default());
        *creds.stale.borrow_mut() = stale.clone();
        creds.last_request.set(Some(Instant::now()));
        creds.rejected(None);
        assert!(!stale.is_fired(), "a request just went out: no flood");
        *creds.current.borrow_mut() = Some(Current {
            headers: Rc::new(UpstreamHeaders::default()),
            expires: Instant::now(),
        });
        assert_eq!(
            creds.headers(None).unwrap_err(),
            NoToken::Unavailable,
            "expired"
        );
    }

    #[test]
    fn exchanged_tokens_are_per_caller_token_and_a_401_forgets_only_an_older_one() {
        let creds = credentials(true);
        assert!(creds.exchanges());
        let alice = crate::session::Principal::token("https://x", "alice");
        let narrow = alice.clone().presenting(Some("T1".into()));
        let broad = alice.presenting(Some("T2".into()));
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let headers = Rc::new(creds.configured.with_bearer("narrow-upstream"));
        let subject = *narrow.presented().unwrap().digest();
        creds
            .exchanged
            .borrow_mut()
            .insert(subject, headers.clone(), later, now);
        let lines = creds.headers(narrow.presented()).unwrap();
        assert_eq!(lines.lines(), b"Authorization: Bearer narrow-upstream\r\n");
        let other = creds.headers(broad.presented()).unwrap_err();
        assert_eq!(other, NoToken::Unavailable, "same user, other token");
        assert_eq!(creds.headers(None).unwrap_err(), NoToken::Unavailable);
        creds.rejected(narrow.presented());
        assert!(
            creds.headers(narrow.presented()).is_ok(),
            "just obtained: kept"
        );
        let old = now - MIN_EARLY_REFRESH;
        creds
            .exchanged
            .borrow_mut()
            .insert(subject, headers, later, old);
        creds.rejected(narrow.presented());
        let gone = creds.headers(narrow.presented()).unwrap_err();
        assert_eq!(gone, NoToken::Unavailable);
    }
}
