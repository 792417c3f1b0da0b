//! Host and Origin allow-lists: checking entries at load, and matching header values per request.
//!
//! Not here: choosing the default list (see `resolve.rs`) or answering 403 (the proxy's job).
//! Hot path: [`host_allowed`] and [`origin_allowed`] allocate nothing and never fail; they scan
//! a short list with ASCII case-insensitive compares.

use std::net::Ipv6Addr;

use super::error::{invalid_str, Error};

/// The entry that turns a check off.
pub(crate) const ANY: &str = "*";

/// What an `allowed_hosts` entry may look like.
const HOST_ENTRY_ALLOWED: &str = "a host name or IP address without port or scheme \
     (\"localhost\", \"mcp.example.com\", \"127.0.0.1\", \"[::1]\"), or \"*\" for any";
/// What an `allowed_origins` entry may look like.
const ORIGIN_ENTRY_ALLOWED: &str = "an origin as browsers send it, scheme://host[:port] without \
     path or trailing slash (\"http://localhost:3000\"), \"null\", or \"*\" for any";

/// Whether a `Host` header value names an allowed host.
///
/// The port is ignored (`localhost:8080` matches `localhost`), names compare ASCII
/// case-insensitively, one trailing dot is ignored, IPv6 literals keep their brackets
/// (`[::1]:8080` matches `[::1]`), and `"*"` in the list allows everything. A malformed value
/// (empty, bad port, unbalanced brackets) is never allowed.
pub fn host_allowed(allowed_hosts: &[String], host_header: &[u8]) -> bool {
    if allowed_hosts.iter().any(|entry| entry == ANY) {
        return true;
    }
    let Some(host) = host_without_port(host_header.trim_ascii()) else {
        return false;
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    !host.is_empty()
        && allowed_hosts
            .iter()
            .any(|entry| entry.as_bytes().eq_ignore_ascii_case(host))
}

/// Whether an `Origin` header value is allowed: listed exactly (ASCII case-insensitive) in
/// `allowed_origins`, or an `http`/`https` origin whose host passes [`host_allowed`] against
/// `allowed_hosts`. `"*"` in `allowed_origins` allows everything.
///
/// An absent Origin header is not this function's question: non-browser clients send none.
pub fn origin_allowed(allowed_hosts: &[String], allowed_origins: &[String], origin: &[u8]) -> bool {
    let origin = origin.trim_ascii();
    if allowed_origins
        .iter()
        .any(|entry| entry == ANY || entry.as_bytes().eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((scheme, authority)) = split_origin(origin) else {
        return false;
    };
    let web_scheme = scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https");
    web_scheme && host_allowed(allowed_hosts, authority)
}

/// Splits `scheme://authority`; `None` when there is a path, query or anything after it.
fn split_origin(origin: &[u8]) -> Option<(&[u8], &[u8])> {
    let sep = origin.windows(3).position(|w| w == b"://")?;
    let scheme = origin.get(..sep)?;
    let authority = origin.get(sep + 3..)?;
    let clean = !authority.is_empty()
        && !authority
            .iter()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@'));
    (!scheme.is_empty() && clean).then_some((scheme, authority))
}

/// The host part of `host[:port]` or `[v6][:port]`; `None` if the port is not digits, brackets
/// are unbalanced, or a bare IPv6 address (more than one `:`) appears.
fn host_without_port(value: &[u8]) -> Option<&[u8]> {
    let (host, port) = if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']')?;
        let host = value.get(..=close)?;
        let rest = value.get(close + 1..)?;
        match rest {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return None,
        }
    } else {
        match value.iter().position(|&b| b == b':') {
            None => (value, None),
            Some(colon) => (value.get(..colon)?, Some(value.get(colon + 1..)?)),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    port_ok.then_some(host)
}

/// Checks and normalizes an `allowed_hosts` entry: lowercase, bare IPv6 gets brackets, one
/// trailing dot dropped.
pub(crate) fn normalize_host_entry(key: &str, entry: &str) -> Result<String, Error> {
    if entry == ANY {
        return Ok(entry.to_owned());
    }
    let bad = || invalid_str(key, entry, HOST_ENTRY_ALLOWED);
    let lower = entry.to_ascii_lowercase();
    let lower = lower.strip_suffix('.').unwrap_or(&lower);
    if let Ok(v6) = lower.parse::<Ipv6Addr>() {
        return Ok(format!("[{v6}]"));
    }
    if let Some(inner) = lower.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let v6: Ipv6Addr = inner.parse().map_err(|_| bad())?;
        return Ok(format!("[{v6}]"));
    }
    // No empty label ("a..b", ".a", "a.." with one dot dropped): normalizing twice must give
    // what normalizing once gave (found by scripts/fuzz.sh at 1 000 000 cases, config_mutated).
    let name_ok = !lower.split('.').any(str::is_empty)
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if name_ok {
        Ok(lower.to_owned())
    } else {
        Err(bad())
    }
}

/// Checks and normalizes an `allowed_origins` entry (lowercase; `"*"` and `"null"` kept).
pub(crate) fn normalize_origin_entry(key: &str, entry: &str) -> Result<String, Error> {
    let lower = entry.to_ascii_lowercase();
    if lower == ANY || lower == "null" {
        return Ok(lower);
    }
    let bad = || invalid_str(key, entry, ORIGIN_ENTRY_ALLOWED);
    let (scheme, authority) = split_origin(lower.as_bytes()).ok_or_else(bad)?;
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let host = host_without_port(authority).ok_or_else(bad)?;
    let host = std::str::from_utf8(host).map_err(|_| bad())?;
    if !scheme_ok || host.is_empty() || host.ends_with('.') {
        return Err(bad());
    }
    normalize_host_entry(key, host).map_err(|_| bad())?;
    Ok(lower)
}

/// The `Host` names a service bound to `bind` answers to when it trusts only local callers: the
/// loopback names plus the bind address itself (IPv6 in brackets, as it appears in `Host`).
pub fn local_hosts(bind: std::net::SocketAddr) -> Vec<String> {
    let mut hosts: Vec<String> = super::defaults::LOOPBACK_HOSTS
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    hosts.push(match bind.ip() {
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    });
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Asserts `check` gives `expected` for every value.
    fn expect_all(check: impl Fn(&[u8]) -> bool, expected: bool, values: &[&str]) {
        for value in values {
            assert_eq!(check(value.as_bytes()), expected, "{value:?}");
        }
    }

    #[test]
    fn host_matching_strips_ports_and_ignores_case() {
        let hosts = list(&["localhost", "127.0.0.1", "[::1]"]);
        let check = |value: &[u8]| host_allowed(&hosts, value);
        let good = [
            "localhost",
            "LOCALHOST:8080",
            "localhost.",
            "127.0.0.1:1",
            "[::1]",
        ];
        expect_all(check, true, &good);
        expect_all(check, true, &["[::1]:8080", " localhost "]);
        let bad = [
            "",
            "evil.com",
            "localhost.evil.com",
            "localhost:",
            "localhost:80a",
        ];
        expect_all(check, false, &bad);
        let bad = [
            "localhost:123456",
            "::1",
            "[::1",
            "[::1]x",
            "[::2]:80",
            ":8080",
        ];
        expect_all(check, false, &bad);
    }

    #[test]
    fn star_allows_any_host() {
        assert!(host_allowed(&list(&["*"]), b"anything.example:9"));
        assert!(!host_allowed(&list(&[]), b"localhost"));
    }

    #[test]
    fn origins_match_by_host_list_or_exact_entry() {
        let hosts = list(&["localhost", "[::1]"]);
        let origins = list(&["https://app.example.com", "vscode-webview://abc"]);
        let check = |value: &[u8]| origin_allowed(&hosts, &origins, value);
        let good = [
            "http://localhost:3000",
            "https://localhost",
            "http://[::1]:3000",
        ];
        expect_all(check, true, &good);
        expect_all(
            check,
            true,
            &["https://APP.example.com", "vscode-webview://abc"],
        );
        let bad = [
            "http://evil.com",
            "https://app.example.com:8443",
            "ftp://localhost",
        ];
        expect_all(check, false, &bad);
        let bad = [
            "http://localhost/path",
            "http://user@localhost",
            "null",
            "localhost",
            "",
        ];
        expect_all(check, false, &bad);
        assert!(origin_allowed(&hosts, &list(&["*"]), b"http://evil.com"));
        assert!(origin_allowed(&hosts, &list(&["null"]), b"null"));
    }

    #[test]
    fn host_entries_normalize_or_reject() {
        let norm = |s: &str| normalize_host_entry("k", s).map_err(|e| e.to_string());
        assert_eq!(norm("LocalHost.").unwrap(), "localhost");
        assert_eq!(norm("::1").unwrap(), "[::1]");
        assert_eq!(norm("[0:0::1]").unwrap(), "[::1]");
        assert_eq!(norm("*").unwrap(), "*");
        assert_eq!(norm("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(norm("MCP.example.net.").unwrap(), "mcp.example.net");
        for bad in [
            "",
            "localhost:8080",
            "http://x",
            "[zz]",
            "a b",
            ".",
            "mcp.example..",
            "a..b",
            ".a",
        ] {
            let err = norm(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn origin_entries_normalize_or_reject() {
        let norm = |s: &str| normalize_origin_entry("k", s).map_err(|e| e.to_string());
        assert_eq!(
            norm("HTTP://LocalHost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(norm("null").unwrap(), "null");
        assert_eq!(norm("http://[::1]:3000").unwrap(), "http://[::1]:3000");
        for bad in [
            "localhost",
            "http://x/",
            "http://x:port",
            "://x",
            "http://",
            "1http://x",
        ] {
            let err = norm(bad).unwrap_err();
            assert!(err.contains("k"), "{err}");
        }
    }
}
