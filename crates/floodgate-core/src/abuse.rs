//! Abuse protection: too many failed requests in a sliding window block a key for a while
//! (seed: "more than 20 failed requests in 30 seconds ... block further requests for 30
//! seconds").
//!
//! The counter is exact: it keeps the times of the last `max_failures + 1` failures, which
//! is all it takes to know whether more than `max_failures` fell inside the window.

use crate::clock::Nanos;
use std::collections::VecDeque;

/// When to block: more than `max_failures` failures within `window` block for `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbuseRule {
    /// Failures tolerated inside the window (the block starts at one more).
    pub max_failures: u32,
    /// Length of the sliding window.
    pub window: Nanos,
    /// How long a block lasts.
    pub block: Nanos,
}

/// One key's recent failures and any block in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbuseState {
    /// Times of recent failures, oldest first, at most `max_failures + 1` long.
    pub failures: VecDeque<Nanos>,
    /// The block lasts until this time (0 = never blocked).
    pub blocked_until: Nanos,
}

impl AbuseState {
    /// Time left on a block in force at `now`.
    pub fn blocked_for(&self, now: Nanos) -> Option<Nanos> {
        (self.blocked_until > now).then(|| self.blocked_until - now)
    }

    /// Counts a failure at `now`; returns the block length if this failure started one.
    /// Failures while blocked are not counted, so a client that keeps knocking during a
    /// block is not blocked forever.
    pub fn record_failure(&mut self, rule: &AbuseRule, now: Nanos) -> Option<Nanos> {
        if self.blocked_for(now).is_some() {
            return None;
        }
        while self
            .failures
            .front()
            .is_some_and(|&t| now.saturating_sub(t) >= rule.window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() > rule.max_failures as usize {
            self.failures.clear();
            self.blocked_until = now.saturating_add(rule.block);
            Some(rule.block)
        } else {
            None
        }
    }

    /// Lifts a block and forgets past failures (an operator's decision).
    pub fn clear(&mut self) {
        self.failures.clear();
        self.blocked_until = 0;
    }

    /// Whether this state says nothing anymore and can be dropped.
    pub fn is_idle(&self, rule_window: Nanos, now: Nanos) -> bool {
        self.blocked_until <= now
            && self
                .failures
                .back()
                .is_none_or(|&t| now.saturating_sub(t) >= rule_window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::NANOS_PER_SEC;

    const SEED: AbuseRule = AbuseRule {
        max_failures: 20,
        window: 30 * NANOS_PER_SEC,
        block: 30 * NANOS_PER_SEC,
    };

    #[test]
    fn the_21st_failure_in_30s_blocks_for_30s() {
        let mut s = AbuseState::default();
        for i in 0..20 {
            assert_eq!(s.record_failure(&SEED, i * NANOS_PER_SEC), None);
        }
        assert_eq!(s.blocked_for(20 * NANOS_PER_SEC), None);
        assert_eq!(
            s.record_failure(&SEED, 29 * NANOS_PER_SEC),
            Some(SEED.block)
        );
        assert_eq!(s.blocked_for(30 * NANOS_PER_SEC), Some(29 * NANOS_PER_SEC));
        assert_eq!(s.blocked_for(59 * NANOS_PER_SEC), None);
    }

    #[test]
    fn failures_spread_beyond_the_window_never_block() {
        let mut s = AbuseState::default();
        for i in 0..200 {
            assert_eq!(s.record_failure(&SEED, i * 2 * NANOS_PER_SEC), None);
        }
        assert!(s.failures.len() <= 16);
    }
}
