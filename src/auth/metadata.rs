//! A route's OAuth 2.0 Protected Resource Metadata (RFC 9728 §2), served at
//! `/.well-known/oauth-protected-resource` + the route's path: the resource identifier
//! clients must ask tokens for (RFC 8707), the authorization server issuing them, the scopes,
//! and that tokens go in the `Authorization` header only.
//!
//! Not here: serving it (the proxy's well_known.rs).

use serde_json::json;

use crate::config::RouteAuth;

/// The JSON document; `None` on a route taking only API keys (there is no authorization
/// server to name).
pub(super) fn document(auth: &RouteAuth) -> Option<Vec<u8>> {
    let oauth = auth.oauth.as_ref()?;
    let doc = json!({
        "resource": auth.resource,
        "authorization_servers": [oauth.issuer],
        "scopes_supported": auth.scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "shadowcat MCP endpoint",
    });
    serde_json::to_vec(&doc).ok()
}
