//! Every configuration default and bound, in one place, each with the reason it has its value.
//!
//! Not here: parsing or validation logic (see `resolve.rs`); CLI-only defaults that clap shows in
//! `--help` are the `*_TEXT` constants below, so `--help` and the config agree.

use std::time::Duration;

/// Name of the listener built from CLI flags (`reverse`, `demo`) and of the implicit listener a
/// file gets when it defines exactly one upstream and no listeners; "main" reads well in logs.
pub const LISTENER_NAME: &str = "main";

/// Name of the upstream built by `reverse --upstream URL`.
pub const REVERSE_UPSTREAM_NAME: &str = "main";

/// Name of the upstream that points at the in-process demo server (`shadowcat demo`).
pub const DEMO_UPSTREAM_NAME: &str = "demo";

/// Proxy listen address for `demo`, `reverse` and the implicit listener: loopback, so a fresh
/// install is never reachable from the network, and 8080, the conventional development port.
pub const LISTEN_ADDR_TEXT: &str = "127.0.0.1:8080";

/// Listen address of `demo-server`: next to the proxy's default port, on loopback for the same
/// reason as [`LISTEN_ADDR_TEXT`].
pub const DEMO_SERVER_ADDR_TEXT: &str = "127.0.0.1:9000";

/// Address of the in-process demo server in `shadowcat demo`: port 0 lets the kernel pick a free
/// port so `demo` never collides with anything; `Config::set_demo_addr` records the real one.
pub const DEMO_BIND_TEXT: &str = "127.0.0.1:0";

/// The MCP endpoint path: `/mcp` is what the SDKs and the reference servers use.
pub const MCP_PATH: &str = "/mcp";
/// Path of the legacy HTTP+SSE stream (what the SDK servers use).
pub const LEGACY_SSE_PATH: &str = "/sse";
/// Path legacy HTTP+SSE clients POST to (what the SDK servers use).
pub const LEGACY_MESSAGES_PATH: &str = "/messages";

/// Admin listener address when `[admin]` is present without `bind`: loopback (the admin API can
/// kill sessions) on Envoy's familiar admin port.
pub const ADMIN_ADDR_TEXT: &str = "127.0.0.1:9901";

/// Host names accepted on a loopback listener with no `allowed_hosts`: the names a local client
/// can use to reach a loopback socket. Anything else is a DNS-rebinding attempt (MCP spec:
/// servers MUST validate Origin; Host is the matching check for non-browser paths).
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// io_uring buffer memory registered per shard. glommio defaults to 10 MiB per executor, which
/// on a 64-core box locks 640 MiB; 2 MiB is enough for the proxy's in-flight reads and fits the
/// usual 8 MiB `RLIMIT_MEMLOCK` with a few shards.
pub const IO_MEMORY: u64 = 2 * MIB;
/// glommio rounds `io_memory` up to 64 KiB anyway; reject less so the config says what it gets.
pub const IO_MEMORY_MIN: u64 = 64 * KIB;
/// Locked memory is scarce; more than 1 GiB per shard is a typo, not a plan.
pub const IO_MEMORY_MAX: u64 = GIB;

/// Idle I/O buffer memory a shard keeps for reuse. The steady state of small requests needs a
/// few dozen 4 KiB and 64 KiB buffers (well under 1 MiB); 8 MiB also keeps a handful of 1 MiB
/// body buffers, so moderate large-body traffic still reuses, while a burst of hundreds of large
/// bodies leaves at most 8 MiB per shard behind instead of hundreds of MiB.
pub const BUFFER_POOL_MEMORY: u64 = 8 * MIB;
/// Upper bound for `buffer_pool_memory`: idle memory beyond 1 GiB per shard is a typo.
pub const BUFFER_POOL_MEMORY_MAX: u64 = GIB;

/// Largest shard count accepted: Linux's `NR_CPUS` maximum is 8192, one shard per core.
pub const SHARDS_MAX: u64 = 8192;
/// Largest core number in a core list (same bound as `shards::placement::MAX_CORE`); it also
/// stops `0-4000000000` from allocating gigabytes.
pub const CORE_MAX: usize = 8191;

/// Largest request head (request line + headers). 16 KiB holds a long bearer token and the MCP
/// headers with room to spare, and bounds what a slow client can make a shard hold.
pub const MAX_HEAD_BYTES: u64 = 16 * KIB;
/// Smallest sensible head limit: below 1 KiB ordinary requests with a token fail.
pub const MAX_HEAD_BYTES_MIN: u64 = KIB;
/// Largest head limit: heads are parsed in one buffer; 1 MiB per connection is already a lot.
pub const MAX_HEAD_BYTES_MAX: u64 = MIB;

/// Most headers per request; 64 covers browsers plus a chain of proxies, and bounds the parse
/// array (httparse needs a fixed slot per header).
pub const MAX_HEADERS: u64 = 64;
/// Largest header-count limit: above this the parse array stops fitting a small stack frame.
pub const MAX_HEADERS_MAX: u64 = 1024;

/// Largest request body. JSON-RPC messages are small, but tool arguments can carry base64
/// content; 4 MiB allows that while bounding per-request memory.
pub const MAX_BODY_BYTES: u64 = 4 * MIB;
/// Largest SSE event the proxy buffers for inspection. One event is one JSON-RPC message, so it
/// gets the same budget as a request body: a result that fits a POST also fits an event.
pub const MAX_SSE_EVENT_BYTES: u64 = 4 * MIB;
/// Upper bound for the body and event limits: beyond 1 GiB a single message would starve a shard.
pub const MAX_MESSAGE_BYTES_MAX: u64 = GIB;

/// A client must finish sending the request head within this time or get 408: long enough for a
/// slow mobile link, short enough that idle half-open connections do not pile up (nginx uses 60s
/// for `client_header_timeout`; MCP clients are programs, not people typing).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// An idle keep-alive connection is closed after this long; matches common client pools (60s),
/// so the proxy rarely closes a connection a client is about to reuse.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// On shutdown, in-flight requests get this long to finish before connections are closed;
/// 10s matches systemd's patience without making restarts feel stuck.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A session unused for this long is dropped. MCP sessions are long-lived (an IDE keeps one open
/// for hours, with gaps); 30 minutes keeps them across coffee breaks while bounding abandoned ones.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
/// How often each shard sweeps expired sessions: often enough that expired sessions linger at
/// most ~2% of the default TTL, rarely enough that the sweep costs nothing measurable.
pub const SESSION_REAP_INTERVAL: Duration = Duration::from_secs(30);

/// Live sessions per shard before `initialize` gets 503: an idle session costs ~200 bytes here
/// plus whatever the upstream keeps, so this bounds memory (≈ 20 MB per shard) against a client
/// that initializes in a loop, while far exceeding real use.
pub const SESSIONS_PER_SHARD: u64 = 100_000;
/// Upper bound accepted for `sessions.max_per_shard`.
pub const SESSIONS_PER_SHARD_MAX: u64 = 100_000_000;

/// Time to establish a TCP connection to an upstream: a healthy upstream on the same network
/// connects in milliseconds; 5s fails fast on a dead one without tripping on a busy one.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time an upstream has to start answering a request. Tool calls can be slow (LLM sampling,
/// builds); 60s matches the MCP SDKs' default request timeout.
pub const UPSTREAM_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle upstream connections kept per shard per upstream: enough for bursts at moderate
/// concurrency without holding hundreds of sockets to a small server.
pub const UPSTREAM_POOL_MAX_IDLE: u64 = 64;
/// Upper bound for `pool_max_idle`: sockets are a per-process resource (`nofile`).
pub const UPSTREAM_POOL_MAX_IDLE_MAX: u64 = 65_536;

/// stdio upstreams: one child per client session by default: full isolation, and servers that
/// keep per-client state (most do) behave as they do under a desktop client.
pub const STDIO_MODE_TEXT: &str = "per-session";
/// Children pre-spawned per shard: one, so the next `initialize` does not wait for process start
/// (node and python servers take 100 ms or more), without a pile of idle processes per core.
pub const STDIO_WARM: u64 = 1;
/// Upper bound for `warm`: idle children cost memory and processes on every shard.
pub const STDIO_WARM_MAX: u64 = 64;
/// Children (live sessions) per shard in per-session mode before `initialize` gets 503: a stdio
/// server is a whole process (tens of MB for node or python), so this is the real bound on memory.
pub const STDIO_MAX: u64 = 64;
/// Upper bound for `max`: processes are bounded by `pid_max` and `ulimit -u` long before this.
pub const STDIO_MAX_MAX: u64 = 100_000;
/// Longest stdout line (one JSON-RPC message) accepted from a child. MCP messages carrying
/// resources or images can be a few MiB of base64; a line past this bound means a broken or
/// hostile child, and the reader stops instead of growing without limit.
pub const STDIO_MAX_LINE: u64 = 4 * MIB;
/// Smallest `max_line`: below 1 KiB an ordinary `initialize` result does not fit.
pub const STDIO_MAX_LINE_MIN: u64 = KIB;
/// Time a child gets between `SIGTERM` and `SIGKILL`: enough for a server to flush and exit,
/// short enough that session ends and shutdown do not hang on a stuck child.
pub const STDIO_KILL_GRACE: Duration = Duration::from_secs(2);

/// Log filter: `info` shows startup, listeners and errors without per-request noise.
pub const LOG_LEVEL: &str = "info";

/// Longest accepted duration. `Instant + Duration` panics on overflow, and nothing here needs
/// more than a year.
pub const DURATION_MAX: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Longest listener or upstream name: names become log fields and metric labels, so they stay short.
pub const NAME_MAX_LEN: usize = 64;
/// Longest route path; request targets beyond this are rejected by the head limit anyway.
pub const PATH_MAX_LEN: usize = 1024;

/// One kibibyte.
pub const KIB: u64 = 1024;
/// One mebibyte.
pub const MIB: u64 = 1024 * KIB;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;
