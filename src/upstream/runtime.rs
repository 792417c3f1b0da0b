//! What one shard holds for one configured upstream, by transport: a Streamable HTTP upstream's
//! URL and keep-alive pool ([`HttpUpstream`]), or a linked upstream's links (stdio children or
//! legacy SSE sessions, [`Children`]). One enum, so a path that needs the HTTP side or the links
//! gets it from a match, and no path can ask a stdio upstream for its URL.
//!
//! Not here: choosing the path for a request (the proxy's `adapter.rs`), the pool and links
//! themselves (pool.rs, children.rs).

use std::rc::Rc;

use crate::config::{LimitsConfig, UpstreamConfig, UpstreamTransport, UpstreamUrl};

use super::children::Children;
use super::credentials::UpstreamCredentials;
use super::pool::Pool;

/// One upstream's per-shard runtime.
#[derive(Debug)]
pub enum UpstreamRuntime {
    /// A Streamable HTTP upstream.
    Http(HttpUpstream),
    /// A stdio upstream or a legacy HTTP+SSE upstream: reached through links.
    Linked(Rc<Children>),
}

/// A Streamable HTTP upstream on one shard.
#[derive(Debug)]
pub struct HttpUpstream {
    /// Where requests go (path and `Host` value); shared with the translated sessions it
    /// serves (`session::l2m`).
    pub url: Rc<UpstreamUrl>,
    /// Its keep-alive connections.
    pub pool: Pool,
}

impl UpstreamRuntime {
    /// The runtime of `upstream` on the shard doing I/O through `io` (cold path).
    pub fn build(
        upstream: &UpstreamConfig,
        limits: &LimitsConfig,
        (io, credentials): (&shards::io::ShardIo, Option<&Rc<UpstreamCredentials>>),
    ) -> Self {
        match &upstream.transport {
            UpstreamTransport::Http(url) => UpstreamRuntime::Http(HttpUpstream {
                pool: Pool::new(
                    io.clone(),
                    url.addrs.clone(),
                    upstream.connect_timeout,
                    upstream.pool_max_idle,
                    upstream
                        .tls
                        .as_ref()
                        .map(|trust| crate::tls::UpstreamTls::new(&url.host, trust)),
                ),
                url: Rc::new(url.clone()),
            }),
            UpstreamTransport::Stdio(stdio) => {
                UpstreamRuntime::Linked(Children::new(upstream, stdio))
            }
            UpstreamTransport::Sse(url) => {
                UpstreamRuntime::Linked(Children::sse(upstream, url, limits, (io, credentials)))
            }
        }
    }

    /// The HTTP side, when this is a Streamable HTTP upstream.
    pub fn http(&self) -> Option<&HttpUpstream> {
        match self {
            UpstreamRuntime::Http(http) => Some(http),
            UpstreamRuntime::Linked(_) => None,
        }
    }

    /// The links, when this is a linked upstream.
    pub fn children(&self) -> Option<&Rc<Children>> {
        match self {
            UpstreamRuntime::Linked(children) => Some(children),
            UpstreamRuntime::Http(_) => None,
        }
    }
}
