//! MCP log levels (`logging/setLevel`, 2026 `_meta` logLevel, `notifications/message`): the RFC
//! 5424 severities as the schema names them, and their order.
//!
//! Not here: who filters what (the demo server, the era translators).

/// The levels, least severe first.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// A level's severity rank (0 = debug); `None` when `name` is not a level.
#[must_use]
pub fn log_level_rank(name: &str) -> Option<usize> {
    LOG_LEVELS.iter().position(|level| *level == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_severity() {
        assert_eq!(log_level_rank("debug"), Some(0));
        assert_eq!(log_level_rank("emergency"), Some(7));
        assert!(log_level_rank("warning") < log_level_rank("error"));
        assert_eq!(log_level_rank("Warning"), None);
        assert_eq!(log_level_rank("warn"), None);
    }
}
