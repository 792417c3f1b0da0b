//! Test plumbing for `https://` upstreams: certificates made with rcgen (a CA and a server
//! certificate for 127.0.0.1 it signs) and [`Terminator`], a small rustls server that ends TLS
//! and relays the bytes to a plain HTTP address (another proxy in front of the demo server).
//!
//! Not here: the tests (tls.rs). The terminator is plumbing until shadowcat's own listeners
//! speak TLS.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and a server certificate for `127.0.0.1` and `localhost` it signed.
pub(crate) struct TestPki {
    /// The CA certificate, PEM.
    pub(crate) ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

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
        TestPki {
            ca_pem: ca_cert.pem(),
            server_chain: vec![server.der().clone()],
            server_key: key.serialize_der(),
        }
    }

    /// Writes the CA certificate to a new file (removed on drop).
    pub(crate) fn ca_file(&self) -> TempFile {
        TempFile::new(self.ca_pem.as_bytes())
    }

    /// A rustls server configuration presenting the server certificate.
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(shadowcat::tls::provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(self.server_chain.clone(), key)
                .unwrap();
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
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How long one side of a relay waits for bytes before looking at the other side.
const POLL: Duration = Duration::from_millis(2);

/// A TLS server on 127.0.0.1 relaying every connection's plaintext to `backend`; stopped and
/// joined on drop.
pub(crate) struct Terminator {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Terminator {
    /// Starts one presenting `pki`'s server certificate.
    pub(crate) fn start(pki: &TestPki, backend: SocketAddr) -> Terminator {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let config = pki.server_config();
        let flag = stop.clone();
        let accept = std::thread::spawn(move || {
            let mut relays = Vec::new();
            // Drop wakes the blocking accept with a connection of its own after setting `stop`.
            while let Ok((client, _)) = listener.accept() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let (config, flag) = (config.clone(), flag.clone());
                relays.push(std::thread::spawn(move || {
                    relay(client, backend, config, &flag);
                }));
            }
            for relay in relays {
                let _ = relay.join();
            }
        });
        Terminator {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Relays one connection until either side closes, a side fails (a refused handshake ends it
/// here) or the terminator stops.
fn relay(
    client: TcpStream,
    backend: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    stop: &AtomicBool,
) {
    let Ok(mut plain) = TcpStream::connect(backend) else {
        return;
    };
    let (Ok(()), Ok(())) = (
        client.set_read_timeout(Some(POLL)),
        plain.set_read_timeout(Some(POLL)),
    ) else {
        return;
    };
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, client);
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match tls.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if plain.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
        match plain.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}
