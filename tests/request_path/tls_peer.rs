//! Test plumbing for TLS: certificates made with rcgen (a CA and a server certificate for
//! 127.0.0.1 and localhost it signs, written to temp files), a proxy with a TLS listener in
//! front of the demo server, and [`tls_exchange`], one HTTP/1.1 request over a raw rustls
//! client connection ([`tls_messages`] reads its JSON-RPC answers). Client certificates for
//! mTLS: the PKI's own one, or one per name ([`TestPki::client_named`]).
//!
//! Not here: the tests (tls.rs).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::client::IO_TIMEOUT;
use crate::harness::{Proxy, IO_PATH};

/// A CA and a server certificate for `127.0.0.1` and `localhost` it signed, as PEM files
/// (removed on drop).
pub(crate) struct TestPki {
    /// The CA certificate.
    pub(crate) ca: TempFile,
    /// The server's certificate.
    pub(crate) cert: TempFile,
    /// The server's private key (PKCS#8).
    pub(crate) key: TempFile,
    /// A client certificate the CA signed, and its key (PEM), for mTLS.
    client: (String, String),
    /// The CA, to sign more client certificates.
    issuer: Issuer<'static, KeyPair>,
}

/// A client certificate and its key, PEM.
pub(crate) type ClientCert = (String, String);

impl TestPki {
    /// A fresh CA named `name` and its server certificate.
    pub(crate) fn new(name: &str) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["client.test".to_owned()])
            .unwrap()
            .signed_by(&client_key, &issuer)
            .unwrap();
        TestPki {
            ca: TempFile::new(ca_cert.pem().as_bytes()),
            cert: TempFile::new(server.pem().as_bytes()),
            key: TempFile::new(key.serialize_pem().as_bytes()),
            client: (client.pem(), client_key.serialize_pem()),
            issuer,
        }
    }

    /// A client certificate this CA signs for subject `O=Example,CN=name` (RFC 4514:
    /// `CN=name,O=Example`).
    pub(crate) fn client_named(&self, name: &str) -> ClientCert {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![format!("{name}.test")]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A rustls client trusting only this CA, showing the client certificate of `cert_from`
    /// (this PKI or another one) when given.
    pub(crate) fn client_config(&self, cert_from: Option<&TestPki>) -> Arc<rustls::ClientConfig> {
        self.client_config_with(cert_from.map(|pki| &pki.client))
    }

    /// A rustls client trusting only this CA, showing `cert` when given.
    pub(crate) fn client_config_with(
        &self,
        cert: Option<&ClientCert>,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca.0).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder =
            rustls::ClientConfig::builder_with_provider(Arc::new(shadowcat::tls::provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let config = match cert {
            Some((cert, key)) => {
                let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// A file under the temp directory, removed on drop.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl TempFile {
    /// A new file holding `bytes`.
    pub(crate) fn new(bytes: &[u8]) -> TempFile {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "shadowcat-tls-test-{}-{}.pem",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }

    /// The path as a TOML string.
    pub(crate) fn toml(&self) -> String {
        format!("{:?}", self.0.display().to_string())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One shard with a TLS listener presenting `pki`'s server certificate (`extra` lines added to
/// the listener, `timeouts` to `[timeouts]`), in front of the embedded demo server.
pub(crate) fn tls_listener_proxy(pki: &TestPki, extra: &str, timeouts: &str) -> Proxy {
    tls_listener_proxy_with(pki, extra, timeouts, "")
}

/// [`tls_listener_proxy`] with `tables` added at the end (`[[listeners.main.routes.policy]]`
/// rules of its one route, say).
pub(crate) fn tls_listener_proxy_with(
    pki: &TestPki,
    extra: &str,
    timeouts: &str,
    tables: &str,
) -> Proxy {
    TlsProxy {
        extra,
        timeouts,
        tables,
        ..TlsProxy::default()
    }
    .start(pki)
}

/// The embedded demo server over HTTP as the route's upstream `demo`.
pub(crate) const DEMO_UPSTREAM: &str = "[upstreams.demo]\nurl = \"http://127.0.0.1:0/mcp\"\n\
     request_timeout = \"10s\"\n\n[demo]\nbind = \"127.0.0.1:0\"\npath = \"/mcp\"\n";

/// A proxy with a TLS listener (one route, `/mcp`, to the upstream `demo`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TlsProxy<'t> {
    /// How many shards.
    pub(crate) shards: usize,
    /// Lines added to the listener.
    pub(crate) extra: &'t str,
    /// Lines added to `[timeouts]`.
    pub(crate) timeouts: &'t str,
    /// Tables added at the end (the route's `[[listeners.main.routes.policy]]` rules, say).
    pub(crate) tables: &'t str,
    /// Lines added to the route (`legacy_sse = true`, say).
    pub(crate) route: &'t str,
    /// The `[upstreams.demo]` table (and whatever it needs): [`DEMO_UPSTREAM`] by default.
    pub(crate) upstream: &'t str,
    /// Lines added to `[runtime]` (`hops = "move"`, say).
    pub(crate) runtime: &'t str,
}

impl Default for TlsProxy<'_> {
    fn default() -> Self {
        TlsProxy {
            shards: 1,
            extra: "",
            timeouts: "",
            tables: "",
            route: "",
            upstream: DEMO_UPSTREAM,
            runtime: "",
        }
    }
}

impl TlsProxy<'_> {
    /// Starts it, presenting `pki`'s server certificate.
    pub(crate) fn start(self, pki: &TestPki) -> Proxy {
        let TlsProxy {
            shards,
            extra,
            timeouts,
            tables,
            route,
            upstream,
            runtime,
        } = self;
        let toml = format!(
            "[runtime]\nshards = {shards}\nio_memory = \"256KiB\"\nio = \"{IO_PATH}\"\n{runtime}\n\n\
             [listeners.main]\nbind = \"127.0.0.1:0\"\ntls_cert = {cert}\ntls_key = {key}\n{extra}\n\n\
             [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"demo\"\n{route}\n\n\
             {upstream}\n\
             [timeouts]\nshutdown_grace = \"2s\"\n{timeouts}\n\n\
             [admin]\nbind = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n{tables}",
            cert = pki.cert.toml(),
            key = pki.key.toml(),
        );
        Proxy::start_toml(
            &toml,
            shards,
            format!("tls-listener-{}", std::process::id()),
        )
    }
}

/// POSTs `body` to `/mcp` at `addr` over TLS (`client`: [`TestPki::client_config`], server
/// name 127.0.0.1) with `headers` and `Connection: close`, and returns everything the server
/// sent, head and body, as text (empty when the handshake failed).
pub(crate) fn tls_exchange(
    addr: SocketAddr,
    client: Arc<rustls::ClientConfig>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(client, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut answer = Vec::new();
    if tls
        .write_all(request.as_bytes())
        .and_then(|()| tls.write_all(body))
        .and_then(|()| tls.flush())
        .is_err()
    {
        return String::new();
    }
    // The server closes after the answer; a close without close_notify is fine here.
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8(answer).unwrap()
}

/// The status and JSON-RPC messages of a [`tls_exchange`] answer (a JSON or SSE body, with
/// `Content-Length`, chunked or up to the close).
pub(crate) fn tls_messages(answer: &str) -> (u16, Vec<serde_json::Value>) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    let lower = head.to_ascii_lowercase();
    let body = if lower.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let messages = if lower.contains("content-type: text/event-stream") {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|data| serde_json::from_str(data.trim()).unwrap())
            .collect()
    } else if body.is_empty() {
        Vec::new()
    } else {
        vec![serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))]
    };
    (status, messages)
}

/// A chunked body's data.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
