//! `shards`: the thread-per-core runtime under shadowcat. Knows nothing about HTTP or MCP.
