//! Time as the engine sees it: nanoseconds since the Unix epoch, handed in by a [`Clock`].
//!
//! The engine needs wall-clock time (not only a monotonic instant) because calendar quotas
//! reset at a UTC boundary and `x-ratelimit-reset-requests` is a Unix timestamp.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
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
///
/// Reading the OS clock costs a system call's worth of time on some virtual machines
/// (80 ns measured on the project's CI machine, more than a whole decision), so the time
/// is read from the CPU's counter (through `quanta`, calibrated against the OS clock) and
/// added to an anchor taken from the OS clock. The anchor is renewed from the OS clock
/// every [`REANCHOR_EVERY`], so counter drift and OS clock adjustments are followed
/// within that time; between renewals the clock only moves forward.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// How often [`SystemClock`] re-reads the OS clock.
pub const REANCHOR_EVERY: Nanos = 100_000_000;

impl SystemClock {
    /// The OS clock itself, read directly (slower; for anchoring and checks).
    pub fn os_now() -> Nanos {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Nanos {
        static ANCHOR: OnceLock<Anchor> = OnceLock::new();
        ANCHOR.get_or_init(Anchor::new).now()
    }
}

/// An OS clock reading and the counter reading taken with it, behind a sequence number
/// (odd while being renewed) so that readers never mix two anchors.
struct Anchor {
    counter: quanta::Clock,
    seq: AtomicU64,
    wall: AtomicU64,
    raw: AtomicU64,
}

impl Anchor {
    fn new() -> Self {
        let counter = quanta::Clock::new();
        Self {
            raw: AtomicU64::new(counter.raw()),
            wall: AtomicU64::new(SystemClock::os_now()),
            seq: AtomicU64::new(0),
            counter,
        }
    }

    fn now(&self) -> Nanos {
        loop {
            let seq = self.seq.load(Ordering::Acquire);
            if seq & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let wall = self.wall.load(Ordering::Acquire);
            let raw = self.raw.load(Ordering::Acquire);
            let now = self.counter.raw();
            if self.seq.load(Ordering::Acquire) != seq {
                continue;
            }
            let elapsed = self.counter.delta_as_nanos(raw, now);
            if elapsed < REANCHOR_EVERY {
                return wall + elapsed;
            }
            if self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let (raw, wall) = (self.counter.raw(), SystemClock::os_now());
                self.raw.store(raw, Ordering::Release);
                self.wall.store(wall, Ordering::Release);
                self.seq.store(seq + 2, Ordering::Release);
                return wall;
            }
        }
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

    #[test]
    fn system_clock_follows_the_os_clock() {
        // Across several re-anchorings, the counter-based time stays within a few
        // milliseconds of the OS clock read around it.
        for _ in 0..5 {
            let before = SystemClock::os_now();
            let now = SystemClock.now();
            let after = SystemClock::os_now();
            let slack = 5_000_000;
            assert!(
                now + slack >= before && now <= after + slack,
                "{before} <= {now} <= {after}"
            );
            std::thread::sleep(Duration::from_millis(60));
        }
    }
}
