//! `requestState` handles for translated MRTR rounds: an AEAD-sealed (XChaCha20-Poly1305)
//! record naming the shard that holds the pending upstream exchange, the exchange id, the
//! upstream, the principal, the request it belongs to and an expiry (MCP-NOTES §9: the state
//! is attacker-controlled and must be sealed and bound to principal, expiry and request).
//!
//! Not here: the pending exchanges themselves (pending.rs) or routing the retry (mod.rs).
//! The key is the run's [`SealKey`] from the config snapshot every shard holds (drawn once by
//! `app::start`), so a handle sealed on one shard opens on every other.

use std::time::{SystemTime, UNIX_EPOCH};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::config::SealKey;

/// Format tag of the sealed record (bumped if the layout changes).
const VERSION: u8 = 1;
/// XChaCha20 nonce length: random nonces are safe at this size.
const NONCE_BYTES: usize = 24;
/// Longest principal name a handle carries.
pub const MAX_PRINCIPAL: usize = 255;

/// What a `requestState` handle names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// The shard holding the pending exchange.
    pub shard: u16,
    /// The upstream the exchange runs on ([`UpstreamId::compact`](crate::config::UpstreamId::compact)).
    pub upstream: u16,
    /// The exchange id in that shard's pending table.
    pub exchange: u64,
    /// Hash of the request it continues (method and name): a handle from another request is refused.
    pub request: u64,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_ms: u64,
    /// Who may continue it.
    pub principal: String,
}

/// Why a handle was refused (each becomes a 400 `-32602` with these words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not our format, not Base64, or the tag does not verify (tampered or from another process).
    Invalid,
    /// Past its expiry.
    Expired,
    /// Sealed for another principal.
    ForeignPrincipal,
    /// Sealed for another request (method or name differ).
    OtherRequest,
}

impl Refusal {
    /// Words for the client-facing message.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => {
                "requestState is not valid (tampered, truncated or from another proxy instance)"
            }
            Self::Expired => "requestState has expired; send the original request again without it",
            Self::ForeignPrincipal => "requestState belongs to another principal",
            Self::OtherRequest => "requestState belongs to another request",
        }
    }
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seals `handle` with the run's `key`; `None` without a key or a random source (nonce).
pub fn seal(key: Option<&SealKey>, handle: &Handle) -> Option<String> {
    seal_with(key?.bytes(), handle)
}

/// Opens `text` with the run's `key` and checks expiry (at `now_ms`), principal and request.
pub fn unseal(
    key: Option<&SealKey>,
    text: &str,
    principal: &str,
    request: u64,
    now_ms: u64,
) -> Result<Handle, Refusal> {
    unseal_with(
        key.ok_or(Refusal::Invalid)?.bytes(),
        text,
        principal,
        request,
        now_ms,
    )
}

fn seal_with(key: &[u8; 32], handle: &Handle) -> Option<String> {
    let principal = handle.principal.as_bytes();
    if principal.len() > MAX_PRINCIPAL {
        return None;
    }
    let mut plain = Vec::with_capacity(32 + principal.len());
    plain.push(VERSION);
    plain.extend_from_slice(&handle.shard.to_be_bytes());
    plain.extend_from_slice(&handle.upstream.to_be_bytes());
    plain.extend_from_slice(&handle.exchange.to_be_bytes());
    plain.extend_from_slice(&handle.request.to_be_bytes());
    plain.extend_from_slice(&handle.expires_ms.to_be_bytes());
    plain.push(u8::try_from(principal.len()).ok()?);
    plain.extend_from_slice(principal);
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).ok()?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
        .ok()?;
    let mut raw = Vec::with_capacity(NONCE_BYTES + sealed.len());
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&sealed);
    Some(encode(&raw))
}

fn unseal_with(
    key: &[u8; 32],
    text: &str,
    principal: &str,
    request: u64,
    now_ms: u64,
) -> Result<Handle, Refusal> {
    let raw = decode(text.as_bytes()).ok_or(Refusal::Invalid)?;
    let (nonce, sealed) = raw.split_at_checked(NONCE_BYTES).ok_or(Refusal::Invalid)?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let plain = cipher
        .decrypt(XNonce::from_slice(nonce), sealed)
        .map_err(|_| Refusal::Invalid)?;
    let handle = parse(&plain).ok_or(Refusal::Invalid)?;
    if handle.expires_ms <= now_ms {
        return Err(Refusal::Expired);
    }
    if handle.principal != principal {
        return Err(Refusal::ForeignPrincipal);
    }
    if handle.request != request {
        return Err(Refusal::OtherRequest);
    }
    Ok(handle)
}

fn parse(plain: &[u8]) -> Option<Handle> {
    let (&version, rest) = plain.split_first()?;
    if version != VERSION {
        return None;
    }
    let (shard, rest) = rest.split_first_chunk::<2>()?;
    let (upstream, rest) = rest.split_first_chunk::<2>()?;
    let (exchange, rest) = rest.split_first_chunk::<8>()?;
    let (request, rest) = rest.split_first_chunk::<8>()?;
    let (expires, rest) = rest.split_first_chunk::<8>()?;
    let (&len, principal) = rest.split_first()?;
    if principal.len() != usize::from(len) {
        return None;
    }
    Some(Handle {
        shard: u16::from_be_bytes(*shard),
        upstream: u16::from_be_bytes(*upstream),
        exchange: u64::from_be_bytes(*exchange),
        request: u64::from_be_bytes(*request),
        expires_ms: u64::from_be_bytes(*expires),
        principal: String::from_utf8(principal.to_vec()).ok()?,
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding (RFC 4648 §5).
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group.first().copied().unwrap_or(0),
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let bits = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=group.len() {
            let sextet = (bits >> (18 - 6 * i)) & 0x3f;
            if let Some(&c) = ALPHABET.get(sextet as usize) {
                out.push(char::from(c));
            }
        }
    }
    out
}

fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for group in text.chunks(4) {
        let mut bits = 0u32;
        for &c in group {
            let v = ALPHABET.iter().position(|&a| a == c)?;
            bits = bits << 6 | u32::try_from(v).ok()?;
        }
        bits <<= 6 * (4 - group.len());
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(bytes.get(1..group.len())?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn handle() -> Handle {
        Handle {
            shard: 1,
            upstream: 0,
            exchange: 42,
            request: 99,
            expires_ms: 2_000,
            principal: "anonymous".into(),
        }
    }

    #[test]
    fn round_trips() {
        let text = seal_with(&KEY, &handle()).unwrap();
        assert!(text.bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(
            unseal_with(&KEY, &text, "anonymous", 99, 1_000),
            Ok(handle())
        );
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(seal_with(&KEY, &handle()), seal_with(&KEY, &handle()));
    }

    #[test]
    fn tampered_truncated_or_foreign_key_is_invalid() {
        let text = seal_with(&KEY, &handle()).unwrap();
        let mut bytes = text.clone().into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            unseal_with(&KEY, &tampered, "anonymous", 99, 1_000),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            unseal_with(&KEY, &text[..text.len() - 4], "anonymous", 99, 1_000),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            unseal_with(&[8; 32], &text, "anonymous", 99, 1_000),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            unseal_with(&KEY, "not base64!", "anonymous", 99, 1_000),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            unseal_with(&KEY, "", "anonymous", 99, 1_000),
            Err(Refusal::Invalid)
        );
    }

    #[test]
    fn expiry_principal_and_request_are_checked() {
        let text = seal_with(&KEY, &handle()).unwrap();
        assert_eq!(
            unseal_with(&KEY, &text, "anonymous", 99, 2_000),
            Err(Refusal::Expired)
        );
        assert_eq!(
            unseal_with(&KEY, &text, "mallory", 99, 1_000),
            Err(Refusal::ForeignPrincipal)
        );
        assert_eq!(
            unseal_with(&KEY, &text, "anonymous", 98, 1_000),
            Err(Refusal::OtherRequest)
        );
    }

    #[test]
    fn base64url_round_trips_every_length() {
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(decode(encode(&bytes).as_bytes()), Some(bytes));
        }
    }

    #[test]
    fn the_run_key_seals_and_opens_and_no_key_refuses() {
        let key = SealKey::random().unwrap();
        let text = seal(Some(&key), &handle()).unwrap();
        assert_eq!(
            unseal(Some(&key.clone()), &text, "anonymous", 99, 1_000),
            Ok(handle())
        );
        assert_eq!(seal(None, &handle()), None);
        assert_eq!(
            unseal(None, &text, "anonymous", 99, 1_000),
            Err(Refusal::Invalid)
        );
        let other = SealKey::from_bytes([8; 32]);
        assert_eq!(
            unseal(Some(&other), &text, "anonymous", 99, 1_000),
            Err(Refusal::Invalid)
        );
    }
}
