//! mcp (placeholder until its slice lands).
