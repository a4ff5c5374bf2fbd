//! GCRA (generic cell rate algorithm): a smooth rolling limit with one number of state.
//!
//! A limit of `max` per `period` admits a burst of up to `max` and then refills
//! continuously at `max / period`; there is no window boundary to game. The state is the
//! theoretical arrival time (TAT): the moment the bucket would be full again.
//!
//! The emission interval (time one unit occupies) is `period / max` rounded *up* to a
//! whole nanosecond, and the tolerance is exactly `max` emission intervals, so a burst of
//! `max` always fits and the effective rate can only be a few nanoseconds slower per
//! period than declared, never faster.

use crate::clock::Nanos;
use crate::reciprocal::Reciprocal;

/// A rolling limit of `max` units per `period`, ready to evaluate.
///
/// Building one divides (the emission interval, and its reciprocal for
/// [`remaining`](Self::remaining)); [`Limit`](crate::Limit) builds it once, so a decision
/// divides by nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    emission: Nanos,
    tau: Nanos,
    max: u64,
    per_emission: Reciprocal,
}

impl Gcra {
    /// A limit of `max` per `period` nanoseconds. `max == 0` admits nothing.
    #[inline]
    pub fn new(max: u64, period: Nanos) -> Self {
        let emission = if max == 0 {
            period.max(1)
        } else {
            period.div_ceil(max).max(1)
        };
        Self {
            emission,
            tau: emission.saturating_mul(max),
            max,
            per_emission: Reciprocal::new(emission),
        }
    }

    /// Admits `cost` units at `now` given the stored `tat`: the new TAT, or the time to
    /// wait before the same cost would fit (`None` if it never can: `cost > max`).
    #[inline]
    pub fn check(&self, tat: Nanos, now: Nanos, cost: u64) -> Result<Nanos, Option<Nanos>> {
        if cost > self.max {
            return Err(None);
        }
        let new_tat = tat
            .max(now)
            .saturating_add(cost.saturating_mul(self.emission));
        let occupied = new_tat - now;
        if occupied <= self.tau {
            Ok(new_tat)
        } else {
            Err(Some(occupied - self.tau))
        }
    }

    /// Units that could be admitted right now.
    #[inline]
    pub fn remaining(&self, tat: Nanos, now: Nanos) -> u64 {
        let occupied = tat.saturating_sub(now);
        if occupied >= self.tau {
            0
        } else {
            self.per_emission.divide(self.tau - occupied).min(self.max)
        }
    }

    /// Time until the limit is entirely free again (every unit given back).
    #[inline]
    pub fn reset_after(&self, tat: Nanos, now: Nanos) -> Nanos {
        tat.saturating_sub(now)
    }

    /// Time until at least one more unit fits (0 when one fits now).
    pub fn next_unit_after(&self, tat: Nanos, now: Nanos) -> Nanos {
        let occupied = tat.saturating_sub(now);
        (occupied + self.emission).saturating_sub(self.tau)
    }

    /// Adjusts the TAT by `delta` units: a charge may go beyond the tolerance (a debt that
    /// blocks later requests until repaid), a refund never goes below `now`.
    pub fn settle(&self, tat: Nanos, now: Nanos, delta: i64) -> Nanos {
        let base = tat.max(now);
        let amount = delta.unsigned_abs().saturating_mul(self.emission);
        if delta >= 0 {
            base.saturating_add(amount)
        } else {
            base.saturating_sub(amount).max(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::NANOS_PER_SEC;

    const MIN: Nanos = 60 * NANOS_PER_SEC;

    #[test]
    fn burst_of_max_then_one_per_emission() {
        let g = Gcra::new(3, MIN);
        let mut tat = 0;
        let now = 1_000 * NANOS_PER_SEC;
        for left in [2, 1, 0] {
            tat = g.check(tat, now, 1).unwrap();
            assert_eq!(g.remaining(tat, now), left);
        }
        assert_eq!(g.check(tat, now, 1), Err(Some(20 * NANOS_PER_SEC)));
        assert_eq!(g.reset_after(tat, now), MIN);
        assert!(g.check(tat, now + 20 * NANOS_PER_SEC, 1).is_ok());
    }

    #[test]
    fn non_dividing_limits_still_admit_a_full_burst() {
        for max in [7, 9, 11, 13, 1_000_003] {
            let g = Gcra::new(max, MIN);
            let tat = g.check(0, 5, max).expect("a full burst fits");
            assert_eq!(g.remaining(tat, 5), 0);
            assert!(g.check(tat, 5, 1).is_err());
        }
    }

    #[test]
    fn cost_above_max_never_fits() {
        assert_eq!(Gcra::new(10, MIN).check(0, 0, 11), Err(None));
        assert_eq!(Gcra::new(0, MIN).check(0, 0, 1), Err(None));
        assert!(Gcra::new(0, MIN).check(0, 0, 0).is_ok());
    }

    #[test]
    fn settle_refunds_and_charges() {
        let g = Gcra::new(100, MIN);
        let now = MIN;
        let tat = g.check(0, now, 50).unwrap();
        assert_eq!(g.remaining(tat, now), 50);
        let tat = g.settle(tat, now, -30);
        assert_eq!(g.remaining(tat, now), 80);
        let tat = g.settle(tat, now, -1_000);
        assert_eq!(g.remaining(tat, now), 100);
        let tat = g.settle(tat, now, 150);
        assert_eq!(g.remaining(tat, now), 0);
        assert!(
            g.check(tat, now, 0).is_err(),
            "a debt blocks even empty requests"
        );
    }
}
