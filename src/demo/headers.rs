//! The HTTP header rules of the Streamable HTTP transport, checked as the official SDKs check them, and the
//! protocol versions the demo speaks.
//!
//! Not here: session ids (`session_id.rs`) or the body (`message.rs`). Allocates nothing.

use super::error::DemoError;

/// Protocol versions the demo speaks, oldest first. 2024-11-05 is accepted for clients that ask for it in
/// `initialize` (as the TypeScript SDK does), even though that version predates Streamable HTTP.
pub(super) const SUPPORTED_VERSIONS: [&str; 4] =
    ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The version offered when the client asks for one the demo does not speak.
pub(super) const LATEST_VERSION: &str = "2025-11-25";

/// The version `initialize` answers with: the client's when supported, else the latest.
pub(super) fn negotiate(requested: &str) -> &'static str {
    SUPPORTED_VERSIONS
        .iter()
        .copied()
        .find(|version| *version == requested)
        .unwrap_or(LATEST_VERSION)
}

/// `Accept` must list both `application/json` and `text/event-stream` (spec: MUST); wildcards count.
pub(super) fn check_accept(accept: Option<&[u8]>) -> Result<(), DemoError> {
    let mut json = false;
    let mut event_stream = false;
    for media_type in media_types(accept.unwrap_or_default()) {
        let any = media_type.eq_ignore_ascii_case(b"*/*");
        json |= any
            || media_type.eq_ignore_ascii_case(b"application/json")
            || media_type.eq_ignore_ascii_case(b"application/*");
        event_stream |= any
            || media_type.eq_ignore_ascii_case(b"text/event-stream")
            || media_type.eq_ignore_ascii_case(b"text/*");
    }
    if json && event_stream {
        Ok(())
    } else {
        Err(DemoError::NotAcceptable)
    }
}

/// `Content-Type` must be `application/json`; parameters such as `charset=utf-8` are allowed.
pub(super) fn check_content_type(content_type: Option<&[u8]>) -> Result<(), DemoError> {
    match content_type.and_then(|value| media_types(value).next()) {
        Some(media_type) if media_type.eq_ignore_ascii_case(b"application/json") => Ok(()),
        _ => Err(DemoError::UnsupportedMediaType),
    }
}

/// `MCP-Protocol-Version`, when present, must name a supported version (spec 2025-06-18+: else 400).
/// Absent means 2025-03-26, which is supported.
pub(super) fn check_protocol_version(version: Option<&[u8]>) -> Result<(), DemoError> {
    match version.map(<[u8]>::trim_ascii) {
        None => Ok(()),
        Some(version)
            if SUPPORTED_VERSIONS
                .iter()
                .any(|known| known.as_bytes() == version) =>
        {
            Ok(())
        }
        Some(_) => Err(DemoError::UnsupportedProtocolVersion),
    }
}

/// Whether a POST under `version` (its `MCP-Protocol-Version`) may carry a JSON-RPC batch: 2025-03-26 (also
/// when the header is absent) added them and servers must receive them; 2025-06-18 removed them. The proxy
/// draws the same line (`pipeline/checks/batch.rs`).
pub(super) fn takes_batches(version: Option<&[u8]>) -> bool {
    matches!(version.map(<[u8]>::trim_ascii), None | Some(b"2025-03-26"))
}

/// The media types of a header value: the part of each comma-separated entry before `;`, trimmed.
fn media_types(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(crate::http::media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_supported_and_falls_back_to_latest() {
        for version in SUPPORTED_VERSIONS {
            assert_eq!(negotiate(version), version);
        }
        assert_eq!(negotiate("2099-01-01"), LATEST_VERSION);
        assert_eq!(negotiate("2026-07-28"), LATEST_VERSION);
        assert_eq!(negotiate(""), LATEST_VERSION);
    }

    #[test]
    fn accept_needs_both_types() {
        let ok: [&[u8]; 6] = [
            b"application/json, text/event-stream",
            b"text/event-stream;q=0.9,APPLICATION/JSON",
            b" application/json ; charset=utf-8 , text/event-stream ",
            b"*/*",
            b"application/*, text/*",
            b"text/html, application/json, text/event-stream",
        ];
        for value in ok {
            assert!(check_accept(Some(value)).is_ok(), "{value:?}");
        }
        let refused: [&[u8]; 5] = [
            b"application/json",
            b"text/event-stream",
            b"text/html",
            b"application/jsonx, text/event-stream",
            b"",
        ];
        for value in refused {
            assert!(
                matches!(check_accept(Some(value)), Err(DemoError::NotAcceptable)),
                "{value:?}"
            );
        }
        assert!(matches!(check_accept(None), Err(DemoError::NotAcceptable)));
    }

    #[test]
    fn content_type_is_json_with_optional_parameters() {
        for value in [
            &b"application/json"[..],
            b"Application/JSON; charset=utf-8",
            b" application/json ",
        ] {
            assert!(check_content_type(Some(value)).is_ok(), "{value:?}");
        }
        for value in [
            &b"text/plain"[..],
            b"application/json-seq",
            b"",
            b"application/x-www-form-urlencoded",
        ] {
            assert!(
                matches!(
                    check_content_type(Some(value)),
                    Err(DemoError::UnsupportedMediaType)
                ),
                "{value:?}"
            );
        }
        assert!(matches!(
            check_content_type(None),
            Err(DemoError::UnsupportedMediaType)
        ));
    }

    #[test]
    fn protocol_version_header() {
        assert!(check_protocol_version(None).is_ok());
        for version in SUPPORTED_VERSIONS {
            assert!(check_protocol_version(Some(version.as_bytes())).is_ok());
        }
        for version in [&b"2026-07-28"[..], b"", b"2025-06-18x", b"latest"] {
            assert!(matches!(
                check_protocol_version(Some(version)),
                Err(DemoError::UnsupportedProtocolVersion)
            ));
        }
    }
}
