//! The proxy config of `shadowcat replay TAPE --bind`: the demo setup with the tape behind the
//! proxy instead of the demo tools, on one shard.
//!
//! Not here: the flags (`replay.rs`), serving a tape (`crate::demo`'s tape backend).

use std::net::SocketAddr;

use super::command::demo_raw;
use super::replay::ReplayArgs;
use super::{AuthArgs, CoreArgs, DemoArgs, IoArgs, ListenerArgs, RuntimeArgs};
use crate::config::{resolve, Config, Error, ReplaySource};

/// The proxy config of `replay --bind`: one shard (the replay's sessions live there), the
/// tape served in place of the demo tools, both client transports.
///
/// # Errors
/// As `demo`: a bad address or path.
pub(super) fn bind_config(args: &ReplayArgs, bind: SocketAddr) -> Result<Config, Error> {
    let listener = ListenerArgs {
        bind,
        path: args.path.clone(),
        allowed_hosts: Vec::new(),
        allowed_origins: Vec::new(),
        tls_cert: None,
        tls_key: None,
        tls_client_ca: None,
        admin: None,
        admin_token_file: None,
        era: None,
        allow_tools: Vec::new(),
        deny_tools: Vec::new(),
        auth: AuthArgs::default(),
    };
    let demo = DemoArgs {
        sse: false,
        listener,
        runtime: RuntimeArgs {
            cores: CoreArgs {
                shards: std::num::NonZeroUsize::new(1),
                cores: None,
            },
            io_memory: None,
            log_level: Some(args.log_level.clone().unwrap_or_else(|| "warn".into())),
        },
        io: IoArgs::default(),
    };
    let mut config = resolve(&demo_raw(&demo))?;
    if let Some(d) = config.demo.as_mut() {
        d.replay = Some(ReplaySource {
            tape: args.tape.clone(),
            speed_millionths: (args.speed.unwrap_or(1.0) * 1e6).round() as u64,
        });
    }
    Ok(config)
}
