//! Upstream URLs: check `http[s]://host[:port][/path][?query]` with the `url` crate and resolve
//! the host to addresses at load.
//!
//! Not here: connecting (the upstream pool's job). Resolution uses std `ToSocketAddrs`, which
//! blocks: it runs once at config load, before any shard starts, never on the request path.
//!
//! The `url` crate does the parsing (IPv6 literals, IDNA, default ports, percent-encoding, dot
//! segments). What it accepts and an upstream URL must not have is refused here: credentials,
//! fragments, schemes other than http(s), and the WHATWG leniencies a config file should not
//! rely on (`http:host`, `http:///host`, backslashes, stripped tabs and newlines, `host:`).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use ::url::{Host, Url};

use super::error::{invalid_str, Error};
use super::model::{authority, UpstreamUrl};

/// What an upstream URL may look like.
const URL_ALLOWED: &str = "an http:// or https:// URL like \"http://127.0.0.1:9000/mcp\" (host \
     name or IP, optional port, optional path; no credentials, no fragment)";
/// What to say about another scheme.
const SCHEME_ALLOWED: &str =
    "an http:// or https:// URL: the scheme must be http or https (upstreams speak HTTP/1.1)";
/// What to say about `user:password@`.
const CREDENTIALS_ALLOWED: &str =
    "an http:// or https:// URL without credentials: credentials in URLs are \
     not allowed (they end up in logs and `config check`); send them in a header instead";
/// What to say about `#fragment`.
const FRAGMENT_ALLOWED: &str =
    "an http:// or https:// URL without a fragment (#...): a fragment is never sent to the server";

/// The scheme of an upstream URL (`Https`: default port 443, [`UpstreamUrl::tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

/// An upstream URL checked and split, before its host is resolved.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    scheme: Scheme,
    /// Lowercase name (IDNA to ASCII) or IP literal; IPv6 in brackets, canonical form.
    host: String,
    /// The host's address when it is an IP literal: nothing to resolve.
    ip: Option<IpAddr>,
    /// Explicit port, or the scheme's default.
    port: u16,
    /// Path and query as sent on the request line, percent-encoding kept.
    path: String,
}

/// Parses an upstream URL and resolves its host. `key` names the setting in errors.
///
/// # Errors
/// [`Error::Invalid`] for anything but `http[s]://host[:port][/path][?query]` (with specific
/// messages for credentials, fragments and other schemes);
/// [`Error::Resolve`] when the host does not resolve.
pub(crate) fn parse_upstream_url(key: &str, text: &str) -> Result<UpstreamUrl, Error> {
    let target = parse_target(text).map_err(|allowed| invalid_str(key, text, allowed))?;
    let addrs = match target.ip {
        Some(ip) => vec![SocketAddr::new(ip, target.port)],
        None => resolve(key, text, &target.host, target.port)?,
    };
    let tls = target.scheme == Scheme::Https;
    Ok(UpstreamUrl {
        tls,
        authority: authority(&target.host, target.port, tls),
        host: target.host,
        port: target.port,
        path: target.path,
        addrs,
    })
}

/// Checks and splits `text`; the error is what would have been allowed.
fn parse_target(text: &str) -> Result<Target, &'static str> {
    let url = Url::parse(text).map_err(|_| URL_ALLOWED)?;
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(SCHEME_ALLOWED),
    };
    let authority = raw_authority(text).ok_or(URL_ALLOWED)?;
    // `@` alone too: WHATWG drops an empty `user@`, which still says someone meant credentials.
    if authority.contains('@') || !url.username().is_empty() || url.password().is_some() {
        return Err(CREDENTIALS_ALLOWED);
    }
    if url.fragment().is_some() {
        return Err(FRAGMENT_ALLOWED);
    }
    let (host, ip) = match url.host().ok_or(URL_ALLOWED)? {
        Host::Domain(name) if is_host_name(name) => (name.to_owned(), None),
        Host::Domain(_) => return Err(URL_ALLOWED),
        Host::Ipv4(v4) => (v4.to_string(), Some(IpAddr::V4(v4))),
        Host::Ipv6(v6) => (format!("[{v6}]"), Some(IpAddr::V6(v6))),
    };
    let port = url.port_or_known_default().ok_or(URL_ALLOWED)?;
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    Ok(Target {
        scheme,
        host,
        ip,
        port,
        path,
    })
}

/// The authority as written (between `://` and the first `/`, `?` or `#`), or `None` for text
/// the `url` crate would read leniently: no `://`, whitespace, control characters or
/// backslashes anywhere, an empty authority (`http:///x`, which WHATWG reads as host `x`) or an
/// empty port (`host:`, which WHATWG reads as the default port).
fn raw_authority(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("://")?;
    if text.contains(|c: char| c.is_whitespace() || c.is_control() || c == '\\') {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    (!authority.is_empty() && !authority.ends_with(':')).then_some(authority)
}

/// Whether a name (already IDNA-mapped to lowercase ASCII) is one the resolver can look up:
/// letters, digits, `-`, `.`, `_`. The `url` crate lets through other punctuation (`!`, `*`,
/// `$`) that no DNS name has; refusing it here says "bad URL" instead of "cannot resolve".
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Resolves a host name with the system resolver (blocking, at load).
fn resolve(key: &str, text: &str, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    let resolve_error = |error| Error::Resolve {
        key: key.to_owned(),
        value: format!("{text:?}"),
        error,
    };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in (host, port).to_socket_addrs().map_err(resolve_error)? {
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

    fn target(text: &str) -> Target {
        parse_target(text).unwrap()
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
    fn ipv6_literals_take_ports_and_default_to_80() {
        let url = parse("http://[2001:DB8:0:0:0:0:0:1]:8443/mcp").unwrap();
        assert_eq!(url.host, "[2001:db8::1]");
        assert_eq!(url.authority, "[2001:db8::1]:8443");
        assert_eq!(url.addrs, vec!["[2001:db8::1]:8443".parse().unwrap()]);
        let url = parse("http://[::1]/").unwrap();
        assert_eq!((url.port, url.authority.as_str()), (80, "[::1]"));
        assert_eq!(url.to_url(), "http://[::1]/");
    }

    #[test]
    fn percent_encoding_is_kept_as_written() {
        let url = parse("http://127.0.0.1/a%2Fb/%7Euser?q=%26x%3D1").unwrap();
        assert_eq!(url.path, "/a%2Fb/%7Euser?q=%26x%3D1");
        // Characters that cannot go on a request line are encoded, not sent raw.
        assert_eq!(
            parse("http://127.0.0.1/caf\u{e9}").unwrap().path,
            "/caf%C3%A9"
        );
    }

    #[test]
    fn uppercase_schemes_and_hosts_are_lowercased() {
        let t = target("HtTp://MCP.Example.COM:9000/MCP");
        assert_eq!(
            (t.scheme, t.host.as_str()),
            (Scheme::Http, "mcp.example.com")
        );
        assert_eq!((t.port, t.path.as_str(), t.ip), (9000, "/MCP", None));
    }

    #[test]
    fn idna_hosts_become_punycode() {
        let t = target("http://B\u{fc}cher.example/mcp");
        assert_eq!(t.host, "xn--bcher-kva.example");
        assert_eq!((t.port, t.path.as_str()), (80, "/mcp"));
    }

    #[test]
    fn https_is_parsed_with_port_443() {
        let t = target("https://mcp.example.com/mcp");
        assert_eq!(t.scheme, Scheme::Https);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("mcp.example.com", 443, "/mcp")
        );
        assert_eq!(target("https://[::1]:8443").port, 8443);
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
    fn https_urls_are_tls_with_443_left_out_of_the_authority() {
        let url = parse("https://127.0.0.1/mcp").unwrap();
        assert!(url.tls);
        assert_eq!((url.port, url.authority.as_str()), (443, "127.0.0.1"));
        assert_eq!(url.to_url(), "https://127.0.0.1/mcp");
        let url = parse("https://127.0.0.1:80/mcp").unwrap();
        assert_eq!(url.authority, "127.0.0.1:80");
        assert_eq!(url.to_url(), "https://127.0.0.1:80/mcp");
        assert!(!parse("http://127.0.0.1/mcp").unwrap().tls);
    }

    #[test]
    fn credentials_are_refused_with_their_own_message() {
        for bad in [
            "http://user:pw@127.0.0.1/",
            "http://user@127.0.0.1/",
            "http://:pw@127.0.0.1/",
            "http://@127.0.0.1/",
            "https://user:pw@example.com/",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
            assert!(
                err.contains("credentials in URLs are not allowed"),
                "{bad}: {err}"
            );
            assert!(err.contains("header"), "{bad}: {err}");
        }
    }

    #[test]
    fn fragments_and_other_schemes_get_their_own_messages() {
        let err = parse("http://127.0.0.1/mcp#top").unwrap_err();
        assert!(err.contains("without a fragment"), "{err}");
        for bad in ["ftp://127.0.0.1/", "ws://127.0.0.1/", "file:///etc/passwd"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("the scheme must be http"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_malformed_urls() {
        for bad in [
            "127.0.0.1:9000",
            "ftp://x/",
            "http://",
            "http:///mcp",
            "http:127.0.0.1/",
            "http://user:pw@host/",
            "http://host:port/",
            "http://host:/",
            "http://[::1]:/",
            "http://host:99999/",
            "http://:80/",
            "http://[::1/",
            "http://[::1]x/",
            "http://ho st/",
            "http://ho\tst/",
            "http://host/a\nb",
            "http://host\\mcp",
            "http://ho!st/",
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
