//! `reverse`'s flags for the proxy's own OAuth client towards its upstream
//! (`--upstream-oauth-*`, `--upstream-token-exchange`; TOML: `[upstreams.NAME.oauth]`), and the
//! raw table they make.
//!
//! Not here: checking the values (`config::upstream_oauth`), fetching tokens.

use clap::Args;

use crate::config::raw::RawUpstreamOAuth;

/// The upstream's OAuth client (`reverse`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Credentials towards the upstream")]
pub struct UpstreamOAuthArgs {
    /// With --upstream: get an OAuth access token from this token endpoint (https://, or
    /// http:// on loopback) and send it as `Authorization: Bearer` on every request to the
    /// server: client credentials (one token per shard, refreshed before it expires), or with
    /// --upstream-token-exchange each caller's token exchanged (RFC 8693). Without a valid
    /// token a request gets 503 with Retry-After, never goes out unauthenticated.
    #[arg(long, value_name = "URL", requires = "upstream",
          requires_all = ["upstream_oauth_client_id", "upstream_oauth_client_secret_env"])]
    pub upstream_oauth_token_url: Option<String>,
    /// The proxy's client id at --upstream-oauth-token-url (HTTP Basic authentication).
    #[arg(long, value_name = "ID", requires = "upstream_oauth_token_url")]
    pub upstream_oauth_client_id: Option<String>,
    /// The environment variable holding the client secret, e.g. UPSTREAM_CLIENT_SECRET (read at
    /// start; unset is an error; the secret is never logged or printed).
    #[arg(long, value_name = "VAR", requires = "upstream_oauth_token_url")]
    pub upstream_oauth_client_secret_env: Option<String>,
    /// A scope to ask the token for (repeatable).
    #[arg(
        long = "upstream-oauth-scope",
        value_name = "SCOPE",
        requires = "upstream_oauth_token_url"
    )]
    pub upstream_oauth_scopes: Vec<String>,
    /// The `audience` to ask the token for.
    #[arg(long, value_name = "AUD", requires = "upstream_oauth_token_url")]
    pub upstream_oauth_audience: Option<String>,
    /// The `resource` to ask the token for (RFC 8707), usually the upstream's URL.
    #[arg(long, value_name = "URI", requires = "upstream_oauth_token_url")]
    pub upstream_oauth_resource: Option<String>,
    /// Exchange each caller's access token for the upstream's (RFC 8693) instead of client
    /// credentials: once per caller token and shard, when one of its requests is about to go
    /// upstream; needs --auth-issuer (callers with tokens).
    #[arg(long, requires = "upstream_oauth_token_url")]
    pub upstream_token_exchange: bool,
}

impl UpstreamOAuthArgs {
    /// The `[upstreams.main.oauth]` table the flags make, if any was given.
    pub(crate) fn to_raw(&self) -> Option<RawUpstreamOAuth> {
        self.upstream_oauth_token_url.as_ref()?;
        Some(RawUpstreamOAuth {
            token_url: self.upstream_oauth_token_url.clone(),
            client_id: self.upstream_oauth_client_id.clone(),
            client_secret_env: self.upstream_oauth_client_secret_env.clone(),
            scopes: (!self.upstream_oauth_scopes.is_empty())
                .then(|| self.upstream_oauth_scopes.clone()),
            audience: self.upstream_oauth_audience.clone(),
            resource: self.upstream_oauth_resource.clone(),
            token_exchange: self.upstream_token_exchange.then_some(true),
        })
    }
}
