//! Files the config tests write (certificates, keys, CA bundles): under the temp directory,
//! named per process, removed on drop.
//!
//! Not here: what goes in them (each test).

use std::path::PathBuf;

/// A file under the temp directory, removed on drop.
pub(super) struct TempFile(pub(super) PathBuf);

impl TempFile {
    /// A new file `name` (unique per process) holding `bytes`.
    pub(super) fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("shadowcat-config-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }

    /// The path as a TOML string.
    pub(super) fn quoted(&self) -> String {
        format!("{:?}", self.0.display().to_string())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
