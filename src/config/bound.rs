//! Where a started proxy really listens: the launcher resolves port 0 binds and records the
//! ports in the configuration before the shards get it (the listeners' default public URLs
//! and the routes' resource identifiers, the embedded demo server's address and the upstreams
//! pointing at it).
//!
//! Not here: binding (the app module).

use std::net::SocketAddr;

use super::auth::default_public_url;
use super::model::{Config, UpstreamTransport};

impl Config {
    /// Records where listener `index` actually listens (its port 0 resolved) before the config
    /// goes to the shards: a public URL defaulted from the bind address, and the routes'
    /// resource identifiers and audiences defaulted from it, name the real port.
    pub fn set_listener_addr(&mut self, index: usize, bound: SocketAddr) {
        let Some(listener) = self.listeners.get_mut(index) else {
            return;
        };
        let old = listener.bind;
        listener.bind = bound;
        let tls = listener.tls.is_some();
        let (default, fixed) = (default_public_url(old, tls), default_public_url(bound, tls));
        if listener.public_url != default {
            return;
        }
        listener.public_url = fixed.clone();
        for auth in listener.routes.iter_mut().filter_map(|r| r.auth.as_mut()) {
            if let Some(path) = auth.resource.strip_prefix(&default) {
                let resource = format!("{fixed}{path}");
                if let Some(oauth) = auth.oauth.as_mut().filter(|o| o.audience == auth.resource) {
                    oauth.audience = resource.clone();
                }
                auth.resource = resource;
            }
        }
    }

    /// Records where the in-process demo server actually listens, after it bound
    /// `demo.bind` (port 0 in `shadowcat demo`, so the kernel picks a free port).
    ///
    /// Sets `demo.bind` to `bound` and points every upstream that pointed at the old
    /// `demo.bind` at `bound` (host, port, authority and addresses). Call it once, after binding
    /// the demo server and before handing the config to the shards. Without `[demo]` it does
    /// nothing.
    pub fn set_demo_addr(&mut self, bound: SocketAddr) {
        let Some(demo) = self.demo.as_mut() else {
            return;
        };
        let old = demo.bind;
        demo.bind = bound;
        for upstream in &mut self.upstreams {
            if let UpstreamTransport::Http(url) = &mut upstream.transport {
                if url.addrs == [old] {
                    url.set_addr(bound);
                }
            }
        }
    }
}
