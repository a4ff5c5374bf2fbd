//! A resolved limit (what to count, where, over which window, up to what) and the state
//! of the counter behind it.

use crate::clock::Nanos;
use crate::gcra::Gcra;
use crate::lease::{self, Lease};
use crate::quota::Quota;
use crate::unit::Unit;
use crate::window::{CalendarPeriod, Window};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Whose counter a limit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One counter per API key.
    Key,
    /// One counter per account, shared by all its keys.
    Account,
    /// One counter for everyone (capacity protection of a model).
    Global,
}

impl Scope {
    /// The name used in config files and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Account => "account",
            Scope::Global => "global",
        }
    }
}

/// What a distributed store does with this limit while its backend is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Keep enforcing with a bounded local fallback on each instance.
    #[default]
    FailOpen,
    /// Refuse the request (503) rather than risk over-admission.
    FailClosed,
}

/// One limit that applies to a request, fully resolved from the policy.
///
/// A rolling limit's GCRA parameters are worked out when the limit is built (they take
/// divisions) and kept alongside its fields; since the fields are public, the kept
/// parameters are only used while `max` and the window's period are still the ones they
/// were worked out from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Whose counter.
    pub scope: Scope,
    /// What it counts.
    pub unit: Unit,
    /// Over which time shape.
    pub window: Window,
    /// How much is allowed per window (or concurrent slots).
    pub max: u64,
    /// Name of the counter's bucket within the scope: the model by default, or a group
    /// name when several models share one counter ("300 RPM across all endpoints").
    pub bucket: Arc<str>,
    /// The counter's address within its scope's subject, derived from bucket, unit and
    /// window so that two limits that must share a counter always do.
    pub slot: Arc<str>,
    /// Evaluate and report, but never reject.
    pub shadow: bool,
    /// Behaviour while a distributed store is unreachable.
    pub failure: FailurePolicy,
    /// The rolling parameters worked out at construction.
    rolling: RollingCache,
}

/// A rolling limit's [`Gcra`] with the `max` and period it was built from. It is derived
/// from the limit's other fields, so it takes no part in comparing or hashing limits.
#[derive(Debug, Clone, Copy)]
struct RollingCache(Option<(u64, Nanos, Gcra)>);

impl RollingCache {
    fn new(window: Window, max: u64) -> Self {
        Self(match window {
            Window::Rolling { period } => Some((max, period, Gcra::new(max, period))),
            _ => None,
        })
    }
}

impl PartialEq for RollingCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RollingCache {}

impl std::hash::Hash for RollingCache {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl Limit {
    /// A limit with its slot derived from bucket, unit and window.
    pub fn new(scope: Scope, unit: Unit, window: Window, max: u64, bucket: &str) -> Self {
        Self {
            scope,
            unit,
            window,
            max,
            slot: Self::slot_of(bucket, unit, &window, max).into(),
            bucket: bucket.into(),
            shadow: false,
            failure: FailurePolicy::default(),
            rolling: RollingCache::new(window, max),
        }
    }

    /// The counter address of a limit. A rolling counter's state is a time debt measured
    /// at its rate (period / max): read at another rate it would mean another usage (3
    /// requests of "3 a minute" would fill "300 a minute" too), so a rolling limit whose
    /// maximum changes (a tier move, an override, a reload) starts a counter of its own.
    /// Calendar quotas count units, which mean the same under any maximum, and keep theirs.
    fn slot_of(bucket: &str, unit: Unit, window: &Window, max: u64) -> String {
        let mut slot = Self::slot_name(bucket, unit, window);
        if matches!(window, Window::Rolling { .. }) {
            slot.push('#');
            slot.push_str(&max.to_string());
        }
        slot
    }

    /// The counter address for a bucket, unit and window (before a rolling limit's rate).
    pub fn slot_name(bucket: &str, unit: Unit, window: &Window) -> String {
        match *window {
            Window::Calendar { offset, .. } if offset != 0 => {
                format!("{bucket}/{unit}/{}@{offset}", window.label())
            }
            _ => format!("{bucket}/{unit}/{}", window.label()),
        }
    }

    /// Marks this limit as shadowed (reported, never enforced).
    #[must_use]
    pub fn shadowed(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// Sets the failure policy.
    #[must_use]
    pub fn with_failure(mut self, failure: FailurePolicy) -> Self {
        self.failure = failure;
        self
    }

    /// The GCRA parameters of a rolling limit.
    #[inline]
    pub fn gcra(&self) -> Option<Gcra> {
        match self.window {
            Window::Rolling { period } => Some(self.gcra_of(period)),
            _ => None,
        }
    }

    /// The GCRA parameters of this limit over a rolling `period`: the ones worked out at
    /// construction unless `max` or the period has changed since.
    #[inline]
    pub(crate) fn gcra_of(&self, period: Nanos) -> Gcra {
        match self.kept_gcra(period) {
            Some(gcra) => *gcra,
            None => Gcra::new(self.max, period),
        }
    }

    /// The quota parameters of this limit over a calendar `period` with its boundary
    /// `offset` (the calendar counterpart of [`Limit::gcra_of`]).
    #[inline]
    pub(crate) fn quota_of(&self, period: CalendarPeriod, offset: Nanos) -> Quota {
        Quota {
            max: self.max,
            period,
            offset,
        }
    }

    /// The GCRA parameters worked out at construction, if they are still those of `max`
    /// over `period`.
    #[inline]
    pub(crate) fn kept_gcra(&self, period: Nanos) -> Option<&Gcra> {
        match &self.rolling.0 {
            Some((max, built_for, gcra)) if *max == self.max && *built_for == period => Some(gcra),
            _ => None,
        }
    }

    /// The quota parameters of a calendar limit.
    pub fn quota(&self) -> Option<Quota> {
        match self.window {
            Window::Calendar { period, offset } => Some(self.quota_of(period, offset)),
            _ => None,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} per {} ({})",
            self.max,
            self.unit,
            self.window.label(),
            self.scope.as_str(),
            self.bucket
        )
    }
}

/// The state of one counter. Which variant a counter holds follows from its limit's window;
/// `Fresh` is a counter never used (or forgotten because it was idle).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CounterState {
    /// Nothing consumed.
    #[default]
    Fresh,
    /// A rolling limit's theoretical arrival time.
    Gcra {
        /// When the bucket is entirely free again.
        tat: Nanos,
    },
    /// A calendar quota's usage in the period ending at `period_end`.
    Quota {
        /// End of the period the usage belongs to.
        period_end: Nanos,
        /// Units used in that period.
        used: u64,
    },
    /// Concurrency leases held.
    Leases(Vec<Lease>),
}

impl CounterState {
    /// Whether the state is equivalent to `Fresh` at `now` and can be forgotten.
    pub fn is_idle(&self, now: Nanos) -> bool {
        match self {
            CounterState::Fresh => true,
            CounterState::Gcra { tat } => *tat <= now,
            CounterState::Quota { period_end, used } => *used == 0 || *period_end <= now,
            CounterState::Leases(leases) => lease::live_slots(leases, now) == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::NANOS_PER_SEC;
    use std::hash::{BuildHasher, RandomState};

    #[test]
    fn kept_gcra_follows_changed_fields() {
        let mut limit = Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 60, "m");
        assert_eq!(limit.gcra(), Some(Gcra::new(60, 60 * NANOS_PER_SEC)));
        limit.max = 7;
        assert_eq!(limit.gcra(), Some(Gcra::new(7, 60 * NANOS_PER_SEC)));
        limit.window = Window::SECOND;
        assert_eq!(limit.gcra(), Some(Gcra::new(7, NANOS_PER_SEC)));
        limit.window = Window::DAY;
        assert_eq!(limit.gcra(), None);
        limit.window = Window::HOUR;
        assert_eq!(limit.gcra(), Some(Gcra::new(7, 3600 * NANOS_PER_SEC)));
    }

    #[test]
    fn a_rolling_counter_is_its_rates_own_and_a_quota_is_shared() {
        let basic = Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 3, "m");
        let premium = Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 300, "m");
        assert_ne!(basic.slot, premium.slot);
        let day = Limit::new(Scope::Key, Unit::Requests, Window::DAY, 100, "m");
        let more = Limit::new(Scope::Key, Unit::Requests, Window::DAY, 1000, "m");
        assert_eq!(day.slot, more.slot);
    }

    #[test]
    fn kept_gcra_takes_no_part_in_equality() {
        let built = Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 60, "m");
        let mut changed = Limit::new(Scope::Key, Unit::Requests, Window::DAY, 60, "m");
        changed.window = Window::MINUTE;
        changed.slot = built.slot.clone();
        assert_eq!(built, changed);
        let state = RandomState::new();
        assert_eq!(state.hash_one(&built), state.hash_one(&changed));
    }
}
