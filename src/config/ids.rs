//! Typed ids of the configured upstreams, listeners and routes ([`UpstreamId`], [`ListenerId`],
//! [`RouteId`]), and the
//! per-upstream / per-route tables the runtime keys by them ([`PerUpstream`], [`PerRoute`]).
//!
//! Not here: what an upstream or route is (model.rs), resolving names into ids (resolve.rs).
//!
//! Why looking up by these ids cannot fail: an id is made only here, by config resolution
//! (a route's upstream) and by the iteration helpers of [`Config`](super::Config) and of the
//! tables below, so it always names an entry of the snapshot it came from. That snapshot is
//! immutable for the process's life (every shard holds it in an `Arc`, and the runtime builds
//! its tables from it), so the entry is still there when the id is used. A future reload
//! builds a new snapshot with new ids; whatever it hands across (pools, sessions) must map old
//! ids to new ones, never reuse them. Allocates nothing, locks nothing.

/// Most upstreams one config may define: an [`UpstreamId`] is a `u16`, so that a session entry
/// stays small (see `session/entry.rs`).
pub const MAX_UPSTREAMS: usize = u16::MAX as usize + 1;

/// One configured upstream: an index into `Config::upstreams`, made only by the config (see
/// the module docs for why it always names one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamId(u16);

impl UpstreamId {
    /// The id of the `index`th upstream; resolution checks `index < MAX_UPSTREAMS`.
    pub(super) fn new(index: usize) -> Self {
        UpstreamId(u16::try_from(index).unwrap_or(u16::MAX))
    }

    /// The id as a number: for log fields, and to seal into a token handed to a client and
    /// compare with [`Self::compact`] of a known id later. There is no way back from a number
    /// to an id.
    pub fn compact(self) -> u16 {
        self.0
    }

    /// An id for unit tests of the tables keyed by upstream (no config at hand).
    #[cfg(test)]
    pub(crate) fn test(index: u16) -> Self {
        UpstreamId(index)
    }

    fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One configured listener: an index into `Config::listeners`, made only by the config (see
/// the module docs for why it always names one). At most [`MAX_ROUTES`] listeners are
/// accepted at load, so it fits a `u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u16);

impl ListenerId {
    /// The first listener: every config has at least one.
    pub const FIRST: ListenerId = ListenerId(0);

    pub(super) fn new(index: usize) -> Self {
        ListenerId(u16::try_from(index).unwrap_or(u16::MAX))
    }

    /// Its index in `Config::listeners` (logs and the accept loop's bookkeeping).
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One configured route: the `route`th route of the `listener`th listener, made only by the
/// config (see the module docs for why it always names one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteId {
    listener: u16,
    route: u16,
}

/// Most listeners, and most routes on one listener, a config may have (a [`RouteId`] is 4
/// bytes, so a session entry can name its route).
pub const MAX_ROUTES: usize = u16::MAX as usize + 1;

impl RouteId {
    /// Resolution checks both indexes against [`MAX_ROUTES`].
    pub(super) fn new(listener: usize, route: usize) -> Self {
        let narrow = |i: usize| u16::try_from(i).unwrap_or(u16::MAX);
        RouteId {
            listener: narrow(listener),
            route: narrow(route),
        }
    }

    /// Index of the route's listener in `Config::listeners`.
    pub fn listener(self) -> ListenerId {
        ListenerId(self.listener)
    }

    /// Index of the route in its listener's `routes`.
    pub(super) fn route(self) -> usize {
        usize::from(self.route)
    }
}

/// The one place that indexes by an id: `index` comes from an id of the snapshot `items` was
/// built from, so it is in bounds (module docs).
pub(super) fn slot<T>(items: &[T], index: usize) -> &T {
    &items[index]
}

/// One value per configured upstream, looked up by [`UpstreamId`] (a pool, a child set).
#[derive(Debug)]
pub struct PerUpstream<T>(Box<[T]>);

impl<T> PerUpstream<T> {
    /// Builds one value per upstream of `config`, in config order.
    pub fn build(
        config: &super::Config,
        make: impl FnMut((UpstreamId, &super::UpstreamConfig)) -> T,
    ) -> Self {
        PerUpstream(config.upstream_ids().map(make).collect())
    }

    /// The value of `id`'s upstream.
    pub fn get(&self, id: UpstreamId) -> &T {
        slot(&self.0, id.index())
    }

    /// Every value with its upstream's id, in config order.
    pub fn iter(&self) -> impl Iterator<Item = (UpstreamId, &T)> {
        self.0
            .iter()
            .enumerate()
            .map(|(index, value)| (UpstreamId::new(index), value))
    }
}

/// One value per configured route, looked up by [`RouteId`] (a route's stages).
#[derive(Debug)]
pub struct PerRoute<T>(Box<[Box<[T]>]>);

impl<T> PerRoute<T> {
    /// Builds one value per route of `config`, per listener, in config order.
    pub fn build(
        config: &super::Config,
        mut make: impl FnMut((RouteId, &super::RouteConfig)) -> T,
    ) -> Self {
        let per_listener = config.listeners.iter().enumerate().map(|(l, listener)| {
            let routes = listener.routes.iter().enumerate();
            routes
                .map(|(r, route)| make((RouteId::new(l, r), route)))
                .collect()
        });
        PerRoute(per_listener.collect())
    }

    /// The value of `id`'s route.
    pub fn get(&self, id: RouteId) -> &T {
        slot(slot(&self.0, usize::from(id.listener)).as_ref(), id.route())
    }

    /// Every route's value, in config order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter().flat_map(|routes| routes.iter())
    }
}

pub(super) fn route_index(id: RouteId) -> (usize, usize) {
    (usize::from(id.listener), id.route())
}

pub(super) fn upstream_index(id: UpstreamId) -> usize {
    id.index()
}
