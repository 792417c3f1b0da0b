//! The links one shard keeps for one linked upstream: stdio children (the warm pool spawned
//! ahead, not yet initialized; the `max` bound; the shared child in shared mode) or legacy
//! HTTP+SSE upstream sessions (opened per client session); and stopping them all at shutdown.
//!
//! Not here: what a child does with messages (`upstream::link`), the requests that use a link
//! (the proxy's `stdio/` folder). Kept in `ShardState` per upstream, in its `UpstreamRuntime` (runtime.rs).

use super::credentials::UpstreamCredentials;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::config::{LimitsConfig, StdioMode, StdioUpstream, UpstreamConfig, UpstreamUrl};
use crate::upstream::link::{Link, LinkError, LinkOptions, SseError, SseTarget};
use crate::upstream::stdio::{ChildSpec, SpawnError};

/// How long after a warm child is taken the pool refills (see `for_session`).
const REFILL_DELAY: Duration = Duration::from_millis(20);

/// Why no child could be had.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    /// `max` children run on this shard already.
    #[error("{0} children already run on this shard (max)")]
    Full(usize),
    /// Spawning failed.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The shared child could not be initialized.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A legacy SSE upstream session could not be opened.
    #[error(transparent)]
    Connect(SseError),
    /// Shutdown began: nothing new starts.
    #[error("the proxy is shutting down")]
    ShuttingDown,
    /// The upstream is not linked (no stdio command, no legacy SSE URL).
    #[error("not a stdio upstream")]
    NotLinked,
}

/// What a new link is made from.
#[derive(Debug)]
enum Peer {
    /// A command to spawn.
    Stdio(ChildSpec),
    /// A legacy HTTP+SSE upstream to open a session with.
    Sse(SseTarget),
}

/// Children of one stdio upstream on one shard.
#[derive(Debug)]
pub struct Children {
    peer: Peer,
    options: LinkOptions,
    warm_target: usize,
    max: usize,
    /// Spawned, waiting for a session (per-session mode).
    warm: RefCell<VecDeque<Rc<Link>>>,
    /// Every child not yet reaped (warm, serving, or stopping).
    all: RefCell<Vec<Rc<Link>>>,
    /// The child serving every session (shared mode).
    shared: RefCell<Option<Rc<Link>>>,
    /// Children spawned so far.
    started: Cell<u64>,
    /// Children that ended without the proxy stopping them (exit, crash, bad output).
    crashed: Cell<u64>,
    /// Messages of calls reaped children dropped (a call's backlog full).
    dropped: Cell<u64>,
    /// Set by `stop_all`: nothing new starts after it (shutdown).
    stopped: Cell<bool>,
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildStats {
    /// Children not yet reaped.
    pub live: u64,
    /// Children spawned.
    pub started: u64,
    /// Children that ended on their own.
    pub crashed: u64,
    /// Messages of calls dropped because a call's backlog was full.
    pub dropped: u64,
}

impl Children {
    /// The manager for a legacy SSE `upstream` whose GET stream is at `url` (nothing is
    /// opened yet).
    pub fn sse(
        upstream: &UpstreamConfig,
        url: &UpstreamUrl,
        limits: &LimitsConfig,
        (io, credentials): (&shards::io::ShardIo, Option<&Rc<UpstreamCredentials>>),
    ) -> Rc<Children> {
        Self::with(
            Peer::Sse(SseTarget {
                url: url.to_url(),
                addrs: url.addrs.clone(),
                authority: url.authority.clone(),
                path: url.path.clone(),
                connect_timeout: upstream.connect_timeout,
                open_timeout: upstream.request_timeout,
                max_event: limits.max_sse_event_bytes,
                io: io.clone(),
                headers: Rc::new(upstream.headers.clone()),
                credentials: credentials.cloned(),
                tls: upstream
                    .tls
                    .as_ref()
                    .map(|trust| crate::tls::UpstreamTls::new(&url.host, trust)),
            }),
            LinkOptions {
                mode: StdioMode::PerSession,
                max_line: limits.max_sse_event_bytes,
                kill_grace: Duration::ZERO,
                upstream: upstream.name.as_str().into(),
            },
            0,
            usize::MAX,
        )
    }

    /// The children manager for a stdio `upstream` (nothing is spawned yet).
    pub fn new(upstream: &UpstreamConfig, stdio: &StdioUpstream) -> Rc<Children> {
        Self::with(
            Peer::Stdio(ChildSpec {
                argv: stdio.command.clone(),
                env: stdio.env.clone(),
                cwd: stdio.cwd.clone(),
            }),
            LinkOptions {
                mode: stdio.mode,
                max_line: stdio.max_line,
                kill_grace: stdio.kill_grace,
                upstream: upstream.name.as_str().into(),
            },
            stdio.warm,
            stdio.max.max(1),
        )
    }

    /// A manager with nothing spawned yet.
    fn with(peer: Peer, options: LinkOptions, warm_target: usize, max: usize) -> Rc<Children> {
        Rc::new(Children {
            peer,
            options,
            warm_target,
            max,
            warm: RefCell::new(VecDeque::new()),
            all: RefCell::new(Vec::new()),
            shared: RefCell::new(None),
            started: Cell::new(0),
            crashed: Cell::new(0),
            dropped: Cell::new(0),
            stopped: Cell::new(false),
        })
    }

    /// Per-session or shared.
    pub fn mode(&self) -> StdioMode {
        self.options.mode
    }

    /// Children not yet reaped.
    pub fn live(&self) -> usize {
        let mut all = self.all.borrow_mut();
        let (mut crashed, mut dropped) = (0, 0);
        all.retain(|link| {
            let live = link.failure().is_none();
            if !live {
                crashed += u64::from(link.ended_on_its_own());
                dropped += link.dropped();
            }
            live
        });
        self.crashed.set(self.crashed.get() + crashed);
        self.dropped.set(self.dropped.get() + dropped);
        all.len()
    }

    /// Counts for `/metrics`.
    pub fn stats(&self) -> ChildStats {
        let live = self.live() as u64;
        let running: u64 = self.all.borrow().iter().map(|link| link.dropped()).sum();
        ChildStats {
            live,
            started: self.started.get(),
            crashed: self.crashed.get(),
            dropped: self.dropped.get() + running,
        }
    }

    /// Fills the warm pool (per-session mode) or starts and initializes the shared child
    /// (shared mode, when `warm` > 0). Spawn failures are logged; requests report them again.
    pub async fn start_warm(self: &Rc<Self>, init_timeout: Duration) {
        match self.options.mode {
            StdioMode::PerSession => self.refill(),
            StdioMode::Shared if self.warm_target > 0 => {
                if let Err(error) = self.shared(init_timeout).await {
                    tracing::warn!(upstream = %self.options.upstream, %error, "shared child did not start");
                }
            }
            StdioMode::Shared => {}
        }
    }

    /// A child for a new session (per-session mode): a warm one when there is one, else a
    /// fresh spawn; the warm pool refills in the background.
    ///
    /// # Errors
    /// [`AcquireError::Full`] at `max`, [`AcquireError::Spawn`] when the command cannot start.
    pub async fn for_session(self: &Rc<Self>) -> Result<Rc<Link>, AcquireError> {
        if let Peer::Sse(target) = &self.peer {
            if self.stopped.get() {
                return Err(AcquireError::ShuttingDown);
            }
            let link = Link::connect_sse(target, self.options.clone())
                .await
                .map_err(AcquireError::Connect)?;
            self.track(&link);
            return Ok(link);
        }
        let warm = loop {
            let Some(link) = self.warm.borrow_mut().pop_front() else {
                break None;
            };
            if link.is_alive() {
                break Some(link);
            }
        };
        let link = match warm {
            Some(link) => link,
            None => {
                if self.live() >= self.max {
                    return Err(AcquireError::Full(self.max));
                }
                self.spawn()?
            }
        };
        if self.warm_target > 0 {
            let this = self.clone();
            glommio::spawn_local(async move {
                // fork+exec blocks the shard for a millisecond or more: let the session that
                // took the warm child get its `initialize` answered first.
                glommio::timer::sleep(REFILL_DELAY).await;
                this.refill();
            })
            .detach();
        }
        Ok(link)
    }

    /// The shared child, started and initialized on first use (and again after it died),
    /// with its cached `initialize` result.
    ///
    /// # Errors
    /// [`AcquireError::Spawn`], or [`AcquireError::Link`] when it does not initialize.
    pub async fn shared(
        self: &Rc<Self>,
        init_timeout: Duration,
    ) -> Result<(Rc<Link>, Rc<[u8]>), AcquireError> {
        let current = self.shared.borrow().clone().filter(|link| link.is_alive());
        let link = match current {
            Some(link) => link,
            None => {
                let link = self.spawn()?;
                *self.shared.borrow_mut() = Some(link.clone());
                link
            }
        };
        let result = link.shared_init(init_timeout).await;
        match result {
            Ok(result) => Ok((link, result)),
            Err(error) => {
                // A child that cannot initialize serves nobody; the next session tries anew.
                link.close();
                Err(error.into())
            }
        }
    }

    /// Stops every child; resolves when all are reaped (or `bound` passed).
    pub async fn stop_all(&self, bound: Duration) {
        self.stopped.set(true);
        self.warm.borrow_mut().clear();
        self.shared.borrow_mut().take();
        let all: Vec<Rc<Link>> = self.all.borrow().clone();
        for link in &all {
            link.close();
        }
        let _ = glommio::timer::timeout(bound, async {
            for link in &all {
                link.wait_exited().await;
            }
            Ok(())
        })
        .await;
    }

    fn refill(&self) {
        while self.warm.borrow().len() < self.warm_target && self.live() < self.max {
            match self.spawn() {
                Ok(link) => self.warm.borrow_mut().push_back(link),
                Err(error) => {
                    tracing::warn!(upstream = %self.options.upstream, %error, "could not pre-spawn a child");
                    return;
                }
            }
        }
    }

    fn spawn(&self) -> Result<Rc<Link>, AcquireError> {
        if self.stopped.get() {
            return Err(AcquireError::ShuttingDown);
        }
        let Peer::Stdio(spec) = &self.peer else {
            return Err(AcquireError::NotLinked);
        };
        let link = Link::start(spec, self.options.clone())?;
        tracing::debug!(upstream = %self.options.upstream, peer = link.peer(), "child started");
        self.track(&link);
        Ok(link)
    }

    fn track(&self, link: &Rc<Link>) {
        // Prunes reaped links, so the list stays bounded without a metrics scrape.
        self.live();
        if self.stopped.get() {
            // Opened while shutdown stopped the others (an SSE connect in flight).
            link.close();
        }
        self.all.borrow_mut().push(link.clone());
        self.started.set(self.started.get() + 1);
    }
}
