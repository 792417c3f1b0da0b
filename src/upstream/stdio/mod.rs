//! stdio MCP servers as child processes: spawning one child with socketpair stdio
//! ([`spawn`]), framing its output into lines ([`LineReader`]), writing messages as lines
//! ([`ChildWriter`]) and ending it without blocking the shard ([`ChildProcess::terminate`]).
//!
//! Not here: sessions, JSON-RPC routing, HTTP, pre-spawn pools; this module knows bytes and
//! processes, not MCP. A child belongs to the shard that spawned it (its streams are glommio
//! sockets on that shard's reactor, and it dies when that thread exits).

pub mod child;
pub mod lines;
pub mod which;

pub use child::{spawn, ChildExit, ChildProcess, ChildSpec, ChildWriter, SpawnError, StdioChild};
pub use lines::{LineError, LineReader};
pub use which::{find_program, NotFound};

/// Longest stdout line (one JSON-RPC message) accepted from a child when the upstream sets no
/// `max_line`: the config's default (`STDIO_MAX_LINE` in `config::defaults`).
pub const DEFAULT_MAX_LINE: usize = crate::config::defaults::STDIO_MAX_LINE as usize;

/// Longest stderr line kept; stderr only feeds the log, where longer lines help nobody.
pub const STDERR_MAX_LINE: usize = 64 * 1024;
