//! Upstream URLs: parse `http://host[:port][/path]` and resolve the host to addresses at load.
//!
//! Not here: connecting (the upstream pool's job). Resolution uses std `ToSocketAddrs`, which
//! blocks: it runs once at config load, before any shard starts, never on the request path.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use super::error::{invalid_str, Error};
use super::model::{authority, UpstreamUrl};

/// What an upstream URL may look like.
const URL_ALLOWED: &str = "an http:// URL like \"http://127.0.0.1:9000/mcp\" (host name or IP, \
     optional port, optional path; no credentials, no fragment)";
/// What to say about `https://`.
const TLS_ALLOWED: &str =
    "an http:// URL: TLS upstreams (https://) are not supported yet; put a local TLS terminator \
     in front of the upstream or use plain http on a trusted network";

/// Parses an upstream URL and resolves its host. `key` names the setting in errors.
///
/// # Errors
/// [`Error::Invalid`] for anything but `http://host[:port][/path][?query]` (with a TLS-specific
/// message for `https://`); [`Error::Resolve`] when the host does not resolve.
pub(crate) fn parse_upstream_url(key: &str, text: &str) -> Result<UpstreamUrl, Error> {
    let bad = |allowed| invalid_str(key, text, allowed);
    let (scheme, rest) = text.split_once("://").ok_or_else(|| bad(URL_ALLOWED))?;
    if scheme.eq_ignore_ascii_case("https") {
        return Err(bad(TLS_ALLOWED));
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(bad(URL_ALLOWED));
    }
    if rest.contains(['#', ' ', '\t', '\r', '\n']) || rest.contains(char::is_control) {
        return Err(bad(URL_ALLOWED));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority_text, path) = rest.split_at(authority_end);
    if authority_text.contains('@') {
        return Err(bad(URL_ALLOWED));
    }
    let (host, port) = split_host_port(authority_text).ok_or_else(|| bad(URL_ALLOWED))?;
    let path = match path.strip_prefix('?') {
        Some(_) => format!("/{path}"),
        None if path.is_empty() => "/".to_owned(),
        None => path.to_owned(),
    };
    let addrs = resolve(key, text, &host, port)?;
    Ok(UpstreamUrl {
        authority: authority(&host, port),
        host,
        port,
        path,
        addrs,
    })
}

/// Splits `host[:port]` / `[v6][:port]` into a lowercase host (IPv6 keeps brackets, canonical
/// form) and a port (80 when absent).
fn split_host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let v6: Ipv6Addr = v6.parse().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        let name_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !name_ok {
            return None;
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => 80,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok()?
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Resolves the host: IP literals directly, names with the system resolver (blocking, at load).
fn resolve(key: &str, text: &str, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let resolve_error = |error| Error::Resolve {
        key: key.to_owned(),
        value: format!("{text:?}"),
        error,
    };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in (literal, port).to_socket_addrs().map_err(resolve_error)? {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(resolve_error(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the resolver returned no addresses",
        )));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<UpstreamUrl, String> {
        parse_upstream_url("upstreams.u.url", text).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_ip_urls_with_defaults() {
        let url = parse("http://127.0.0.1:9000/mcp").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 9000);
        assert_eq!(url.path, "/mcp");
        assert_eq!(url.authority, "127.0.0.1:9000");
        assert_eq!(url.addrs, vec!["127.0.0.1:9000".parse().unwrap()]);

        let url = parse("HTTP://10.1.2.3").unwrap();
        assert_eq!(
            (url.port, url.path.as_str(), url.authority.as_str()),
            (80, "/", "10.1.2.3")
        );
        assert_eq!(
            parse("http://10.1.2.3:80/x").unwrap().to_url(),
            "http://10.1.2.3/x"
        );
    }

    #[test]
    fn parses_ipv6_and_queries() {
        let url = parse("http://[0:0::1]:9000?key=1").unwrap();
        assert_eq!(url.host, "[::1]");
        assert_eq!(url.path, "/?key=1");
        assert_eq!(url.authority, "[::1]:9000");
        assert_eq!(url.addrs, vec!["[::1]:9000".parse().unwrap()]);
        assert_eq!(parse("http://[::1]/mcp?a=b").unwrap().path, "/mcp?a=b");
    }

    #[test]
    fn resolves_localhost_at_load() {
        let url = parse("http://LocalHost:9000/mcp").unwrap();
        assert_eq!(url.host, "localhost");
        assert_eq!(url.authority, "localhost:9000");
        assert!(!url.addrs.is_empty());
        assert!(url
            .addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 9000));
    }

    #[test]
    fn https_gets_a_tls_message() {
        let err = parse("https://example.com/mcp").unwrap_err();
        assert!(err.contains("upstreams.u.url"), "{err}");
        assert!(err.contains("\"https://example.com/mcp\""), "{err}");
        assert!(
            err.contains("TLS upstreams (https://) are not supported yet"),
            "{err}"
        );
    }

    #[test]
    fn rejects_malformed_urls() {
        for bad in [
            "127.0.0.1:9000",
            "ftp://x/",
            "http://",
            "http:///mcp",
            "http://user:pw@host/",
            "http://host:port/",
            "http://host:/",
            "http://host:99999/",
            "http://[::1/",
            "http://[::1]x/",
            "http://ho st/",
            "http://host/#frag",
            "http://a:1:2/",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.contains("upstreams.u.url") && err.contains("http://"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unresolvable_names_fail_at_load_with_the_key() {
        let err = parse("http://no-such-host.invalid/mcp").unwrap_err();
        assert!(err.contains("upstreams.u.url"), "{err}");
        assert!(err.contains("cannot resolve"), "{err}");
    }
}
