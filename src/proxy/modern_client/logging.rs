//! 2026-07-28 logging for translated requests: the level comes per request in
//! `_meta["io.modelcontextprotocol/logLevel"]`, and without it no `notifications/message` may
//! reach the client (MCP-NOTES §8); a legacy upstream logs per session, so the proxy filters.
//!
//! Not here: relaying (drive.rs).

use serde_json::Value;

use crate::mcp::log_level_rank;

pub(super) const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub(super) const BAD_LEVEL: &str = "_meta[\"io.modelcontextprotocol/logLevel\"] is not a log level";

/// The request's `_meta` log level as a severity rank: `Ok(None)` when absent (then no
/// `notifications/message` may reach the client), `Err` when not a level.
pub(super) fn log_level(params: &Value) -> Result<Option<usize>, ()> {
    match params.get("_meta").and_then(|m| m.get(LOG_LEVEL)) {
        None => Ok(None),
        Some(level) => level.as_str().and_then(log_level_rank).map(Some).ok_or(()),
    }
}

/// Whether an upstream notification may go to the client: `notifications/message` only at or
/// above the request's level (2026-07-28 logging: none without a level).
pub(super) fn passes(message: &Value, level: Option<usize>) -> bool {
    if message.get("method").and_then(Value::as_str) != Some("notifications/message") {
        return true;
    }
    let Some(min) = level else {
        return false;
    };
    message
        .get("params")
        .and_then(|p| p.get("level"))
        .and_then(Value::as_str)
        .and_then(log_level_rank)
        .is_none_or(|rank| rank >= min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn log_messages_need_a_level_at_or_above_the_request_s() {
        let message = json!({"method": "notifications/message", "params": {"level": "info"}});
        let progress = json!({"method": "notifications/progress", "params": {}});
        assert!(!passes(&message, None));
        assert!(passes(&progress, None));
        let debug = log_level(&json!({"_meta": {LOG_LEVEL: "debug"}})).unwrap();
        let error = log_level(&json!({"_meta": {LOG_LEVEL: "error"}})).unwrap();
        assert!(passes(&message, debug));
        assert!(!passes(&message, error));
        assert_eq!(log_level(&json!({})), Ok(None));
        assert!(log_level(&json!({"_meta": {LOG_LEVEL: "loud"}})).is_err());
    }
}
