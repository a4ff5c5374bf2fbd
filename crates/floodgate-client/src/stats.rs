//! What a [`Client`](crate::Client) has seen: counters shared by its clones.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters.
#[derive(Debug, Default)]
pub(crate) struct ClientStats {
    pub(crate) sent: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) transport_errors: AtomicU64,
    pub(crate) retries: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Attempts sent.
    pub sent: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// 500, 502, 503 and 504 received.
    pub server_errors: u64,
    /// Attempts that got no answer.
    pub transport_errors: u64,
    /// Retries made.
    pub retries: u64,
}

impl ClientStats {
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: get(&self.sent),
            rate_limited: get(&self.rate_limited),
            server_errors: get(&self.server_errors),
            transport_errors: get(&self.transport_errors),
            retries: get(&self.retries),
        }
    }
}
