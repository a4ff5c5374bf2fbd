//! Obviously-correct reference models of the three limit algorithms, written without the
//! engine's code: a token bucket in exact integer arithmetic, a counter per calendar
//! period found from a table of month lengths, and a map of live leases.

// Each test file uses only some of the models, and they are `pub` for the files that do.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

pub const SEC: u64 = 1_000_000_000;
pub const DAY: u64 = 86_400 * SEC;
/// 2026-01-01T00:00:00Z.
pub const NEW_YEAR_2026: u64 = 1_767_225_600 * SEC;

/// A token bucket of `max` tokens refilling one token per `emission` ns, where
/// `emission = ceil(period / max)`. Tokens are kept multiplied by `emission` so that
/// refill is exact: one scaled token per nanosecond. A charge after the fact may push
/// the level below zero (a debt).
#[derive(Debug, Clone)]
pub struct Bucket {
    pub max: u64,
    pub emission: u64,
    /// Tokens times `emission`, as of `at`.
    level: i128,
    at: u64,
}

impl Bucket {
    pub fn new(max: u64, period: u64, now: u64) -> Self {
        let emission = period.div_ceil(max).max(1);
        Self {
            max,
            emission,
            level: i128::from(max) * i128::from(emission),
            at: now,
        }
    }

    fn capacity(&self) -> i128 {
        i128::from(self.max) * i128::from(self.emission)
    }

    fn level_at(&self, now: u64) -> i128 {
        (self.level + i128::from(now - self.at)).min(self.capacity())
    }

    /// `Ok` if `cost` tokens are there at `now`, else the wait (`None`: never).
    pub fn check(&self, now: u64, cost: u64) -> Result<(), Option<u64>> {
        if cost > self.max {
            return Err(None);
        }
        let need = i128::from(cost) * i128::from(self.emission);
        let have = self.level_at(now);
        if have >= need {
            Ok(())
        } else {
            Err(Some(u64::try_from(need - have).expect("fits")))
        }
    }

    pub fn take(&mut self, now: u64, cost: u64) {
        self.level = self.level_at(now) - i128::from(cost) * i128::from(self.emission);
        self.at = now;
    }

    /// Charges (`delta > 0`, may go into debt) or refunds (never above full).
    pub fn settle(&mut self, now: u64, delta: i64) {
        let amount = i128::from(delta) * i128::from(self.emission);
        self.level = (self.level_at(now) - amount).min(self.capacity());
        self.at = now;
    }

    pub fn remaining(&self, now: u64) -> u64 {
        let level = self.level_at(now).max(0);
        u64::try_from(level / i128::from(self.emission)).expect("fits")
    }

    pub fn reset_after(&self, now: u64) -> u64 {
        u64::try_from(self.capacity() - self.level_at(now)).expect("fits")
    }
}

fn leap(y: u64) -> bool {
    match (y % 4, y % 100, y % 400) {
        (_, _, 0) => true,
        (_, 0, _) => false,
        (r, _, _) => r == 0,
    }
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Starts of the UTC months from January 2026 on (enough for the times tests use).
pub fn month_starts() -> Vec<u64> {
    let mut starts = vec![NEW_YEAR_2026];
    let (mut y, mut m) = (2026, 1);
    for _ in 0..12 * 40 {
        let next = starts.last().expect("non-empty") + days_in_month(y, m) * DAY;
        starts.push(next);
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    starts
}

/// A quota counted per calendar period: the `[start, end)` of each period comes from
/// day arithmetic or the month table, shifted by `offset`.
#[derive(Debug, Clone)]
pub struct PeriodCounter {
    pub max: u64,
    pub monthly: bool,
    pub offset: u64,
    months: Vec<u64>,
    used: BTreeMap<u64, u64>,
}

impl PeriodCounter {
    pub fn new(max: u64, monthly: bool, offset: u64) -> Self {
        Self {
            max,
            monthly,
            offset,
            months: month_starts(),
            used: BTreeMap::new(),
        }
    }

    /// `[start, end)` of the period holding `now` (which must be after 2026-01-01 plus
    /// the offset).
    pub fn bounds(&self, now: u64) -> (u64, u64) {
        if self.monthly {
            let i = self.months.partition_point(|&s| s + self.offset <= now) - 1;
            (
                self.months[i] + self.offset,
                self.months[i + 1] + self.offset,
            )
        } else {
            let start = (now - self.offset) / DAY * DAY + self.offset;
            (start, start + DAY)
        }
    }

    fn used(&self, now: u64) -> u64 {
        self.used.get(&self.bounds(now).0).copied().unwrap_or(0)
    }

    pub fn check(&self, now: u64, cost: u64) -> Result<(), Option<u64>> {
        if cost > self.max {
            Err(None)
        } else if self.used(now) + cost <= self.max {
            Ok(())
        } else {
            Err(Some(self.bounds(now).1 - now))
        }
    }

    pub fn take(&mut self, now: u64, cost: u64) {
        *self.used.entry(self.bounds(now).0).or_insert(0) += cost;
    }

    /// A charge lands in the current period; a refund only if the reservation was made
    /// in it.
    pub fn settle(&mut self, now: u64, delta: i64, reserved_at: u64) {
        let start = self.bounds(now).0;
        let same_period = self.bounds(reserved_at).0 == start;
        let used = self.used.entry(start).or_insert(0);
        if delta >= 0 {
            *used += delta.unsigned_abs();
        } else if same_period {
            *used = used.saturating_sub(delta.unsigned_abs());
        }
    }

    pub fn remaining(&self, now: u64) -> u64 {
        self.max.saturating_sub(self.used(now))
    }

    pub fn reset_after(&self, now: u64) -> u64 {
        self.bounds(now).1 - now
    }
}

/// Concurrency slots: a lease is live while `now < expires`.
#[derive(Debug, Clone)]
pub struct LeaseSet {
    pub max: u64,
    pub ttl: u64,
    /// id -> (slots, expires).
    leases: BTreeMap<u64, (u64, u64)>,
}

/// Cap on the retry hint of a concurrency denial (the engine's documented 1 s).
pub const CONCURRENCY_RETRY_CAP: u64 = SEC;

impl LeaseSet {
    pub fn new(max: u64, ttl: u64) -> Self {
        Self {
            max,
            ttl,
            leases: BTreeMap::new(),
        }
    }

    fn live(&self, now: u64) -> impl Iterator<Item = (&u64, &(u64, u64))> {
        self.leases.iter().filter(move |(_, (_, e))| *e > now)
    }

    pub fn held(&self, now: u64) -> u64 {
        self.live(now).map(|(_, (s, _))| s).sum()
    }

    pub fn check(&self, now: u64, cost: u64) -> Result<(), Option<u64>> {
        if cost == 0 {
            Ok(())
        } else if cost > self.max {
            Err(None)
        } else if self.held(now) + cost <= self.max {
            Ok(())
        } else {
            Err(Some(self.reset_after(now).min(CONCURRENCY_RETRY_CAP)))
        }
    }

    pub fn take(&mut self, now: u64, id: u64, cost: u64) {
        if cost == 0 {
            return;
        }
        let slots = match self.leases.get(&id) {
            Some(&(s, e)) if e > now => s + cost,
            _ => cost,
        };
        self.leases.insert(id, (slots, now + self.ttl));
    }

    pub fn renew(&mut self, now: u64, id: u64) -> bool {
        match self.leases.get_mut(&id) {
            Some((_, e)) if *e > now => {
                *e = now + self.ttl;
                true
            }
            _ => false,
        }
    }

    pub fn release(&mut self, now: u64, id: u64) -> bool {
        matches!(self.leases.remove(&id), Some((_, e)) if e > now)
    }

    pub fn remaining(&self, now: u64) -> u64 {
        self.max.saturating_sub(self.held(now))
    }

    pub fn reset_after(&self, now: u64) -> u64 {
        self.live(now).map(|(_, (_, e))| e - now).min().unwrap_or(0)
    }
}

/// The denial a set of per-limit answers calls for: the longest wait wins, a wait that
/// never ends beats any finite one, and the first limit wins a tie. Shadowed limits
/// never deny.
pub fn longest_wait(answers: &[(bool, Result<(), Option<u64>>)]) -> Option<(usize, Option<u64>)> {
    let mut worst: Option<(usize, Option<u64>)> = None;
    for (i, (shadow, answer)) in answers.iter().enumerate() {
        let (false, Err(wait)) = (shadow, answer) else {
            continue;
        };
        let worse = match worst {
            None => true,
            Some((_, None)) => false,
            Some((_, Some(current))) => wait.is_none_or(|w| w > current),
        };
        if worse {
            worst = Some((i, *wait));
        }
    }
    worst
}
