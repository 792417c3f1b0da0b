//! [`AdminToken`]: the bearer token the admin API requires (`[admin] token_file`,
//! `--admin-token-file`), read from its file when the configuration is resolved. Required when
//! the admin listener binds a non-loopback address (the API shows every route's traffic and
//! would otherwise be open to the network).
//!
//! Not here: checking requests against it (`admin::server`).

use std::fmt;
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

use super::error::Error;

/// Shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// The admin API's bearer token and the file it came from. `Debug` shows the file, never the
/// token.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    file: PathBuf,
    token: Box<[u8]>,
}

impl AdminToken {
    /// Reads the token from `file` (surrounding whitespace, e.g. a final newline, is dropped).
    ///
    /// # Errors
    /// The file cannot be read, or holds fewer than [`MIN_TOKEN_LEN`] characters or any
    /// whitespace or control character inside the token (it could not be sent in a header).
    pub fn load(key: &str, file: &Path) -> Result<AdminToken, Error> {
        let text = std::fs::read(file).map_err(|error| Error::ReadSetting {
            key: key.to_owned(),
            path: file.to_owned(),
            error,
        })?;
        let token = text.trim_ascii();
        if token.len() < MIN_TOKEN_LEN || token.iter().any(|b| !b.is_ascii_graphic()) {
            return Err(Error::Invalid {
                key: key.to_owned(),
                value: format!("{:?}", file.display().to_string()),
                allowed: "a file holding one token of at least 16 visible ASCII characters \
                          (e.g. `openssl rand -hex 32 > FILE`)",
            });
        }
        Ok(AdminToken {
            file: file.to_owned(),
            token: token.into(),
        })
    }

    /// The file the token was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether an `Authorization` header value carries this token (`Bearer TOKEN`; the scheme
    /// is case-insensitive). The comparison takes the same time wherever the bytes differ.
    pub fn accepts(&self, authorization: &[u8]) -> bool {
        let Some((scheme, credentials)) = authorization
            .iter()
            .position(|&b| b == b' ')
            .map(|at| authorization.split_at(at))
        else {
            return false;
        };
        scheme.eq_ignore_ascii_case(b"bearer")
            && bool::from(credentials.trim_ascii().ct_eq(&self.token))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminToken")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token file removed when the guard drops.
    struct TokenFile(PathBuf);

    impl Drop for TokenFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn token_file(text: &str) -> (TokenFile, PathBuf) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("shadowcat-token-{}-{n}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        (TokenFile(path.clone()), path)
    }

    #[test]
    fn bearer_with_the_right_token_is_accepted_and_nothing_else() {
        let (_dir, path) = token_file("0123456789abcdef0123\n");
        let token = AdminToken::load("admin.token_file", &path).expect("token");
        assert!(token.accepts(b"Bearer 0123456789abcdef0123"));
        assert!(token.accepts(b"bearer 0123456789abcdef0123"));
        assert!(!token.accepts(b"Bearer 0123456789abcdef012"));
        assert!(!token.accepts(b"Bearer 0123456789abcdef01234"));
        assert!(!token.accepts(b"Basic 0123456789abcdef0123"));
        assert!(!token.accepts(b"0123456789abcdef0123"));
        assert!(!token.accepts(b""));
        assert!(!format!("{token:?}").contains("0123456789"));
    }

    #[test]
    fn short_blank_or_unreadable_token_files_are_refused() {
        for text in ["", "\n", "short-token\n", "0123456789 abcdef0123"] {
            let (_dir, path) = token_file(text);
            let err = AdminToken::load("admin.token_file", &path).expect_err(text);
            assert!(err.to_string().contains("at least 16"), "{err}");
        }
        let err = AdminToken::load("admin.token_file", Path::new("/nonexistent/token"))
            .expect_err("missing file");
        assert!(
            err.to_string()
                .contains("`admin.token_file` = \"/nonexistent/token\": cannot read it"),
            "{err}"
        );
    }
}
