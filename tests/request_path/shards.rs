//! Two shards: a session minted on one shard and used from many new connections (the kernel
//! spreads them over both shards) is served by its owner, the connection moved by handoff.
