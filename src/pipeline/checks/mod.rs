//! The built-in checks, one file each: pure functions of the request head, the body's facts
//! and the route's config, returning a [`Refusal`](super::Refusal) or the little they found
//! out. [`Stage`](super::Stage) dispatches to them in the order a route's list names them.
//!
//! Not here: checks needing I/O or shard state (reading the body, the session table, the
//! session limit: the proxy runs those at their place in the list), writing answers.
//! Allocates nothing unless a message is refused (a refusal may keep the offending text).

pub mod accept;
pub mod batch;
pub mod content_type;
pub mod era;
pub mod host_origin;
mod mirror;
pub mod protocol_version;

/// The header names as the 2026-07-28 spec spells them (error messages quote them).
pub use mirror::{MCP_METHOD, MCP_NAME, PROTOCOL_VERSION};

#[cfg(test)]
pub(crate) mod test_head {
    //! A request head for the checks' unit tests.
    use crate::http::{parse_request, Limits, RequestHead};

    /// `method /mcp` with `Host: 127.0.0.1:8080` and each of `headers`.
    pub(crate) fn head(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut raw = format!("{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n");
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        parse_request(raw.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
            .0
    }
}
