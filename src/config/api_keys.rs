//! [`ApiKeys`]: the API keys a route accepts (`api_keys = FILE`, `--api-keys FILE`), read from
//! their TOML file at load and again on SIGHUP. The file holds no key, only each key's
//! SHA-256, so reading it (or a backup of it) does not reveal a credential:
//!
//! ```toml
//! [keys.alice]
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! scopes = ["mcp:tools"]   # optional
//! ```
//!
//! Not here: checking a presented key (`auth::api_key`), SIGHUP (`app`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::Error;

/// One principal's key: its name, the SHA-256 of the key, the scopes it grants.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The principal the key authenticates (the table name).
    pub name: String,
    /// SHA-256 of the key as sent by the client.
    pub sha256: [u8; 32],
    /// Scopes the key carries (checked against the route's required scopes).
    pub scopes: Vec<String>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The keys of one file and the file's path (printed by `config print`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeys {
    /// The file, as configured.
    pub file: PathBuf,
    /// Its keys, in name order.
    pub keys: Vec<ApiKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    keys: BTreeMap<String, RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    sha256: String,
    #[serde(default)]
    scopes: Vec<String>,
}

/// What a key file entry must look like (every error about one says so).
const KEY_FORMAT: &str = "a TOML file of `[keys.NAME]` tables, each with `sha256 = \"<64 hex \
                          digits: the SHA-256 of the key>\"` and optional `scopes = [..]` (e.g. \
                          `printf %s \"$KEY\" | sha256sum`)";

impl ApiKeys {
    /// Reads and checks `file` (`key` names the setting in errors).
    ///
    /// # Errors
    /// The file cannot be read or parsed, holds no key, a digest is not 64 hex digits, two
    /// names share a digest, or a name or scope holds characters a log line or a
    /// `WWW-Authenticate` header could not carry.
    pub fn load(key: &str, file: &Path) -> Result<ApiKeys, Error> {
        let text = std::fs::read_to_string(file).map_err(|error| Error::ReadSetting {
            key: key.to_owned(),
            path: file.to_owned(),
            error,
        })?;
        let raw: RawFile = toml::from_str(&text).map_err(|error| Error::Parse {
            origin: format!("{} (`{key}`)", file.display()),
            error: Box::new(error),
        })?;
        let invalid = |value: String| Error::Invalid {
            key: key.to_owned(),
            value,
            allowed: KEY_FORMAT,
        };
        if raw.keys.is_empty() {
            return Err(invalid(format!(
                "{:?} (no keys)",
                file.display().to_string()
            )));
        }
        let mut keys: Vec<ApiKey> = Vec::with_capacity(raw.keys.len());
        for (name, entry) in raw.keys {
            if !is_token(&name) || entry.scopes.iter().any(|s| !is_token(s)) {
                return Err(invalid(format!("[keys.{name:?}]")));
            }
            let sha256 = parse_digest(&entry.sha256)
                .ok_or_else(|| invalid(format!("[keys.{name}] sha256 = {:?}", entry.sha256)))?;
            if let Some(twin) = keys.iter().find(|k| k.sha256 == sha256) {
                return Err(invalid(format!(
                    "[keys.{name}] (same key as [keys.{}])",
                    twin.name
                )));
            }
            keys.push(ApiKey {
                name,
                sha256,
                scopes: entry.scopes,
            });
        }
        Ok(ApiKeys {
            file: file.to_owned(),
            keys,
        })
    }
}

/// A principal name or scope: visible ASCII without quotes or backslashes (they end up in
/// log lines, audit records and `WWW-Authenticate` parameters).
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 200
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// 64 hex digits → 32 bytes.
fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ApiKeys, Error> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("api-keys-{}.toml", N.fetch_add(1, Ordering::Relaxed));
        let file = crate::config::test_files::TempFile::new(&name, text.as_bytes());
        ApiKeys::load("api_keys", &file.0)
    }

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn reads_names_digests_and_scopes() {
        let keys = load(&format!(
            "[keys.alice]\nsha256 = \"{DIGEST}\"\nscopes = [\"mcp:tools\"]\n\
             [keys.bob]\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ))
        .unwrap();
        assert_eq!(keys.keys.len(), 2);
        assert_eq!(keys.keys[0].name, "alice");
        assert_eq!(keys.keys[0].sha256[0], 0x9f);
        assert_eq!(keys.keys[0].scopes, ["mcp:tools"]);
        assert!(keys.keys[1].scopes.is_empty());
        // Debug never shows a digest.
        assert!(!format!("{keys:?}").contains("9f86"));
    }

    #[test]
    fn refuses_bad_files() {
        for (text, needle) in [
            ("", "no keys"),
            ("[keys.a]\nsha256 = \"abc\"\n", "sha256"),
            (
                &format!("[keys.a]\nsha256 = \"{}\"\n", "g".repeat(64)),
                "sha256",
            ),
            (
                &format!("[keys.a]\nsha256 = \"{DIGEST}\"\n[keys.b]\nsha256 = \"{DIGEST}\"\n"),
                "same key",
            ),
            (&format!("[keys.\"a b\"]\nsha256 = \"{DIGEST}\"\n"), "a b"),
            (
                &format!("[keys.a]\nsha256 = \"{DIGEST}\"\nkey = \"x\"\n"),
                "unknown field",
            ),
        ] {
            let err = load(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        let err = ApiKeys::load("api_keys", Path::new("/nonexistent/keys.toml")).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
