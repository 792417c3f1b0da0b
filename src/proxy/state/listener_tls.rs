//! [`ListenerTlsConfigs`]: each TLS listener's rustls server configuration on this shard. Built
//! at start from the configuration's files; replaced on the reload signal (SIGHUP) by one built
//! from the files as they are then ([`ListenerTlsConfigs::reload`], read on a blocking thread).
//! A connection takes the configuration current when it is accepted: open connections keep
//! theirs, new ones get the new certificate. A reload that fails (an unreadable file, a key
//! that does not match) keeps the configuration in use and says why in the log.
//!
//! Not here: the handshake (server.rs), reading and checking the files (config::listener_tls).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use rustls::ServerConfig;

use crate::config::{reload_listener_tls, Config, ListenerId};

/// Per listener (config order): its current server configuration; `None` for a plain listener
/// or one whose TLS could not be set up on this shard.
#[derive(Debug)]
pub struct ListenerTlsConfigs {
    configs: Vec<RefCell<Option<Arc<ServerConfig>>>>,
    /// Reloads started: a reload whose files were read after a later one started is dropped,
    /// so two signals in quick succession never leave the older files in place.
    started: Cell<u64>,
}

impl ListenerTlsConfigs {
    /// This shard's own configurations (config load built the same ones already).
    pub fn build(config: &Config) -> ListenerTlsConfigs {
        let configs = config.listeners.iter().map(|listener| {
            let tls = listener.tls.as_ref()?;
            match crate::tls::server_config(tls) {
                Ok(server) => Some(Arc::new(server)),
                Err(e) => {
                    tracing::error!(listener = %listener.name, error = %e,
                        "cannot set up TLS on this listener; not serving it");
                    None
                }
            }
        });
        ListenerTlsConfigs {
            configs: configs.map(RefCell::new).collect(),
            started: Cell::new(0),
        }
    }

    /// The configuration new connections to `listener` get.
    pub fn current(&self, listener: ListenerId) -> Option<Arc<ServerConfig>> {
        self.configs.get(listener.index())?.borrow().clone()
    }

    /// Reads every TLS listener's files again and swaps in what they hold now (one task per
    /// listener, the files read on a blocking thread).
    pub fn reload(configs: &Rc<ListenerTlsConfigs>, config: &Config, shard: usize) {
        let generation = configs.started.get() + 1;
        configs.started.set(generation);
        for (id, listener) in config.listener_ids() {
            let Some(tls) = listener.tls.clone() else {
                continue;
            };
            let (configs, name) = (configs.clone(), listener.name.clone());
            glommio::spawn_local(async move {
                let read_name = name.clone();
                let read = glommio::executor()
                    .spawn_blocking(move || reload_listener_tls(&read_name, &tls))
                    .await;
                let built = read
                    .map_err(|e| e.to_string())
                    .and_then(|tls| crate::tls::server_config(&tls).map_err(|e| e.to_string()));
                match built {
                    Ok(_) if configs.started.get() != generation => {
                        tracing::debug!(shard, listener = %name, "TLS reload superseded by a newer one");
                    }
                    Ok(server) => {
                        if let Some(slot) = configs.configs.get(id.index()) {
                            *slot.borrow_mut() = Some(Arc::new(server));
                        }
                        tracing::info!(shard, listener = %name, "TLS certificate reloaded");
                    }
                    Err(e) => tracing::error!(shard, listener = %name, error = %e,
                        "TLS certificate reload failed; the certificate in use stays"),
                }
            })
            .detach();
        }
    }
}
