//! Starts the proxy in-process for one test: a TOML configuration through
//! `shadowcat::config::from_toml_str` (what `shadowcat run --config` loads) and `app::start`
//! (what `shadowcat run`/`demo`/`reverse` run), on 127.0.0.1 port 0, with the demo MCP server
//! as the upstream: embedded in the proxy over HTTP (as `shadowcat demo` runs it), or
//! `shadowcat demo-server --stdio` children of the built binary (or, for answers the demo never
//! gives, a `sh` script the test writes, run as a stdio child). `app::start` returns once
//! every shard has bound its listeners, so the ports are known without waiting; dropping the
//! [`Proxy`] stops the shards and joins them (children reaped), also when the test panics.
//!
//! Not here: requests (client.rs, mcp.rs).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use shadowcat::app::Running;

use crate::client::Conn;

/// Which upstream the proxy's one route goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// The embedded demo server over HTTP, answering JSON (SSE only for progress).
    Http,
    /// The embedded demo server, declared `era = "legacy"`: 2026-07-28 clients are translated.
    HttpLegacyEra,
    /// The embedded demo server answering every POST with an SSE stream.
    HttpSse,
    /// `shadowcat demo-server --stdio`, one child per session.
    Stdio,
    /// A `sh` script as a stdio child, one per session: answers scripted by the test (each
    /// line read is one message; what it prints are the answers).
    Script(&'static str),
}

/// What to start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup {
    pub(crate) shards: usize,
    pub(crate) upstream: Upstream,
    /// Extra TOML lines for the route (e.g. `deny_tools = [...]`).
    pub(crate) route: &'static str,
    /// Extra TOML lines for `[admin]` (e.g. `token_file = "..."`).
    pub(crate) admin: &'static str,
    /// Extra TOML lines for `[timeouts]` (e.g. `head = "300ms"`).
    pub(crate) timeouts: &'static str,
    /// Extra TOML lines for `[upstreams.demo]` (e.g. `max_in_flight = 1`).
    pub(crate) upstream_extra: &'static str,
}

impl Setup {
    /// One shard in front of `upstream`.
    pub(crate) fn one(upstream: Upstream) -> Self {
        Self {
            shards: 1,
            upstream,
            route: "",
            admin: "",
            timeouts: "",
            upstream_extra: "",
        }
    }

    /// Two shards in front of `upstream`.
    pub(crate) fn two(upstream: Upstream) -> Self {
        Self {
            shards: 2,
            upstream,
            route: "",
            admin: "",
            timeouts: "",
            upstream_extra: "",
        }
    }

    /// The same setup with `lines` added to the `[admin]` table.
    pub(crate) fn with_admin(self, lines: &'static str) -> Self {
        Self {
            admin: lines,
            ..self
        }
    }

    /// The same setup with `lines` added to the `[timeouts]` table.
    pub(crate) fn with_timeouts(self, lines: &'static str) -> Self {
        Self {
            timeouts: lines,
            ..self
        }
    }

    /// The same setup with `lines` added to the upstream's table.
    pub(crate) fn with_upstream(self, lines: &'static str) -> Self {
        Self {
            upstream_extra: lines,
            ..self
        }
    }

    /// The same setup with `lines` added to the route's table.
    pub(crate) fn with_route(self, lines: &'static str) -> Self {
        Self {
            route: lines,
            ..self
        }
    }

    /// The configuration file this setup stands for; stdio children carry `tag` in their
    /// environment so the test can find them.
    fn toml(&self, tag: &str) -> String {
        let upstream = match self.upstream {
            Upstream::Http | Upstream::HttpLegacyEra | Upstream::HttpSse => {
                let era = if self.upstream == Upstream::HttpLegacyEra {
                    "era = \"legacy\"\n"
                } else {
                    ""
                };
                let sse = self.upstream == Upstream::HttpSse;
                format!(
                    "[upstreams.demo]\nurl = \"http://127.0.0.1:0/mcp\"\nrequest_timeout = \"10s\"\n{era}{extra}\n\
                     [demo]\nbind = \"127.0.0.1:0\"\nsse = {sse}\npath = \"/mcp\"\n",
                    extra = self.upstream_extra,
                )
            }
            Upstream::Stdio => format!(
                "[upstreams.demo]\ncommand = [{:?}, \"demo-server\", \"--stdio\"]\n\
                 request_timeout = \"10s\"\nwarm = 1\nmax = 16\nkill_grace = \"1s\"\n\
                 env = {{ {TAG_VAR} = \"{tag}\" }}\n{}\n",
                env!("CARGO_BIN_EXE_shadowcat"),
                self.upstream_extra,
            ),
            Upstream::Script(script) => {
                let path = script_path(tag);
                std::fs::write(&path, script).expect("the script is written");
                // The extra lines may set their own (shorter) request timeout.
                let timeout = if self.upstream_extra.contains("request_timeout") {
                    ""
                } else {
                    "request_timeout = \"10s\"\n"
                };
                format!(
                    "[upstreams.demo]\ncommand = [\"sh\", {:?}]\n\
                     {timeout}warm = 0\nmax = 4\nkill_grace = \"1s\"\n\
                     env = {{ {TAG_VAR} = \"{tag}\" }}\n{}\n",
                    path.display().to_string(),
                    self.upstream_extra,
                )
            }
        };
        format!(
            "[runtime]\nshards = {shards}\nio_memory = \"256KiB\"\nio = \"{io}\"\n\n\
             [listeners.main]\nbind = \"127.0.0.1:0\"\n\n\
             [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"demo\"\nlegacy_sse = true\n{route}\n\n\
             [[listeners.main.routes]]\npath = \"/open\"\nupstream = \"demo\"\nlegacy_sse = true\n\
             sse_path = \"/open/sse\"\nmessages_path = \"/open/messages\"\n\n\
             {upstream}\n\
             [timeouts]\nshutdown_grace = \"2s\"\n{timeouts}\n\n\
             [admin]\nbind = \"127.0.0.1:0\"\n{admin}\n\n\
             [log]\nlevel = \"warn\"\n",
            shards = self.shards,
            route = self.route,
            admin = self.admin,
            timeouts = self.timeouts,
            io = IO_PATH,
        )
    }
}

/// A proxy running in this process; stopped and joined on drop.
#[derive(Debug)]
pub(crate) struct Proxy {
    running: Option<Running>,
    /// The proxy listener (`/mcp`, `/sse`, `/messages`).
    pub(crate) addr: SocketAddr,
    /// The admin listener (`/metrics`).
    pub(crate) admin: SocketAddr,
    /// The value of [`TAG_VAR`] in this proxy's stdio children.
    tag: String,
}

/// The socket I/O path every proxy of this test binary runs: this file is compiled twice, as
/// `request_path` (the default path, io_uring) and `request_path_glommio`
/// (tests/request_path_glommio.rs), so every request-path test runs on both paths.
pub(crate) const IO_PATH: &str = if env!("CARGO_CRATE_NAME").len() > "request_path".len() {
    "glommio"
} else {
    "uring"
};

/// Environment variable marking the stdio children of one test's proxy.
const TAG_VAR: &str = "SHADOWCAT_REQUEST_PATH_TEST";

impl Proxy {
    /// Starts `setup` and returns when every shard is ready.
    pub(crate) fn start(setup: Setup) -> Proxy {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let toml = setup.toml(&tag);
        Proxy::start_toml(&toml, setup.shards, tag)
    }

    /// Starts the proxy configured by `toml` (a listener and an `[admin]` on 127.0.0.1 port 0,
    /// `shards` shards); `tag` marks its stdio children.
    pub(crate) fn start_toml(toml: &str, shards: usize, tag: String) -> Proxy {
        init_logging();
        let config = shadowcat::config::from_toml_str(toml, "request_path.toml")
            .unwrap_or_else(|e| panic!("test config rejected: {e}\n{toml}"));
        let running = shadowcat::app::start(config).unwrap_or_else(|e| {
            panic!("proxy did not start: {e} (glommio needs locked memory: `ulimit -l unlimited`)")
        });
        assert_eq!(running.shard_count(), shards);
        let binds = running.binds();
        if ::shards::uring::probe().usable() {
            assert_eq!(
                shadowcat::config::io_name(binds.io),
                IO_PATH,
                "the proxy runs the I/O path the test asked for"
            );
        }
        let addr = binds.listeners[0];
        let admin = binds.admin.expect("admin listener configured");
        assert!(addr.ip().is_loopback() && admin.ip().is_loopback());
        assert_ne!(addr.port(), 0, "port 0 resolved before start returns");
        Proxy {
            running: Some(running),
            addr,
            admin,
            tag,
        }
    }

    /// Live processes started by this proxy (its stdio children, found by their environment).
    pub(crate) fn children(&self) -> Vec<u32> {
        let marker = format!("{TAG_VAR}={}", self.tag);
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
            })
            .collect()
    }

    /// A new client connection to the proxy listener.
    pub(crate) fn conn(&self) -> Conn {
        Conn::connect(self.addr)
    }

    /// A counter or gauge from the admin `/metrics`, merged over all shards (0 when absent).
    pub(crate) fn metric(&self, name: &str) -> f64 {
        let mut conn = Conn::connect(self.admin);
        let answer = conn.request("GET", "/metrics", &[], b"");
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
        let text = String::from_utf8(answer.body).expect("metrics text");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, v)| v.trim().parse().expect("metric value"))
    }

    /// Scrapes `/metrics` until `name` satisfies `ok` (each scrape is a round trip to every
    /// shard), failing after [`crate::client::IO_TIMEOUT`] with `what`.
    pub(crate) fn await_metric(&self, name: &str, ok: impl Fn(f64) -> bool, what: &str) {
        let deadline = std::time::Instant::now() + crate::client::IO_TIMEOUT;
        loop {
            let value = self.metric(name);
            if ok(value) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {name} is still {value}"
            );
        }
    }

    /// Tells the shards to reload (as SIGHUP does) without waiting for them.
    pub(crate) fn reload(&self) {
        if let Some(running) = &self.running {
            running.reload();
        }
    }

    /// Tells the shards to stop (as SIGTERM does) without waiting for them.
    pub(crate) fn signal_stop(&self) {
        if let Some(running) = &self.running {
            running.stop();
        }
    }

    /// Stops the proxy gracefully and checks that every shard ended cleanly and no child is
    /// left.
    pub(crate) fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().expect("shards end cleanly");
        }
        let left = self.children();
        assert!(left.is_empty(), "children left after stop: {left:?}");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Running's own Drop stops and joins: explicit here so the order is visible.
        drop(self.running.take());
        // An `Upstream::Script`'s file, if this proxy had one.
        let _ = std::fs::remove_file(script_path(&self.tag));
    }
}

/// Where the script of an [`Upstream::Script`] child is written for the proxy tagged `tag`.
fn script_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("shadowcat-request-path-{tag}.sh"))
}

/// Proxy logs on the test's output (shown for failing tests), filtered by `RUST_LOG`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
