//! An authorization server's public side for the authentication tests: a std HTTP/1.1 server
//! on 127.0.0.1 port 0 serving its RFC 8414 metadata and JWK Set (one request per
//! connection), with ES256 keys made by ring and tokens signed by them. The test can rotate
//! the served keys and count fetches. (The interop tests run a real authorization server;
//! this one lets the request-path tests mint any token, hostile ones included.) With
//! [`Issuer::exchanging`], `POST /exchange` is an RFC 8693 token exchange whose token names
//! the caller token it was exchanged for ([`exchanged_for`]).
//!
//! Dropping it stops the acceptor and joins it, also when the test panics.

#![allow(
    clippy::disallowed_types,
    reason = "the test's server thread and the test share its documents; no shard is involved"
)]

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::client::IO_TIMEOUT;

/// One ES256 signing key and its public JWK.
pub(crate) struct SigningKey {
    kid: String,
    key: EncodingKey,
    pub(crate) jwk: Value,
}

impl SigningKey {
    /// A fresh P-256 key named `kid`.
    pub(crate) fn new(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("key generated");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key parsed");
        let point = pair.public_key().as_ref();
        SigningKey {
            kid: kid.to_owned(),
            key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                        "x": b64url(&point[1..33]), "y": b64url(&point[33..65])}),
        }
    }

    /// `claims` signed by this key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.key).expect("token signed")
    }
}

/// The running server; stopped and joined on drop.
pub(crate) struct Issuer {
    /// `http://127.0.0.1:PORT`: the issuer identifier.
    pub(crate) url: String,
    addr: SocketAddr,
    documents: Arc<Mutex<HashMap<String, String>>>,
    fetches: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Issuer {
    /// Serves metadata naming `/jwks`, and a JWK Set of `keys`.
    pub(crate) fn start(keys: &[&SigningKey]) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("issuer binds");
        let addr = listener.local_addr().expect("issuer address");
        let url = format!("http://{addr}");
        let documents = Arc::new(Mutex::new(HashMap::new()));
        let fetches = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (docs, counts, flag) = (documents.clone(), fetches.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream, &docs, &counts);
                }
            }
        });
        let issuer = Issuer {
            url,
            addr,
            documents,
            fetches,
            stop,
            acceptor: Some(acceptor),
        };
        issuer.set(
            "/.well-known/oauth-authorization-server",
            json!({"issuer": issuer.url, "jwks_uri": format!("{}/jwks", issuer.url),
                   "token_endpoint": format!("{}/token", issuer.url)}),
        );
        issuer.serve_keys(keys);
        issuer
    }

    /// Serves `keys` as the JWK Set from now on.
    pub(crate) fn serve_keys(&self, keys: &[&SigningKey]) {
        let keys: Vec<&Value> = keys.iter().map(|k| &k.jwk).collect();
        self.set("/jwks", json!({ "keys": keys }));
    }

    /// How many times `path` was fetched.
    pub(crate) fn fetches(&self, path: &str) -> usize {
        let counts = self.fetches.lock().expect("counts");
        counts.get(path).copied().unwrap_or(0)
    }

    /// Serves `doc` at `path` from now on (any method; a POST body is not read).
    pub(crate) fn set(&self, path: &str, doc: Value) {
        let mut docs = self.documents.lock().expect("documents");
        docs.insert(path.to_owned(), doc.to_string());
    }
}

/// The access token `POST /exchange` issues for `subject_token` (a signed JWT): `ex.` and the
/// token's signature, so each caller token has its own, and a test knows which it was.
pub(crate) fn exchanged_for(subject_token: &str) -> String {
    let signature = subject_token.rsplit('.').next().unwrap_or_default();
    format!("ex.{signature}")
}

impl Issuer {
    /// Answers `POST /exchange` from now on (else it is 404: the server cannot be reached).
    pub(crate) fn exchanging(&self) {
        self.set("/exchange", json!({}));
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Answers one request: the document at its path, or 404.
fn serve(
    mut stream: TcpStream,
    docs: &Mutex<HashMap<String, String>>,
    counts: &Mutex<HashMap<String, usize>>,
) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let mut buf = Vec::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
    let body = read_body(&mut stream, &head, buf.split_off(end));
    *counts
        .lock()
        .expect("counts")
        .entry(path.clone())
        .or_default() += 1;
    let mut doc = docs.lock().expect("documents").get(&path).cloned();
    if path == "/exchange" && doc.is_some() {
        doc = Some(exchange_answer(&body));
    }
    let answer = match doc {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
        None => {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        }
    };
    let _ = stream.write_all(answer.as_bytes());
}

/// The body after `head`, `read` of it already in hand (`Content-Length` bytes).
fn read_body(stream: &mut TcpStream, head: &str, mut read: Vec<u8>) -> Vec<u8> {
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    crate::recorder::read_to(stream, &mut read, length);
    read
}

/// The token response to an exchange `form`: [`exchanged_for`] its `subject_token`.
fn exchange_answer(form: &[u8]) -> String {
    let subject = url::form_urlencoded::parse(form)
        .find(|(name, _)| name == "subject_token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    json!({"access_token": exchanged_for(&subject), "token_type": "Bearer",
           "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
           "expires_in": 3600})
    .to_string()
}

/// `bytes` in unpadded base64url.
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
