//! A modern upstream's `server/discover` result: which era it speaks (only modern versions, or
//! legacy ones too) and the legacy `initialize` result the proxy answers from it.
//!
//! Not here: sending the probe or caching it (detect.rs).

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::mcp::{JsonRpcId, ProtocolVersion};

use super::wire::META_SERVER_INFO;
use crate::session::l2m::Discovered;

#[derive(Deserialize)]
struct Envelope {
    result: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    #[serde(default)]
    supported_versions: Vec<String>,
    capabilities: Option<Box<RawValue>>,
    server_info: Option<Box<RawValue>>,
    instructions: Option<Box<RawValue>>,
    ttl_ms: Option<f64>,
    cache_scope: Option<String>,
    #[serde(rename = "_meta")]
    meta: Option<std::collections::BTreeMap<String, Box<RawValue>>>,
}

/// Reads a `server/discover` answer; `None` when it is no result with `supportedVersions`
/// naming 2026-07-28 or later (an error, a legacy server's refusal, garbage).
pub fn parse(message: &[u8]) -> Option<Discovered> {
    let envelope: Envelope = serde_json::from_slice(message).ok()?;
    let shape: Shape = serde_json::from_str(envelope.result?.get()).ok()?;
    let known: Vec<ProtocolVersion> = shape
        .supported_versions
        .iter()
        .filter_map(|v| ProtocolVersion::parse(v.as_bytes()))
        .collect();
    if !known.iter().any(|v| v.is_stateless()) {
        return None;
    }
    let capabilities = match shape.capabilities {
        Some(caps) => caps,
        None => RawValue::from_string("{}".to_owned()).ok()?,
    };
    let server_info = shape
        .meta
        .and_then(|mut meta| meta.remove(META_SERVER_INFO))
        .or(shape.server_info);
    let ttl = shape.ttl_ms.filter(|ms| ms.is_finite() && *ms > 0.0);
    Some(Discovered {
        serves_legacy: known.iter().any(|v| !v.is_stateless()),
        capabilities,
        server_info,
        instructions: shape.instructions,
        shareable_for: match (shape.cache_scope.as_deref(), ttl) {
            (Some("public"), Some(ms)) => Some(Duration::from_millis(ms.min(600_000.0) as u64)),
            _ => None,
        },
    })
}

impl Discovered {
    /// The legacy `initialize` response: `version` negotiated with the client, the upstream's
    /// capabilities and instructions, its server info (or the proxy's when it gave none).
    pub fn initialize_response(&self, id: &JsonRpcId, version: ProtocolVersion) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.capabilities.get().len());
        out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        id.write_json(&mut out);
        out.extend_from_slice(br#","result":{"protocolVersion":"#);
        crate::mcp::write_json_string(&mut out, version.as_str());
        out.extend_from_slice(br#","capabilities":"#);
        out.extend_from_slice(self.capabilities.get().as_bytes());
        out.extend_from_slice(br#","serverInfo":"#);
        match &self.server_info {
            Some(info) => out.extend_from_slice(info.get().as_bytes()),
            None => out.extend_from_slice(
                concat!(
                    r#"{"name":"shadowcat","version":""#,
                    env!("CARGO_PKG_VERSION"),
                    r#""}"#
                )
                .as_bytes(),
            ),
        }
        if let Some(instructions) = &self.instructions {
            out.extend_from_slice(br#","instructions":"#);
            out.extend_from_slice(instructions.get().as_bytes());
        }
        out.extend_from_slice(b"}}");
        out
    }

    /// Whether the upstream declared `capability.listChanged` (`tools`, `prompts`,
    /// `resources`) or `resources.subscribe` (`field`).
    pub fn declares(&self, capability: &str, field: &str) -> bool {
        #[derive(Deserialize)]
        struct Flags {
            #[serde(rename = "listChanged", default)]
            list_changed: bool,
            #[serde(default)]
            subscribe: bool,
        }
        serde_json::from_str::<std::collections::BTreeMap<String, Flags>>(self.capabilities.get())
            .ok()
            .and_then(|caps| {
                caps.get(capability).map(|f| match field {
                    "subscribe" => f.subscribe,
                    _ => f.list_changed,
                })
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_only_and_dual() {
        let modern = br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{"tools":{"listChanged":true}},"ttlMs":0,"cacheScope":"private","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"1"}}}}"#;
        let found = parse(modern).expect("modern");
        assert!(!found.serves_legacy);
        assert!(found.shareable_for.is_none());
        assert!(found.declares("tools", "listChanged"));
        assert!(!found.declares("prompts", "listChanged"));
        let init = found.initialize_response(&JsonRpcId::Number(0), ProtocolVersion::V2025_06_18);
        assert_eq!(
            std::str::from_utf8(&init).expect("utf8"),
            r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"s","version":"1"}}}"#
        );
        let dual = br#"{"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2025-06-18","2026-07-28"],"capabilities":{},"ttlMs":5000,"cacheScope":"public","instructions":"hi"}}"#;
        let found = parse(dual).expect("dual");
        assert!(found.serves_legacy);
        assert_eq!(found.shareable_for, Some(Duration::from_secs(5)));
        let init = found.initialize_response(&JsonRpcId::from("a"), ProtocolVersion::V2025_11_25);
        assert!(std::str::from_utf8(&init)
            .expect("utf8")
            .ends_with(r#""instructions":"hi"}}"#));
    }

    #[test]
    fn errors_and_legacy_only_are_not_modern() {
        assert!(
            parse(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#).is_none()
        );
        assert!(parse(
            br#"{"jsonrpc":"2.0","id":1,"result":{"supportedVersions":["2025-06-18"]}}"#
        )
        .is_none());
        assert!(parse(b"Bad Request").is_none());
    }
}
