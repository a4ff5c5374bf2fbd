//! What a Redis store connects to, and how long it waits.

use std::time::Duration;

/// The default bound on one store call, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// Where the counters live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server (or a primary behind a proxy): `redis://[:password@]host:port[/db]`,
    /// or `rediss://` for TLS.
    Single(String),
    /// A Redis Cluster, found through any of these node URLs (the rest are discovered).
    Cluster(Vec<String>),
}

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Server or cluster.
    pub target: RedisTarget,
    /// The longest any call may take, connecting included: past it the call fails with
    /// [`StoreError::Timeout`](floodgate_store::StoreError::Timeout) and the failure
    /// policy decides, so a dead Redis never holds a request longer than this.
    pub timeout: Duration,
}

impl RedisConfig {
    /// One server at `url`, with the default timeout.
    pub fn single(url: impl Into<String>) -> Self {
        Self {
            target: RedisTarget::Single(url.into()),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A cluster reached through `nodes`, with the default timeout.
    pub fn cluster<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        Self {
            target: RedisTarget::Cluster(nodes.into_iter().map(Into::into).collect()),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same, with another timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
