//! JSON-RPC/MCP inspection: bytes in, facts out.
//!
//! The proxy forwards the client's original bytes; this module only *reads* them. An [`Inspector`]
//! (one per shard) copies a body into its scratch buffer, parses the copy with simd-json and returns
//! [`Inspected`]: one [`MessageInfo`] per message (kind, id, [`Method`], tool/prompt/resource
//! [`Target`], progress token, protocol version, cancelled id, error code), or an [`Error`] that knows
//! its JSON-RPC code and can write its own reply ([`Error::write_reply`]).
//!
//! - `inspect.rs`: [`Inspector`], validation rules.
//! - `message_info.rs`: [`Inspected`], [`MessageInfo`], [`Kind`], [`Target`]: what it reports.
//! - `spans.rs`: [`Spans`]: where the id and progress token sit in the bytes, and the splice
//!   that rewrites them (shared stdio links).
//! - `jsonrpc.rs`: error codes, [`JsonRpcId`], [`write_error`].
//! - `method.rs`: [`Method`], the bounded label set.
//! - `version.rs`: [`ProtocolVersion`], [`check_header`].
//! - `error.rs`: [`Error`], [`InvalidReason`], [`ParamField`].
//! - `log_level.rs`: [`LOG_LEVELS`], [`log_level_rank`].
//! - `big_numbers.rs`: cold-path repair for numbers simd-json cannot represent.
//!
//! Protocol decisions (accepted id types, chosen error codes) are recorded in `src/mcp/README.md`.
//!
//! ```
//! use shadowcat::mcp::{Inspected, Inspector, Kind, Method};
//!
//! let mut inspector = Inspector::new();
//! let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
//! let Inspected::Single(info) = inspector.inspect(body)? else { unreachable!() };
//! assert_eq!(info.kind, Kind::Request);
//! assert_eq!(info.method, Some(Method::ToolsCall));
//! assert_eq!(info.tool_name(), Some("echo"));
//!
//! let mut reply = Vec::new();
//! if let Err(err) = inspector.inspect(b"{oops") {
//!     err.write_reply(&mut reply); // {"jsonrpc":"2.0","id":null,"error":{"code":-32700,…}}
//! }
//! assert!(reply.starts_with(br#"{"jsonrpc":"2.0","id":null"#));
//! # Ok::<(), shadowcat::mcp::Error>(())
//! ```
//!
//! Not here: I/O, HTTP types, sessions, rewriting messages.

mod big_numbers;
mod error;
mod inspect;
pub mod jsonrpc;
mod log_level;
mod message_info;
mod method;
pub mod spans;
mod surrogates;
mod version;

pub use error::{Error, InvalidReason, ParamField};
pub use inspect::{Inspector, MAX_BATCH_LEN, RETAIN_SCRATCH_BYTES};
pub use jsonrpc::{write_cancelled, write_error, write_json_string, JsonRpcId, ProgressToken};
pub use log_level::{log_level_rank, LOG_LEVELS};
pub use message_info::{Inspected, Kind, MessageInfo, Target};
pub use method::Method;
pub use spans::{Span, Spans};
pub use version::{
    check_header, ClaimedVersion, ProtocolVersion, VersionError, SUPPORTED_SESSIONFUL,
};
