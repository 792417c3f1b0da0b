//! `headers` on an HTTP upstream (`--upstream-header`): static request headers the proxy puts
//! on every request to that upstream, with `${env:NAME}` replaced from the environment at load
//! ([`UpstreamHeaders`]). Checks the names (HTTP tokens, none the proxy writes itself), expands
//! the templates, checks the values (HTTP field values) and renders the header lines once.
//!
//! Not here: writing request heads (the proxy's `headers.rs`, the link's `sse.rs`), dropping the
//! client's credentials (ditto). Secrets: an expanded value is never printed, logged or put in
//! an error; `Debug` shows the names only and `config check` the templates as written.
//!
//! Template syntax: `${env:NAME}` (NAME: letters, digits, `_`, not starting with a digit) is
//! replaced by the variable's value; `$${` writes a literal `${`; any other `$` is literal. A
//! `${` that starts no reference is an error, so a mistyped `${TOKEN}` never goes out as is.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;

use super::error::Error;
use super::raw::RawUpstream;

/// Most headers per upstream: each is written on every request, and upstreams bound their heads.
pub const MAX_UPSTREAM_HEADERS: usize = 32;
/// Most bytes of rendered header lines per upstream: room for a large bearer token, while
/// common servers refuse a header line over 8 KiB (nginx `large_client_header_buffers`).
pub const MAX_UPSTREAM_HEADER_BYTES: usize = 8 * 1024;

/// Names the proxy writes or strips itself (any case), besides every hop-by-hop name
/// (`http::is_hop_by_hop`: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, ...)
/// and `Mcp-Param-*`.
const RESERVED: [&str; 12] = [
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "accept",
    "accept-encoding",
    "expect",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

const NAME_ALLOWED: &str = "an HTTP field name (letters, digits and !#$%&'*+-.^_`|~) that the \
     proxy does not set itself: not Host, Content-Length, Transfer-Encoding, Connection, \
     Keep-Alive, Upgrade, TE, Trailer, Proxy-*, Content-Type, Content-Encoding, Accept, \
     Accept-Encoding, Expect, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, \
     Mcp-Param-* or Last-Event-ID";
const SYNTAX_ALLOWED: &str = "a value whose `${` starts a `${env:NAME}` reference (NAME: \
     letters, digits and _, not starting with a digit); write `$${` for a literal `${`";
const VALUE_ALLOWED: &str = "a value without control characters (CR, LF, NUL, ...; tab is \
     allowed) once ${env:...} is replaced; a variable read from a file often ends in a newline";
const DUPLICATE_ALLOWED: &str = "each header name once (names are case-insensitive)";

/// The static headers of one upstream: names and templates as written, and the lines every
/// request to it carries, rendered once at load. Empty for most upstreams.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UpstreamHeaders {
    /// `(name, template)` as written, in name order.
    fields: Vec<(String, String)>,
    /// `Name: value\r\n` for each field, values expanded: written as is into request heads.
    lines: Box<[u8]>,
}

impl UpstreamHeaders {
    /// Whether the upstream has no configured headers.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The rendered `Name: value\r\n` lines (empty when none): append them to a request head
    /// before its blank line. Allocates nothing.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }

    /// Whether a configured header has the name `name` (any case): a client's field of that name
    /// is dropped, the configured one replaces it. No work when nothing is configured.
    pub fn replaces(&self, name: &[u8]) -> bool {
        self.fields
            .iter()
            .any(|(configured, _)| configured.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The configured names, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(name, _)| name.as_str())
    }

    /// These headers and `Authorization: Bearer {token}` (an upstream OAuth token, checked by
    /// the caller to be an RFC 6750 `b64token`). `Debug` and `config check` still show only the
    /// configured names.
    pub fn with_bearer(&self, token: &str) -> UpstreamHeaders {
        const BEARER: &[u8] = b"Authorization: Bearer ";
        let mut lines = Vec::with_capacity(self.lines.len() + BEARER.len() + token.len() + 2);
        lines.extend_from_slice(&self.lines);
        lines.extend_from_slice(BEARER);
        lines.extend_from_slice(token.as_bytes());
        lines.extend_from_slice(b"\r\n");
        UpstreamHeaders {
            fields: self.fields.clone(),
            lines: lines.into_boxed_slice(),
        }
    }

    /// `(name, template)` as written (`${env:NAME}` unexpanded), for `config check`.
    pub(crate) fn templates(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|(name, template)| (name.as_str(), template.as_str()))
    }
}

impl fmt::Debug for UpstreamHeaders {
    /// Names only: values may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamHeaders")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// `upstreams.NAME.headers` of upstream `name` (a stdio one when `stdio`), expanded from the
/// process environment.
///
/// # Errors
/// `headers` on a stdio upstream, too many or too long, a bad or reserved name, a name given
/// twice, a bad template, an unset variable, a value that is no HTTP field value.
pub(super) fn resolve_headers(
    name: &str,
    raw: &RawUpstream,
    stdio: bool,
) -> Result<UpstreamHeaders, Error> {
    let Some(written) = &raw.headers else {
        return Ok(UpstreamHeaders::default());
    };
    let key = format!("upstreams.{name}.headers");
    if stdio {
        let allowed = "headers apply to HTTP upstreams (url); a stdio server gets its \
                       credentials as environment variables (env)";
        return Err(stdio_conflict(key, name, allowed));
    }
    build(&key, written, &|var| std::env::var_os(var))
}

/// The error for `key`, a setting of HTTP upstreams, on the stdio upstream `name`.
pub(super) fn stdio_conflict(key: String, name: &str, allowed: &'static str) -> Error {
    Error::Conflict {
        key,
        other: format!("upstreams.{name}.command"),
        allowed,
    }
}

/// Checks and renders `written` (keys for errors: `key`), looking variables up with `lookup`.
fn build(
    key: &str,
    written: &BTreeMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<OsString>,
) -> Result<UpstreamHeaders, Error> {
    if written.len() > MAX_UPSTREAM_HEADERS {
        return Err(Error::Invalid {
            key: key.to_owned(),
            value: format!("{} headers", written.len()),
            allowed: "at most 32 headers per upstream",
        });
    }
    let bad = |header: &str, allowed: &'static str| Error::BadHeader {
        key: key.to_owned(),
        header: header.to_owned(),
        allowed,
    };
    let mut fields: Vec<(String, String)> = Vec::with_capacity(written.len());
    let mut lines = Vec::new();
    for (name, template) in written {
        if !is_token(name) || is_reserved(name) {
            return Err(bad(name, NAME_ALLOWED));
        }
        if fields
            .iter()
            .any(|(seen, _)| seen.eq_ignore_ascii_case(name))
        {
            return Err(bad(name, DUPLICATE_ALLOWED));
        }
        let value = match expand(template, lookup) {
            Ok(value) => value,
            Err(Expand::Syntax) => return Err(bad(name, SYNTAX_ALLOWED)),
            Err(Expand::Unset(var)) => {
                return Err(Error::UnsetEnv {
                    key: key.to_owned(),
                    header: name.clone(),
                    var,
                })
            }
        };
        if !is_field_value(&value) {
            return Err(bad(name, VALUE_ALLOWED));
        }
        lines.extend_from_slice(name.as_bytes());
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(&value);
        lines.extend_from_slice(b"\r\n");
        fields.push((name.clone(), template.clone()));
    }
    if lines.len() > MAX_UPSTREAM_HEADER_BYTES {
        return Err(Error::Invalid {
            key: key.to_owned(),
            value: format!("{} bytes of header lines", lines.len()),
            allowed: "at most 8 KiB of header lines per upstream, values expanded",
        });
    }
    Ok(UpstreamHeaders {
        fields,
        lines: lines.into_boxed_slice(),
    })
}

/// Why a template could not be expanded.
#[derive(Debug, PartialEq, Eq)]
enum Expand {
    /// A `${` that starts no `${env:NAME}`.
    Syntax,
    /// `${env:NAME}` names a variable that is not set.
    Unset(String),
}

/// Replaces each `${env:NAME}` of `template` with the variable's bytes; `$${` is a literal
/// `${`.
fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<OsString>) -> Result<Vec<u8>, Expand> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut out = Vec::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        let (before, from) = rest.split_at(at);
        out.extend_from_slice(before.as_bytes());
        if let Some(after) = from.strip_prefix("$${") {
            out.extend_from_slice(b"${");
            rest = after;
        } else if let Some(after) = from.strip_prefix("${") {
            let reference = after.strip_prefix("env:").ok_or(Expand::Syntax)?;
            let (var, tail) = reference.split_once('}').ok_or(Expand::Syntax)?;
            if !is_env_name(var) {
                return Err(Expand::Syntax);
            }
            let value = lookup(var).ok_or_else(|| Expand::Unset(var.to_owned()))?;
            out.extend_from_slice(value.as_bytes());
            rest = tail;
        } else {
            out.push(b'$');
            rest = from.get(1..).unwrap_or_default();
        }
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

/// A portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(super) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An RFC 9110 §5.6.2 token.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A name the proxy writes or strips itself.
fn is_reserved(name: &str) -> bool {
    crate::http::is_hop_by_hop(name.as_bytes())
        || RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
        || name
            .get(..10)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("mcp-param-"))
}

/// An RFC 9110 §5.5 field value: no control characters but tab (so no CR, LF or NUL).
fn is_field_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

#[cfg(test)]
#[path = "upstream_headers_tests.rs"]
mod tests;
