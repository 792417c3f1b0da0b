//! One exchange with an authorization server on the shard's I/O path: a `GET` of a small JSON
//! document (metadata, JWK Set) or a `POST` of a form (a token request). The host is resolved
//! off the shard (a blocking-pool thread), `https://` goes through the same rustls client as
//! upstreams (the default roots: the system CA store), with a deadline for the whole exchange,
//! a size cap and no redirects. Runs in background tasks and in rare requests (an unknown key id, a token
//! exchange), never per request. A caller that fetches from one server again and again (the
//! token endpoint of an upstream's `oauth`) passes its TLS setup built once
//! ([`tls_for`]), so the rustls configuration and its session cache (resumption) are reused.
//!
//! Not here: what the documents mean (`auth::discovery`, `auth::keys`, `credentials`).
//! Secrets: the `Authorization` value and the form go on the wire only; no error names them.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use shards::io::ShardIo;

use crate::http::{write_request_head, Framing, Limits, Method, ResponseHead};
use crate::tls::{UpstreamTls, UpstreamTrust};
use crate::upstream::pool::Pool;

/// Largest document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// What came back.
#[derive(Debug)]
pub(crate) struct Document {
    /// The status code.
    pub(crate) status: u16,
    /// The body.
    pub(crate) body: Vec<u8>,
    /// `Cache-Control: max-age`, when the server set one.
    pub(crate) max_age: Option<Duration>,
}

/// What to send.
#[derive(Debug, Clone, Copy)]
struct Outgoing<'a> {
    method: &'static str,
    url: &'a str,
    /// The `Authorization` value, if any.
    authorization: Option<&'a [u8]>,
    /// An `application/x-www-form-urlencoded` body, if any.
    form: Option<&'a [u8]>,
    /// The TLS setup for an `https://` URL, when the caller keeps one (else built now).
    tls: Option<&'a UpstreamTls>,
}

/// The TLS setup for fetching from `url` (the default roots: the system CA store), to build
/// once and pass to [`post_form`]: `None` for `http://` or a URL without a host (the fetch
/// reports it).
pub(crate) fn tls_for(url: &str) -> Option<UpstreamTls> {
    let url = url::Url::parse(url).ok()?;
    if url.scheme() != "https" {
        return None;
    }
    UpstreamTls::new(url.host_str()?, &UpstreamTrust::DefaultRoots).ok()
}

/// Fetches `url` within `deadline`.
///
/// # Errors
/// A description for the log line: the URL is malformed, the host does not resolve, the
/// connection or TLS handshake fails, the answer is not a 200 within the size cap, or the
/// deadline passes.
pub(crate) async fn get(io: &ShardIo, url: &str, deadline: Duration) -> Result<Document, String> {
    let outgoing = Outgoing {
        method: "GET",
        url,
        authorization: None,
        form: None,
        tls: None,
    };
    let doc = send(io, outgoing, deadline).await?;
    if doc.status != 200 {
        return Err(format!("GET {url}: status {}", doc.status));
    }
    Ok(doc)
}

/// POSTs `form` (already encoded) to `url` with `authorization` within `deadline`, over `tls`
/// ([`tls_for`] the same `url`) when the caller keeps it; any status comes back with its body
/// (an OAuth error answer is a JSON 400).
///
/// # Errors
/// As [`get`], but a status other than 200 is no error.
pub(crate) async fn post_form(
    (io, tls): (&ShardIo, Option<&UpstreamTls>),
    url: &str,
    authorization: &[u8],
    form: &[u8],
    deadline: Duration,
) -> Result<Document, String> {
    let outgoing = Outgoing {
        method: "POST",
        url,
        authorization: Some(authorization),
        form: Some(form),
        tls,
    };
    send(io, outgoing, deadline).await
}

async fn send(
    io: &ShardIo,
    outgoing: Outgoing<'_>,
    deadline: Duration,
) -> Result<Document, String> {
    let exchange = Box::pin(send_now(io, outgoing, deadline));
    match shards::timeout::within(deadline, exchange).await {
        Some(result) => result,
        None => Err(format!(
            "{} {}: no answer within {deadline:?}",
            outgoing.method, outgoing.url
        )),
    }
}

async fn send_now(
    io: &ShardIo,
    outgoing: Outgoing<'_>,
    deadline: Duration,
) -> Result<Document, String> {
    let text = outgoing.url;
    let fail = |what: &dyn std::fmt::Display| format!("{} {text}: {what}", outgoing.method);
    let url = url::Url::parse(text).map_err(|e| fail(&e))?;
    let host = url.host_str().ok_or_else(|| fail(&"no host"))?.to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| fail(&"no port"))?;
    let addrs = resolve(&host, port).await.map_err(|e| fail(&e))?;
    let tls = match (url.scheme(), outgoing.tls) {
        ("https", Some(kept)) => Some(Ok(kept.clone())),
        ("https", None) => {
            Some(UpstreamTls::new(&host, &UpstreamTrust::DefaultRoots).map_err(|e| fail(&e)))
        }
        ("http", _) => None,
        (other, _) => return Err(fail(&format!("unsupported scheme {other}"))),
    };
    let tls = tls.transpose()?;
    let pool = Pool::new(io.clone(), addrs, deadline, 0, tls.map(Ok));
    let mut conn = pool.connect().await.map_err(|e| fail(&e))?;
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let request = request_bytes(outgoing, &target, &authority);
    conn.write_all(&request).await.map_err(|e| fail(&e))?;
    conn.flush().await.map_err(|e| fail(&e))?;
    let limits = Limits::default();
    let mut head = ResponseHead::default();
    conn.read_final_response_head(&limits, &mut head)
        .await
        .map_err(|e| fail(&e))?;
    let method = if outgoing.form.is_some() {
        Method::Post
    } else {
        Method::Get
    };
    let framing = head.framing(method).map_err(|e| fail(&e))?;
    let mut body = Vec::new();
    conn.read_response_body(framing, MAX_DOCUMENT, &mut body)
        .await
        .map_err(|e| fail(&e))?;
    Ok(Document {
        status: head.status(),
        max_age: max_age(&head),
        body,
    })
}

/// The request's bytes: head (`target` on `authority`) and form, if any.
fn request_bytes(outgoing: Outgoing<'_>, target: &str, authority: &str) -> Vec<u8> {
    let mut request = Vec::with_capacity(512);
    let fields = [
        ("Host", authority.as_bytes()),
        ("Accept", b"application/json".as_slice()),
        ("User-Agent", b"shadowcat".as_slice()),
        ("Connection", b"close".as_slice()),
    ];
    let form = outgoing.form.map(|form| {
        let auth = outgoing.authorization.map(|a| ("Authorization", a));
        let kind = (
            "Content-Type",
            b"application/x-www-form-urlencoded".as_slice(),
        );
        (form, auth.into_iter().chain([kind]))
    });
    match form {
        None => write_request_head(
            &mut request,
            outgoing.method,
            target.as_bytes(),
            fields,
            Framing::Empty,
        ),
        Some((form, extra)) => {
            let framing = Framing::Length(form.len() as u64);
            let fields = fields.into_iter().chain(extra);
            write_request_head(
                &mut request,
                outgoing.method,
                target.as_bytes(),
                fields,
                framing,
            );
            request.extend_from_slice(form);
        }
    }
    request
}

/// The host's addresses: an IP literal as it is, a name through the resolver on glommio's
/// blocking pool (getaddrinfo would stall every connection of the shard).
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = bare.to_owned();
    let resolved = glommio::executor()
        .spawn_blocking(move || {
            (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>)
        })
        .await;
    match resolved {
        Ok(addrs) if !addrs.is_empty() => Ok(addrs),
        Ok(_) => Err(format!("{host} resolves to no address")),
        Err(e) => Err(format!("cannot resolve {host}: {e}")),
    }
}

/// `Cache-Control: max-age=N`.
fn max_age(head: &ResponseHead) -> Option<Duration> {
    use crate::http::Head as _;
    let value = std::str::from_utf8(head.header("cache-control")?).ok()?;
    value.split(',').find_map(|directive| {
        let (name, secs) = directive.trim().split_once('=')?;
        name.eq_ignore_ascii_case("max-age")
            .then(|| secs.trim().parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}
