//! Token checks with keys made here (ring: ES256 and Ed25519; RSA tokens come from the real
//! authorization server in the interop tests).

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::*;
use crate::auth::jwks::KeySet;

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const ISS: &str = "https://as.example.com";
const AUD: &str = "https://mcp.example.com/mcp";

struct Signer {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
    jwk: serde_json::Value,
}

fn es256(kid: &'static str) -> Signer {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    Signer {
        kid,
        alg: Algorithm::ES256,
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                    "x": b64url(&point[1..33]), "y": b64url(&point[33..65])}),
    }
}

fn ed25519(kid: &'static str) -> Signer {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    Signer {
        kid,
        alg: Algorithm::EdDSA,
        key: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                    "x": b64url(pair.public_key().as_ref())}),
    }
}

fn set(signers: &[&Signer]) -> KeySet {
    let keys: Vec<_> = signers.iter().map(|s| s.jwk.clone()).collect();
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn claims() -> serde_json::Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": now() + 300, "iat": now(),
           "scope": "mcp:tools mcp:read"})
}

fn sign(signer: &Signer, claims: &serde_json::Value) -> String {
    let mut header = Header::new(signer.alg);
    header.kid = Some(signer.kid.into());
    encode(&header, claims, &signer.key).unwrap()
}

#[test]
fn accepts_es256_and_eddsa_tokens_and_reads_scopes() {
    for signer in [es256("ec-1"), ed25519("ed-1")] {
        let keys = set(&[&signer]);
        let got = verify(&sign(&signer, &claims()), &keys, ISS, AUD).unwrap();
        assert_eq!(got.subject, "alice");
        assert_eq!(got.scopes, ["mcp:tools", "mcp:read"]);
    }
    // `scp` as an array; `aud` as a list holding ours.
    let signer = es256("ec-2");
    let mut c = claims();
    c["scp"] = json!(["x"]);
    c["aud"] = json!(["other", AUD]);
    c.as_object_mut().unwrap().remove("scope");
    let got = verify(&sign(&signer, &c), &set(&[&signer]), ISS, AUD).unwrap();
    assert_eq!(got.scopes, ["x"]);
    // `scope` as an array (Spring Authorization Server).
    c["scope"] = json!(["a", "b"]);
    let got = verify(&sign(&signer, &c), &set(&[&signer]), ISS, AUD).unwrap();
    assert_eq!(got.scopes, ["a", "b", "x"]);
}

#[test]
fn refuses_what_must_be_refused() {
    let signer = es256("ec-1");
    let keys = set(&[&signer]);
    let mut cases: Vec<(serde_json::Value, &str)> = Vec::new();
    let mut c = claims();
    c["exp"] = json!(now() - 120);
    cases.push((c, "expired"));
    let mut c = claims();
    c["nbf"] = json!(now() + 120);
    cases.push((c, "not valid yet"));
    let mut c = claims();
    c["iss"] = json!("https://evil.example.com");
    cases.push((c, "another authorization server"));
    let mut c = claims();
    c["aud"] = json!("https://other.example.com/mcp");
    cases.push((c, "another resource"));
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sub");
    cases.push((c, "lacks"));
    for (claims, needle) in cases {
        let err = verify(&sign(&signer, &claims), &keys, ISS, AUD).unwrap_err();
        assert!(
            matches!(err, TokenError::Invalid(text) if text.contains(needle)),
            "{needle}: {err:?}"
        );
    }
    // Within the leeway: accepted.
    let mut c = claims();
    c["exp"] = json!(now() - 5);
    assert!(verify(&sign(&signer, &c), &keys, ISS, AUD).is_ok());
}

#[test]
fn refuses_forged_unsigned_and_hmac_tokens() {
    let signer = es256("ec-1");
    let keys = set(&[&signer]);
    let good = sign(&signer, &claims());
    // Tampered payload: the signature no longer verifies.
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims();
    forged["sub"] = json!("admin");
    let payload = b64url(forged.to_string().as_bytes());
    parts[1] = &payload;
    let err = verify(&parts.join("."), &keys, ISS, AUD).unwrap_err();
    assert_eq!(err, TokenError::Invalid("the signature does not verify"));
    // alg none.
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT","kid":"ec-1"}"#),
        b64url(claims().to_string().as_bytes())
    );
    assert!(matches!(
        verify(&none, &keys, ISS, AUD),
        Err(TokenError::Invalid(_))
    ));
    // HS256 keyed with the public JWK's bytes (key confusion).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("ec-1".into());
    let secret = signer.jwk.to_string();
    let hmac = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let err = verify(&hmac, &keys, ISS, AUD).unwrap_err();
    assert!(
        matches!(err, TokenError::Invalid(t) if t.contains("HMAC")),
        "{err:?}"
    );
    // ES256 header on an Ed25519 key's kid: the key does not allow it.
    let ed = ed25519("ed-1");
    let both = set(&[&signer, &ed]);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ed-1".into());
    let wrong = encode(&header, &claims(), &signer.key).unwrap();
    assert_eq!(verify(&wrong, &both, ISS, AUD), Err(TokenError::UnknownKey));
}

#[test]
fn unknown_kids_and_unusable_keys() {
    let signer = es256("ec-1");
    let other = es256("ec-2");
    let keys = set(&[&signer]);
    assert_eq!(
        verify(&sign(&other, &claims()), &keys, ISS, AUD),
        Err(TokenError::UnknownKey)
    );
    // An `oct` key and an encryption key are not verification keys.
    let doc = json!({"keys": [
        {"kty": "oct", "kid": "h", "k": b64url(b"secret")},
        {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc",
         "x": signer.jwk["x"], "y": signer.jwk["y"]},
        {"kty": "EC", "crv": "P-256", "kid": "pinned", "alg": "HS256",
         "x": signer.jwk["x"], "y": signer.jwk["y"]},
        {"kty": "unknown"}
    ]});
    assert!(KeySet::parse(doc.to_string().as_bytes())
        .unwrap()
        .is_empty());
    assert!(KeySet::parse(b"{}").is_err());
    assert!(KeySet::parse(b"not json").is_err());
}
