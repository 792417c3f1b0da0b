//! `shadowcat forward`: its typed configuration ([`ForwardConfig`]) and the value parser of
//! `--header NAME:VALUE`.
//!
//! Not here: the flags and their conversion into a `ForwardConfig` (the cli module), running it
//! (the forward module). Forward mode has no TOML form: it is launched by a client (an IDE) with
//! a handful of flags.

use std::path::PathBuf;
use std::time::Duration;

use super::model::{LogConfig, UpstreamTrust, UpstreamUrl};
use super::ToolFilter;

/// Headers the forwarder writes itself: a `--header` must not duplicate or override them.
const RESERVED_HEADERS: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "te",
];

/// What `--header` accepts.
const HEADER_ALLOWED: &str =
    "NAME:VALUE, e.g. \"Authorization: Bearer TOKEN\" (NAME an HTTP token, \
     VALUE without line breaks; Host, Content-Length, Transfer-Encoding, Connection, TE, Accept, \
     Content-Type, Mcp-Session-Id, MCP-Protocol-Version and Last-Event-ID are set by shadowcat)";

/// Everything `forward` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    /// Where messages go.
    pub target: ForwardTarget,
    /// Time the target has to start answering a request, and the longest silence inside an
    /// answer that streams (`--request-timeout`).
    pub request_timeout: Duration,
    /// Time to connect to an HTTP target (`--connect-timeout`).
    pub connect_timeout: Duration,
    /// Time a stdio child gets to exit on its own before its process group is killed
    /// (`--kill-grace`).
    pub kill_grace: Duration,
    /// Logging (`--log-level`); logs go to stderr, stdout carries protocol lines only.
    pub log: LogConfig,
    /// The tools the client is offered (`--allow-tool`, `--deny-tool`); `None` shows all.
    pub tools: Option<ToolFilter>,
    /// Where the session is recorded (`--record DIR`), when it is.
    pub recording: Option<super::RecordingConfig>,
}

/// The server `forward` talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTarget {
    /// A Streamable HTTP endpoint (`--target URL`).
    Http {
        /// The endpoint.
        url: UpstreamUrl,
        /// Extra request headers (`--header`), e.g. `Authorization`.
        headers: Vec<(String, String)>,
        /// What an `https://` target's certificate is checked against (`--target-ca`,
        /// `--target-insecure`; the default roots otherwise); `None` for `http://`.
        trust: Option<UpstreamTrust>,
    },
    /// A stdio server run as a child process (`-- CMD ARGS...`).
    Stdio {
        /// Program and arguments.
        command: Vec<String>,
        /// Extra environment variables (`--env`).
        env: Vec<(String, String)>,
        /// Working directory (`--cwd`).
        cwd: Option<PathBuf>,
    },
}

/// Parses `--header NAME:VALUE` (whitespace around the value is dropped).
///
/// # Errors
/// What the flag accepts, for clap to print.
pub fn parse_header(text: &str) -> Result<(String, String), &'static str> {
    let (name, value) = text.split_once(':').ok_or(HEADER_ALLOWED)?;
    let name = name.trim();
    let value = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let name_ok = !name.is_empty() && name.bytes().all(token);
    let value_ok = !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    let reserved = RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name));
    if !name_ok || !value_ok || reserved {
        return Err(HEADER_ALLOWED);
    }
    Ok((name.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_reserved_ones_are_refused() {
        assert_eq!(
            parse_header("Authorization: Bearer abc").unwrap(),
            ("Authorization".to_owned(), "Bearer abc".to_owned())
        );
        assert_eq!(
            parse_header("X-Empty:").unwrap(),
            ("X-Empty".to_owned(), String::new())
        );
        for bad in [
            "no-colon",
            ": v",
            "bad name: v",
            "Host: x",
            "mcp-session-id: x",
            "Content-Length: 1",
            "X: a\nInjected: b",
        ] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }
}
