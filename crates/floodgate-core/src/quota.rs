//! Calendar quotas: a hard cap per UTC day or month that resets all at once.

use crate::calendar;
use crate::clock::Nanos;
use crate::window::CalendarPeriod;

/// A quota of `max` per calendar `period`, with its boundary `offset` after 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Units allowed per period.
    pub max: u64,
    /// Day or month.
    pub period: CalendarPeriod,
    /// Boundary offset from 00:00 UTC.
    pub offset: Nanos,
}

impl Quota {
    /// Usage that still counts at `now`: none once the stored period has ended.
    #[inline]
    pub fn used(period_end: Nanos, used: u64, now: Nanos) -> u64 {
        if now < period_end {
            used
        } else {
            0
        }
    }

    /// The end of the period holding `now`.
    pub fn period_end(&self, now: Nanos) -> Nanos {
        calendar::bounds(self.period, self.offset, now).1
    }

    /// The end of the period holding `now`, taken from a stored period end when `now` is
    /// provably inside that period (a day is exactly a day; no month is shorter than 28
    /// days), so the calendar arithmetic runs only when a period has rolled over.
    #[inline]
    pub fn current_end(&self, stored_end: Nanos, now: Nanos) -> Nanos {
        let shortest = match self.period {
            CalendarPeriod::Day => calendar::DAY,
            CalendarPeriod::Month => 28 * calendar::DAY,
        };
        if now < stored_end && stored_end - now <= shortest {
            stored_end
        } else {
            self.period_end(now)
        }
    }

    /// Admits `cost` at `now`: the new `(period_end, used)`, or the wait until the quota
    /// resets (`None` if the cost can never fit).
    pub fn check(
        &self,
        period_end: Nanos,
        used: u64,
        now: Nanos,
        cost: u64,
    ) -> Result<(Nanos, u64), Option<Nanos>> {
        let end = self.current_end(period_end, now);
        self.check_in(end, Self::used(period_end, used, now), now, cost)
    }

    /// [`check`](Self::check) with the current period's `end` and the usage counting in
    /// it already known.
    #[inline]
    pub fn check_in(
        &self,
        end: Nanos,
        used: u64,
        now: Nanos,
        cost: u64,
    ) -> Result<(Nanos, u64), Option<Nanos>> {
        if cost > self.max {
            return Err(None);
        }
        match used.checked_add(cost) {
            Some(total) if total <= self.max => Ok((end, total)),
            _ => Err(Some(end - now)),
        }
    }

    /// Units left at `now`.
    #[inline]
    pub fn remaining(&self, period_end: Nanos, used: u64, now: Nanos) -> u64 {
        self.max.saturating_sub(Self::used(period_end, used, now))
    }

    /// Adjusts usage by `delta`. A refund only applies to usage reserved in the current
    /// period (`reserved_at` in it); a charge always lands in the current period.
    pub fn settle(
        &self,
        period_end: Nanos,
        used: u64,
        now: Nanos,
        delta: i64,
        reserved_at: Nanos,
    ) -> (Nanos, u64) {
        let end = self.period_end(now);
        let used = Self::used(period_end, used, now);
        if delta >= 0 {
            (end, used.saturating_add(delta.unsigned_abs()))
        } else if self.period_end(reserved_at) == end {
            (end, used.saturating_sub(delta.unsigned_abs()))
        } else {
            (end, used)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::DAY;
    use crate::clock::NANOS_PER_SEC;

    const NEW_YEAR_2026: Nanos = 1_767_225_600 * NANOS_PER_SEC;

    #[test]
    fn resets_exactly_at_midnight() {
        let q = Quota {
            max: 2,
            period: CalendarPeriod::Day,
            offset: 0,
        };
        let now = NEW_YEAR_2026 - 10 * NANOS_PER_SEC;
        let (end, used) = q.check(0, 0, now, 2).unwrap();
        assert_eq!((end, used), (NEW_YEAR_2026, 2));
        assert_eq!(q.check(end, used, now, 1), Err(Some(10 * NANOS_PER_SEC)));
        assert_eq!(q.check(end, used, NEW_YEAR_2026 - 1, 1), Err(Some(1)));
        assert_eq!(
            q.check(end, used, NEW_YEAR_2026, 1),
            Ok((NEW_YEAR_2026 + DAY, 1))
        );
    }

    #[test]
    fn refund_from_yesterday_does_not_touch_today() {
        let q = Quota {
            max: 100,
            period: CalendarPeriod::Day,
            offset: 0,
        };
        let yesterday = NEW_YEAR_2026 - NANOS_PER_SEC;
        let (end, used) = q.check(0, 0, NEW_YEAR_2026, 10).unwrap();
        assert_eq!(q.settle(end, used, NEW_YEAR_2026, -5, yesterday), (end, 10));
        assert_eq!(
            q.settle(end, used, NEW_YEAR_2026, -5, NEW_YEAR_2026),
            (end, 5)
        );
        assert_eq!(q.settle(end, used, NEW_YEAR_2026, 7, yesterday), (end, 17));
    }
}
