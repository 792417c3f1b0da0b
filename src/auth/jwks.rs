//! [`KeySet`]: the signing keys of an authorization server, parsed from its JWK Set (RFC
//! 7517): RSA, EC (P-256, P-384) and Ed25519 public keys for signatures. Symmetric (`oct`)
//! keys, encryption keys and keys of other types are left out: an HMAC key next to public
//! keys would let anyone holding the public JWK forge tokens.
//!
//! Not here: fetching the set (fetch.rs, keys.rs), verifying tokens (jwt.rs).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// One usable verification key.
pub(super) struct SigningKey {
    /// Its `kid`, when the set names it.
    pub(super) kid: Option<String>,
    /// What it verifies with.
    pub(super) key: DecodingKey,
    /// The algorithms its type allows (the JWK's `alg` narrows them to one).
    pub(super) algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The keys of one JWK Set.
#[derive(Debug, Default)]
pub(super) struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// Parses a JWK Set document; keys that cannot verify signatures are skipped.
    ///
    /// # Errors
    /// Not JSON, or no `keys` array.
    pub(super) fn parse(json: &[u8]) -> Result<KeySet, &'static str> {
        let doc: serde_json::Value =
            serde_json::from_slice(json).map_err(|_| "the JWK Set is not JSON")?;
        let entries = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or("the JWK Set has no \"keys\" array")?;
        let keys = entries
            .iter()
            .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
            .filter_map(|jwk| signing_key(&jwk))
            .collect();
        Ok(KeySet { keys })
    }

    /// How many keys it holds.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub(super) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a token signed with `alg` naming `kid`: the key with that id; else (a
    /// token without `kid`, or a set whose keys have none) the only key without an id that
    /// allows `alg` (or, for a token without `kid`, the only key at all that allows it).
    /// `None` when there is no such key.
    pub(super) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&SigningKey> {
        if let Some(kid) = kid {
            if let Some(named) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                return named.algorithms.contains(&alg).then_some(named);
            }
        }
        let fitting =
            |k: &&SigningKey| k.algorithms.contains(&alg) && (kid.is_none() || k.kid.is_none());
        let mut candidates = self.keys.iter().filter(fitting);
        let first = candidates.next();
        candidates.next().is_none().then_some(first).flatten()
    }
}

/// A JWK as a verification key, if it is one.
fn signing_key(jwk: &Jwk) -> Option<SigningKey> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let (key, algorithms) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => (
            DecodingKey::from_rsa_components(&rsa.n, &rsa.e).ok()?,
            vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
        ),
        AlgorithmParameters::EllipticCurve(ec) => {
            let alg = match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            };
            (
                DecodingKey::from_ec_components(&ec.x, &ec.y).ok()?,
                vec![alg],
            )
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => (
            DecodingKey::from_ed_components(&okp.x).ok()?,
            vec![Algorithm::EdDSA],
        ),
        // `oct` (HMAC secrets) and other curves: never verification keys here.
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        None => algorithms,
        // The JWK pins one algorithm: only that one, and only a signature algorithm its type
        // allows (an RSA key declared for HS256 or RSA-OAEP is no verification key).
        Some(pinned) => match declared(pinned) {
            Some(alg) if algorithms.contains(&alg) => vec![alg],
            _ => return None,
        },
    };
    Some(SigningKey {
        kid: jwk.common.key_id.clone(),
        key,
        algorithms,
    })
}

/// A JWK `alg` as an asymmetric signature algorithm (HMAC and encryption algorithms are not).
fn declared(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
