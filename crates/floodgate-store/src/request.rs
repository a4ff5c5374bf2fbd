//! The arguments and results of store calls.

use floodgate_core::{AbuseRule, Costs, DimensionStatus, LeaseId, Limit, Nanos, Scope};

/// The counter owners of one request: a limit's scope picks one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subjects<'a> {
    /// The API key's id (a prefix of its hash, never the raw key).
    pub key: &'a str,
    /// The account's id.
    pub account: &'a str,
}

impl<'a> Subjects<'a> {
    /// The subject that owns counters of `scope`.
    pub fn for_scope(&self, scope: Scope) -> &'a str {
        match scope {
            Scope::Key => self.key,
            Scope::Account => self.account,
            Scope::Global => GLOBAL_SUBJECT,
        }
    }
}

/// The subject of global (per-model capacity) counters.
pub const GLOBAL_SUBJECT: &str = "*global*";

/// One decision: check every limit for the request's costs, consume all or nothing.
#[derive(Debug, Clone, Copy)]
pub struct DecideRequest<'a> {
    /// Whose counters.
    pub subjects: Subjects<'a>,
    /// The limits that apply, each with a distinct (scope, slot).
    pub limits: &'a [Limit],
    /// What the request costs in each unit.
    pub costs: &'a Costs,
    /// Holder of any concurrency slots this request takes.
    pub lease: LeaseId,
    /// Abuse protection to honour: a key that is blocked is rejected first.
    pub abuse: Option<&'a AbuseRule>,
}

/// A change to one limit's consumption after the fact.
#[derive(Debug, Clone, Copy)]
pub struct Adjustment<'a> {
    /// The limit.
    pub limit: &'a Limit,
    /// Units to charge (positive) or refund (negative).
    pub delta: i64,
}

/// Settles earlier reservations with what was really used.
#[derive(Debug, Clone, Copy)]
pub struct SettleRequest<'a> {
    /// Whose counters.
    pub subjects: Subjects<'a>,
    /// What to adjust.
    pub adjustments: &'a [Adjustment<'a>],
    /// The time of the decision that reserved (its [`Decision::at`](floodgate_core::Decision)),
    /// so a refund never reaches into a later calendar period.
    pub reserved_at: Nanos,
}

/// Where a key stands, read without consuming anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The store's time of the reading.
    pub at: Nanos,
    /// One status per limit asked about, in order.
    pub dimensions: Vec<DimensionStatus>,
    /// Time left on an abuse block of the key, if one is in force.
    pub blocked_for: Option<Nanos>,
}
