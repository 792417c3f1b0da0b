//! One token request to an upstream's authorization server and its answer (RFC 6749 §5.1,
//! RFC 8693 §2.2): the form for a grant, the parsed token with its lifetime, and when to
//! refresh it. Pure functions but [`request`].
//!
//! Not here: keeping tokens (mod.rs, exchange.rs). Secrets: the form (it may hold a caller's
//! token) and the client's `Authorization` go on the wire only; an error names the server's
//! `error` code and status, never a token.

use std::time::Duration;

use shards::io::ShardIo;

use crate::config::UpstreamOAuth;
use crate::tls::UpstreamTls;
use crate::upstream::fetch;

/// Deadline of one token request (connect, TLS, request and answer).
pub(super) const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Lifetime assumed when the answer has no `expires_in` (RFC 6749 §5.1 leaves it to the
/// server's documentation; five minutes keeps an unknown token from living long).
pub(super) const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Longest lifetime believed: `expires_in` beyond it is cut (no overflow, and a day-old
/// token is fetched again).
pub(super) const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Shortest time between two scheduled refreshes (a server answering `expires_in: 0` must not
/// make a busy loop).
pub(super) const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Longest access token kept: it is written on every request head (see
/// `config::MAX_UPSTREAM_HEADER_BYTES`).
const MAX_TOKEN: usize = 8 * 1024;

/// RFC 8693 §2.1 grant type.
pub(super) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3 token type of an OAuth access token.
pub(super) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An access token the server issued.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Issued {
    /// The token (an RFC 6750 `b64token`, safe in a header).
    pub(super) token: String,
    /// How long it is valid from the request on.
    pub(super) lifetime: Duration,
}

/// Why no token came back.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The server answered with an OAuth error (4xx): the same request will fail again.
    Refused(String),
    /// No usable answer: unreachable, 5xx, not a token response.
    Unavailable(String),
}

impl Failure {
    /// The reason, for the log.
    pub(super) fn reason(&self) -> &str {
        match self {
            Failure::Refused(why) | Failure::Unavailable(why) => why,
        }
    }
}

/// The form of a client credentials request (RFC 6749 §4.4.2).
pub(super) fn client_credentials_form(oauth: &UpstreamOAuth) -> Vec<u8> {
    form([("grant_type", "client_credentials".into())], oauth)
}

/// The form of a token exchange request for `subject` (RFC 8693 §2.1).
pub(super) fn exchange_form(oauth: &UpstreamOAuth, subject: &str) -> Vec<u8> {
    let fields = [
        ("grant_type", TOKEN_EXCHANGE.into()),
        ("subject_token", subject.into()),
        ("subject_token_type", ACCESS_TOKEN_TYPE.into()),
        ("requested_token_type", ACCESS_TOKEN_TYPE.into()),
    ];
    form(fields, oauth)
}

fn form<'a>(
    grant: impl IntoIterator<Item = (&'static str, std::borrow::Cow<'a, str>)>,
    oauth: &'a UpstreamOAuth,
) -> Vec<u8> {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in grant.into_iter().chain(oauth.common_fields()) {
        out.append_pair(name, &value);
    }
    out.finish().into_bytes()
}

/// POSTs `form` to the token endpoint with the client's credentials (over `tls`, the
/// shard's TLS setup for the endpoint, when it is `https://`).
///
/// # Errors
/// [`Failure::Refused`] on an OAuth error answer, [`Failure::Unavailable`] otherwise.
pub(super) async fn request(
    io: (&ShardIo, Option<&UpstreamTls>),
    oauth: &UpstreamOAuth,
    form: &[u8],
) -> Result<Issued, Failure> {
    let doc = fetch::post_form(io, &oauth.token_url, oauth.basic(), form, REQUEST_DEADLINE)
        .await
        .map_err(Failure::Unavailable)?;
    parse(doc.status, &doc.body)
}

/// The token in an answer with `status` and `body`.
///
/// # Errors
/// A 4xx is [`Failure::Refused`] (with the server's `error` code); any other status, a body
/// that is not a Bearer token response, or a token that cannot go in a header is
/// [`Failure::Unavailable`].
pub(super) fn parse(status: u16, body: &[u8]) -> Result<Issued, Failure> {
    let doc: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| doc.as_ref().and_then(|d| d.get(name));
    if (400..500).contains(&status) {
        let code = field("error").and_then(serde_json::Value::as_str);
        let code = code.filter(|c| is_error_code(c)).unwrap_or("no error code");
        return Err(Failure::Refused(format!("status {status}, {code}")));
    }
    if status != 200 {
        return Err(Failure::Unavailable(format!("status {status}")));
    }
    let unusable = |why: &str| Failure::Unavailable(format!("token response {why}"));
    let token = field("access_token")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| unusable("without access_token"))?;
    let bearer = field("token_type")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
    if !bearer {
        return Err(unusable("whose token_type is not Bearer"));
    }
    if token.len() > MAX_TOKEN || !is_b64token(token) {
        return Err(unusable(
            "whose access_token is no RFC 6750 b64token of at most 8 KiB",
        ));
    }
    let lifetime = match field("expires_in") {
        None | Some(serde_json::Value::Null) => DEFAULT_LIFETIME,
        Some(value) => value
            .as_f64()
            .filter(|secs| secs.is_finite() && *secs >= 0.0)
            .map(|secs| Duration::from_secs_f64(secs.min(MAX_LIFETIME.as_secs_f64())))
            .ok_or_else(|| unusable("whose expires_in is not a number of seconds"))?,
    };
    Ok(Issued {
        token: token.to_owned(),
        lifetime,
    })
}

/// When to fetch a token of `lifetime` again: at 80 % of it, not sooner than [`MIN_REFRESH`].
pub(super) fn refresh_after(lifetime: Duration) -> Duration {
    (lifetime * 4 / 5).max(MIN_REFRESH)
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// An RFC 6749 §5.2 `error` value short enough to log: `%x20-21 / %x23-5B / %x5D-7E`.
fn is_error_code(code: &str) -> bool {
    code.len() <= 64
        && code
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
