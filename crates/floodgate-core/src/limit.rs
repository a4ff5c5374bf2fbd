//! A resolved limit (what to count, where, over which window, up to what) and the state
//! of the counter behind it.

use crate::clock::Nanos;
use crate::gcra::Gcra;
use crate::lease::{self, Lease};
use crate::quota::Quota;
use crate::unit::Unit;
use crate::window::Window;
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
}

impl Limit {
    /// A limit with its slot derived from bucket, unit and window.
    pub fn new(scope: Scope, unit: Unit, window: Window, max: u64, bucket: &str) -> Self {
        Self {
            scope,
            unit,
            window,
            max,
            slot: Self::slot_name(bucket, unit, &window).into(),
            bucket: bucket.into(),
            shadow: false,
            failure: FailurePolicy::default(),
        }
    }

    /// The counter address for a bucket, unit and window.
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
    pub fn gcra(&self) -> Option<Gcra> {
        match self.window {
            Window::Rolling { period } => Some(Gcra::new(self.max, period)),
            _ => None,
        }
    }

    /// The quota parameters of a calendar limit.
    pub fn quota(&self) -> Option<Quota> {
        match self.window {
            Window::Calendar { period, offset } => Some(Quota {
                max: self.max,
                period,
                offset,
            }),
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
