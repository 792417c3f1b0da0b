//! The per-shard socket type the application's connections use (issue 13): one name for a
//! connected TCP stream whichever I/O path the shard runs, so the HTTP code is written once.
//!
//! Today this is glommio's `TcpStream`; the io_uring path (`crate::uring`) plugs in behind the
//! same name (`--io uring|glommio`).

/// A connected TCP stream owned by one shard.
pub type NetStream = glommio::net::TcpStream;
