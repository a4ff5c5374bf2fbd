//! What a decision tells the caller: allowed or not, and where every dimension stands.

use crate::clock::Nanos;
use smallvec::SmallVec;

/// Where one limit stands after (or, for a rejection, without) the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimensionStatus {
    /// The limit's maximum per window (or concurrent slots).
    pub max: u64,
    /// Units still available now.
    pub remaining: u64,
    /// Time until the limit is entirely free again: the end of a calendar period, the time
    /// a rolling window has fully refilled, or the earliest lease expiry.
    pub reset_after: Nanos,
}

impl DimensionStatus {
    /// Units in use (`max - remaining`).
    pub fn used(&self) -> u64 {
        self.max.saturating_sub(self.remaining)
    }
}

/// Why a request was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialReason {
    /// The limit at this index of the decision's limits tripped.
    Limit(usize),
    /// The key is blocked by abuse protection.
    Blocked,
}

/// A rejection: which limit, and when the same request could succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    /// What tripped.
    pub reason: DenialReason,
    /// How long to wait; `None` when the request can never fit (it costs more than the
    /// limit's maximum).
    pub retry_after: Option<Nanos>,
}

/// Per-dimension statuses of a decision, inline for the usual handful of limits so that
/// a decision allocates nothing (a heap allocation per decision was a measurable share of
/// the memory store's decision time).
pub type Dimensions = SmallVec<[DimensionStatus; 4]>;

/// The outcome of checking every limit that applies to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The store's time of the decision (Redis's clock on Redis), for a later settle.
    pub at: Nanos,
    /// One status per limit, in the order the limits were given.
    pub dimensions: Dimensions,
    /// `None` when admitted.
    pub denial: Option<Denial>,
    /// Indices of shadowed limits that would have rejected this request.
    pub shadow_denials: Vec<usize>,
}

impl Decision {
    /// An admission at `at` with no dimensions yet, for [`evaluate_into`](crate::evaluate_into)
    /// to fill.
    #[inline]
    pub fn new(at: Nanos) -> Self {
        Self {
            at,
            dimensions: Dimensions::new(),
            denial: None,
            shadow_denials: Vec::new(),
        }
    }

    /// Whether the request was admitted.
    #[inline]
    pub fn allowed(&self) -> bool {
        self.denial.is_none()
    }
}
