//! `config::Error`: everything that can be wrong with a configuration, naming where and why.
//!
//! Not here: deciding what is valid (see `resolve.rs`) or printing to the terminal (main's job).
//!
//! Every variant found while resolving carries `key`, the TOML path of the bad setting
//! (`upstreams.demo.url`, `listeners.main.routes[0].path`) or, for configs built from flags, the
//! flag (`--upstream`); most carry the offending `value` as written and what is `allowed`.

use std::io;
use std::path::PathBuf;

/// A configuration that cannot be used. Every variant maps to exit code 2 ([`Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        error: io::Error,
    },
    /// TOML syntax or schema error: unknown key, wrong type, missing field. The message from
    /// the TOML parser carries line, column and the offending line.
    #[error("{origin}: {error}")]
    Parse {
        /// File name, or another description of where the text came from.
        origin: String,
        /// The parser's error.
        error: Box<toml::de::Error>,
    },
    /// An error found while resolving a config from `origin` (a file name or "command line").
    #[error("{origin}: {error}")]
    In {
        /// File name or "command line".
        origin: String,
        /// What is wrong.
        error: Box<Error>,
    },
    /// A value that cannot be used.
    #[error("`{key}` = {value} is invalid: expected {allowed}")]
    Invalid {
        /// TOML path or flag.
        key: String,
        /// The value as written (strings quoted).
        value: String,
        /// What would be accepted.
        allowed: &'static str,
    },
    /// A required setting is absent.
    #[error("`{key}` is missing: {allowed}")]
    Missing {
        /// TOML path or flag.
        key: String,
        /// What to add.
        allowed: &'static str,
    },
    /// Two settings that exclude each other are both present.
    #[error("`{key}` and `{other}` cannot both be set: {allowed}")]
    Conflict {
        /// TOML path or flag of one setting.
        key: String,
        /// TOML path or flag of the other.
        other: String,
        /// How to resolve it.
        allowed: &'static str,
    },
    /// A route names an upstream that is not defined.
    #[error("`{key}` = {value} names no upstream; defined upstreams: [{}]", known.join(", "))]
    UnknownUpstream {
        /// TOML path of the route's `upstream`.
        key: String,
        /// The name as written (quoted).
        value: String,
        /// Names of the upstreams that exist.
        known: Vec<String>,
    },
    /// A value that must be unique (bind address, route path) appears twice.
    #[error("`{key}` = {value} is already used by `{first}`: {allowed}")]
    Duplicate {
        /// TOML path of the second occurrence.
        key: String,
        /// The repeated value.
        value: String,
        /// TOML path of the first occurrence.
        first: String,
        /// What must be unique.
        allowed: &'static str,
    },
    /// An upstream host name could not be resolved to an address at load.
    #[error("`{key}` = {value}: cannot resolve the host: {error}")]
    Resolve {
        /// TOML path or flag of the URL.
        key: String,
        /// The URL as written (quoted).
        value: String,
        /// The resolver's error.
        error: io::Error,
    },
    /// A file a setting names cannot be read.
    #[error("`{key}` = {:?}: cannot read it: {error}", path.display().to_string())]
    ReadSetting {
        /// TOML path or flag of the setting.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        error: io::Error,
    },
    /// An upstream header (`headers`, `--upstream-header`) that cannot be sent. Its value is
    /// never shown: it may hold a secret.
    #[error("`{key}`: header `{header}` is invalid (its value is not shown): expected {allowed}")]
    BadHeader {
        /// TOML path of the upstream's `headers`, or the flag.
        key: String,
        /// The header's name as written.
        header: String,
        /// What would be accepted.
        allowed: &'static str,
    },
    /// An upstream header refers to an environment variable that is not set.
    #[error(
        "`{key}`: header `{header}` refers to ${{env:{var}}}, which is not set in shadowcat's \
         environment: set it, or write `$${{` for a literal `${{`"
    )]
    UnsetEnv {
        /// TOML path of the upstream's `headers`, or the flag.
        key: String,
        /// The header's name as written.
        header: String,
        /// The variable's name.
        var: String,
    },
    /// A setting names an environment variable holding a secret that is not set (or empty).
    #[error(
        "`{key}` names the environment variable {var}, which is not set (or empty) in \
         shadowcat's environment: export the secret in it"
    )]
    UnsetSecret {
        /// TOML path of the setting, or the flag.
        key: String,
        /// The variable's name.
        var: String,
    },
    /// A listener on a non-loopback address has no Host allow-list.
    #[error(
        "`{key}` is required because the listener binds {value}, which is not a loopback \
         address: list the host names clients use (e.g. [\"mcp.example.com\"]), or [\"*\"] \
         to disable the Host check"
    )]
    AllowedHostsRequired {
        /// TOML path of the listener's `allowed_hosts`, or the flag.
        key: String,
        /// The listener's bind address.
        value: String,
    },
}

impl Error {
    /// The process exit code for a configuration error: 2, the usual code for bad usage
    /// (clap also exits with 2 on a bad command line).
    pub fn exit_code(&self) -> i32 {
        2
    }

    /// The TOML path (or flag) the error is about, if it is about one setting.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::In { error, .. } => error.key(),
            Self::Invalid { key, .. }
            | Self::Missing { key, .. }
            | Self::Conflict { key, .. }
            | Self::UnknownUpstream { key, .. }
            | Self::Duplicate { key, .. }
            | Self::Resolve { key, .. }
            | Self::ReadSetting { key, .. }
            | Self::BadHeader { key, .. }
            | Self::UnsetEnv { key, .. }
            | Self::UnsetSecret { key, .. }
            | Self::AllowedHostsRequired { key, .. } => Some(key),
            Self::Read { .. } | Self::Parse { .. } => None,
        }
    }

    /// Wraps the error with where the config came from (file name or "command line").
    pub(crate) fn with_origin(self, origin: &str) -> Self {
        Self::In {
            origin: origin.to_owned(),
            error: Box::new(self),
        }
    }

    /// Renames the keys of the error with `rename` (TOML path -> flag), keeping keys it maps to
    /// `None`. Used for configs built from command-line flags, whose users never wrote TOML.
    pub(crate) fn rename_keys(mut self, rename: &dyn Fn(&str) -> Option<&'static str>) -> Self {
        self.rename_keys_in_place(rename);
        self
    }

    fn rename_keys_in_place(&mut self, rename: &dyn Fn(&str) -> Option<&'static str>) {
        let swap = |key: &mut String| {
            if let Some(flag) = rename(key) {
                *key = flag.to_owned();
            }
        };
        match self {
            Self::In { error, .. } => error.rename_keys_in_place(rename),
            Self::Conflict { key, other, .. } => {
                swap(key);
                swap(other);
            }
            Self::Duplicate { key, first, .. } => {
                swap(key);
                swap(first);
            }
            Self::Invalid { key, .. }
            | Self::Missing { key, .. }
            | Self::UnknownUpstream { key, .. }
            | Self::Resolve { key, .. }
            | Self::ReadSetting { key, .. }
            | Self::BadHeader { key, .. }
            | Self::UnsetEnv { key, .. }
            | Self::UnsetSecret { key, .. }
            | Self::AllowedHostsRequired { key, .. } => swap(key),
            Self::Read { .. } | Self::Parse { .. } => {}
        }
    }
}

/// Shorthand for [`Error::Invalid`] with a string value, quoted the way TOML writes it.
pub(crate) fn invalid_str(key: &str, value: &str, allowed: &'static str) -> Error {
    Error::Invalid {
        key: key.to_owned(),
        value: format!("{value:?}"),
        allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_is_two_and_key_sees_through_origin() {
        let err = invalid_str("upstreams.a.url", "ftp://x", "an http:// URL").with_origin("f.toml");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.key(), Some("upstreams.a.url"));
        assert_eq!(
            err.to_string(),
            "f.toml: `upstreams.a.url` = \"ftp://x\" is invalid: expected an http:// URL"
        );
    }

    #[test]
    fn rename_keys_reaches_inside_origin_and_both_keys() {
        let err = Error::Conflict {
            key: "runtime.shards".into(),
            other: "runtime.cores".into(),
            allowed: "pick one",
        }
        .with_origin("command line");
        let rename = |key: &str| match key {
            "runtime.shards" => Some("--shards"),
            _ => None,
        };
        let renamed = err.rename_keys(&rename);
        assert_eq!(
            renamed.to_string(),
            "command line: `--shards` and `runtime.cores` cannot both be set: pick one"
        );
    }
}
