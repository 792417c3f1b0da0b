//! Stateless demo session ids: minted by `initialize`, verified on every later request by any shard.
//!
//! Not here: HTTP status choice (`error.rs`) or the proxy's own sessions (`crate::session`).
//! Shape: 32 lowercase hex chars of OS randomness, `.`, 16 lowercase hex chars of
//! `xxh3_64_with_seed(random part as text, secret)`. The secret is per process, so every shard verifies every id
//! without shared state, and ids from an earlier process are refused. xxh3 is not a MAC: this keeps honest clients
//! from using stale or mistyped ids, it does not stop an attacker. Minting allocates the 49-byte `String`;
//! verifying allocates nothing.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::error::DemoError;

/// Random bytes in an id (128 bits, as the spec's "cryptographically secure" advice suggests).
const RANDOM_BYTES: usize = 16;
/// Hex characters of the random part.
const RANDOM_HEX: usize = 2 * RANDOM_BYTES;
/// Hex characters of the tag (one u64).
const TAG_HEX: usize = 16;
/// Total length: random part, `.`, tag.
pub(super) const SESSION_ID_LEN: usize = RANDOM_HEX + 1 + TAG_HEX;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Mints a fresh session id tagged with `secret`. Fails only if the OS random source does.
pub(super) fn mint(secret: u64) -> Result<String, DemoError> {
    let mut random = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut random).map_err(DemoError::Entropy)?;
    let mut id = String::with_capacity(SESSION_ID_LEN);
    for byte in random {
        push_hex(&mut id, u64::from(byte), 2);
    }
    let tag = xxh3_64_with_seed(id.as_bytes(), secret);
    id.push('.');
    push_hex(&mut id, tag, TAG_HEX);
    Ok(id)
}

/// Whether `id` is exactly an id that [`mint`] could have produced with `secret`.
pub(super) fn verify(id: &[u8], secret: u64) -> bool {
    if id.len() != SESSION_ID_LEN {
        return false;
    }
    let (Some(random), Some(b'.'), Some(tag)) = (
        id.get(..RANDOM_HEX),
        id.get(RANDOM_HEX),
        id.get(RANDOM_HEX + 1..),
    ) else {
        return false;
    };
    random.iter().all(|&byte| hex_value(byte).is_some())
        && parse_tag(tag) == Some(xxh3_64_with_seed(random, secret))
}

/// Appends the low `digits` hex digits of `value`, most significant first.
fn push_hex(out: &mut String, value: u64, digits: usize) {
    for shift in (0..digits).rev() {
        let nibble = (value >> (4 * shift)) & 0xf;
        let digit = HEX.get(nibble as usize).copied().unwrap_or(b'0');
        out.push(char::from(digit));
    }
}

/// The value of one lowercase hex digit (uppercase is refused: ids are compared as minted).
fn hex_value(byte: u8) -> Option<u64> {
    match byte {
        b'0'..=b'9' => Some(u64::from(byte - b'0')),
        b'a'..=b'f' => Some(u64::from(byte - b'a' + 10)),
        _ => None,
    }
}

fn parse_tag(tag: &[u8]) -> Option<u64> {
    tag.iter()
        .try_fold(0u64, |acc, &byte| Some((acc << 4) | hex_value(byte)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: u64 = 0x5eed_cafe_f00d_beef;

    #[test]
    fn minted_ids_have_the_documented_shape_and_verify() {
        let id = mint(SECRET).unwrap();
        assert_eq!(id.len(), SESSION_ID_LEN);
        assert_eq!(id.as_bytes()[RANDOM_HEX], b'.');
        assert!(id.bytes().enumerate().all(|(at, byte)| at == RANDOM_HEX
            || byte.is_ascii_digit()
            || (b'a'..=b'f').contains(&byte)));
        assert!(verify(id.as_bytes(), SECRET));
    }

    #[test]
    fn tag_is_the_keyed_hash_of_the_random_part() {
        let id = mint(SECRET).unwrap();
        let (random, tag) = id.split_once('.').unwrap();
        let expected = xxh3_64_with_seed(random.as_bytes(), SECRET);
        assert_eq!(u64::from_str_radix(tag, 16).unwrap(), expected);
    }

    #[test]
    fn ids_are_unique() {
        assert_ne!(mint(SECRET).unwrap(), mint(SECRET).unwrap());
    }

    #[test]
    fn other_secret_is_refused() {
        let id = mint(SECRET).unwrap();
        assert!(!verify(id.as_bytes(), SECRET ^ 1));
    }

    #[test]
    fn every_single_character_tamper_is_refused() {
        let id = mint(SECRET).unwrap().into_bytes();
        for at in 0..id.len() {
            for replacement in [b'0', b'f', b'.', b'A', b'g'] {
                if id[at] == replacement {
                    continue;
                }
                let mut tampered = id.clone();
                tampered[at] = replacement;
                assert!(!verify(&tampered, SECRET), "accepted tamper at {at}");
            }
        }
    }

    #[test]
    fn wrong_lengths_and_uppercase_are_refused() {
        let id = mint(SECRET).unwrap();
        assert!(!verify(b"", SECRET));
        assert!(!verify(&id.as_bytes()[1..], SECRET));
        assert!(!verify(format!("{id}0").as_bytes(), SECRET));
        assert!(!verify(id.to_ascii_uppercase().as_bytes(), SECRET));
    }
}
