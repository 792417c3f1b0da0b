//! One `GET` of a small JSON document (an authorization server's metadata or JWK Set) on the
//! shard's I/O path: the host resolved off the shard (a blocking-pool thread), `https://`
//! through the same rustls client as upstreams (Mozilla's roots), a deadline for the whole
//! exchange, a size cap, no redirects. Runs in background tasks and in the rare request that
//! meets an unknown key id, never per request.
//!
//! Not here: what the documents mean (discovery.rs, keys.rs).

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
pub(super) struct Document {
    /// The body.
    pub(super) body: Vec<u8>,
    /// `Cache-Control: max-age`, when the server set one.
    pub(super) max_age: Option<Duration>,
}

/// Fetches `url` within `deadline`.
///
/// # Errors
/// A description for the log line: the URL is malformed, the host does not resolve, the
/// connection or TLS handshake fails, the answer is not a 200 within the size cap, or the
/// deadline passes.
pub(super) async fn get(io: &ShardIo, url: &str, deadline: Duration) -> Result<Document, String> {
    match shards::timeout::within(deadline, Box::pin(get_now(io, url, deadline))).await {
        Some(result) => result,
        None => Err(format!("GET {url}: no answer within {deadline:?}")),
    }
}

async fn get_now(io: &ShardIo, text: &str, deadline: Duration) -> Result<Document, String> {
    let fail = |what: &dyn std::fmt::Display| format!("GET {text}: {what}");
    let url = url::Url::parse(text).map_err(|e| fail(&e))?;
    let host = url.host_str().ok_or_else(|| fail(&"no host"))?.to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| fail(&"no port"))?;
    let addrs = resolve(&host, port).await.map_err(|e| fail(&e))?;
    let tls = match url.scheme() {
        "https" => {
            Some(UpstreamTls::new(&host, &UpstreamTrust::BuiltinRoots).map_err(|e| fail(&e)))
        }
        "http" => None,
        other => return Err(fail(&format!("unsupported scheme {other}"))),
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
    let mut request = Vec::with_capacity(256);
    write_request_head(
        &mut request,
        "GET",
        target.as_bytes(),
        [
            ("Host", authority.as_bytes()),
            ("Accept", b"application/json".as_slice()),
            ("User-Agent", b"shadowcat".as_slice()),
            ("Connection", b"close".as_slice()),
        ],
        Framing::Empty,
    );
    conn.write_all(&request).await.map_err(|e| fail(&e))?;
    conn.flush().await.map_err(|e| fail(&e))?;
    let limits = Limits::default();
    let mut head = ResponseHead::default();
    conn.read_final_response_head(&limits, &mut head)
        .await
        .map_err(|e| fail(&e))?;
    if head.status() != 200 {
        return Err(fail(&format!("status {}", head.status())));
    }
    let framing = head.framing(Method::Get).map_err(|e| fail(&e))?;
    let mut body = Vec::new();
    conn.read_response_body(framing, MAX_DOCUMENT, &mut body)
        .await
        .map_err(|e| fail(&e))?;
    Ok(Document {
        max_age: max_age(&head),
        body,
    })
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
