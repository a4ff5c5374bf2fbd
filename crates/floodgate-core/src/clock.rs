//! Time as the engine sees it: nanoseconds since the Unix epoch, handed in by a [`Clock`].
//!
//! The engine needs wall-clock time (not only a monotonic instant) because calendar quotas
//! reset at a UTC boundary and `x-ratelimit-reset-requests` is a Unix timestamp.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since 1970-01-01T00:00:00Z. `u64` lasts until the year 2554.
pub type Nanos = u64;

/// One second in [`Nanos`].
pub const NANOS_PER_SEC: Nanos = 1_000_000_000;

/// A source of the current time. Stores and servers own one; the algorithms never do.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Nanos;
}

/// The operating system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Nanos {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when a test moves it. Clones share the same time.
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<AtomicU64>,
}

impl FakeClock {
    /// A fake clock standing at `start`.
    pub fn new(start: Nanos) -> Self {
        Self {
            now: Arc::new(AtomicU64::new(start)),
        }
    }

    /// A fake clock at 2026-01-01T00:00:00Z, a calendar boundary for days and months.
    pub fn at_new_year() -> Self {
        Self::new(1_767_225_600 * NANOS_PER_SEC)
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.now.fetch_add(by, Ordering::SeqCst);
    }

    /// Puts the clock at an absolute time (forwards or backwards).
    pub fn set(&self, at: Nanos) {
        self.now.store(at, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Nanos {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_when_told() {
        let clock = FakeClock::new(10);
        let shared = clock.clone();
        assert_eq!(clock.now(), 10);
        clock.advance(Duration::from_nanos(5));
        assert_eq!(shared.now(), 15);
        clock.set(3);
        assert_eq!(clock.now(), 3);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now() > 1_704_067_200 * NANOS_PER_SEC);
    }
}
