//! The all-or-nothing decision over every limit of a request, as a pure function.
//!
//! A store copies the counters a request touches into a slice, calls [`evaluate`], and
//! writes them back only if the request was admitted: a rejection consumes nothing in any
//! dimension. Every store (memory, Redis's Lua script) implements exactly these rules, and
//! the store conformance suite checks that they agree.
//!
//! This is the hot path of every decision, so each limit's parameters are prepared once
//! per pass ([`Prepared`]: a rolling limit's come ready from its [`Limit`], a calendar
//! lookup only when a quota's stored period has ended) and nothing is allocated beyond the
//! decision itself.

use crate::clock::{Nanos, NANOS_PER_SEC};
use crate::decision::{Decision, Denial, DenialReason, DimensionStatus};
use crate::gcra::Gcra;
use crate::lease::{self, LeaseId};
use crate::limit::{CounterState, Limit};
use crate::quota::Quota;
use crate::unit::Costs;
use crate::window::Window;

/// One limit and what the request costs against it (kept for callers that build checks
/// one by one rather than from [`Costs`]).
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The limit.
    pub limit: &'a Limit,
    /// The request's cost in the limit's unit.
    pub cost: u64,
}

/// How long a client rejected for concurrency should wait before asking again: slots free
/// when jobs finish, which no lease expiry predicts, so the hint is capped.
const CONCURRENCY_RETRY_CAP: Nanos = NANOS_PER_SEC;

/// Checks `limits` (with `states[i]` the counter of `limits[i]`) for a request costing
/// `costs` at `now`. If every enforced limit admits it, all counters are consumed
/// (concurrency slots are taken under `lease`); otherwise none is touched, and the denial
/// names the limit with the longest wait, since the client has to wait that long anyway.
///
/// Shadowed limits never reject; one that would have is listed in `shadow_denials` and
/// is left unconsumed, so it keeps tracking what it would have admitted.
///
/// # Panics
/// If `states` is shorter than `limits`.
pub fn evaluate(
    limits: &[Limit],
    costs: &Costs,
    states: &mut [CounterState],
    lease: LeaseId,
    now: Nanos,
) -> Decision {
    assert!(states.len() >= limits.len(), "one state per limit");
    // The parameters worked out while checking are kept for consuming and reporting,
    // for the usual handful of limits.
    let mut kept: [Option<Prepared>; KEPT] = [None; KEPT];
    let mut denial: Option<Denial> = None;
    let mut shadow_denials = Vec::new();
    for (i, limit) in limits.iter().enumerate() {
        let prepared = Prepared::new(limit, &states[i], now);
        if let Some(slot) = kept.get_mut(i) {
            *slot = Some(prepared);
        }
        let Err(wait) = prepared.check(limit, &states[i], costs.get(limit.unit), now) else {
            continue;
        };
        if limit.shadow {
            shadow_denials.push(i);
            continue;
        }
        let worse = match denial {
            None => true,
            Some(Denial {
                retry_after: None, ..
            }) => false,
            Some(Denial {
                retry_after: Some(current),
                ..
            }) => wait.is_none_or(|w| w > current),
        };
        if worse {
            denial = Some(Denial {
                reason: DenialReason::Limit(i),
                retry_after: wait,
            });
        }
    }
    let admitted = denial.is_none();
    let mut dimensions = crate::decision::Dimensions::with_capacity(limits.len());
    for (i, limit) in limits.iter().enumerate() {
        let state = &mut states[i];
        let prepared = match kept.get(i) {
            Some(Some(prepared)) => *prepared,
            _ => Prepared::new(limit, state, now),
        };
        if admitted && !shadow_denials.contains(&i) {
            prepared.consume(limit, state, costs.get(limit.unit), lease, now);
        }
        dimensions.push(prepared.status(limit, state, now));
    }
    Decision {
        at: now,
        dimensions,
        denial,
        shadow_denials,
    }
}

/// Limits whose [`Prepared`] parameters one evaluation keeps between its passes.
const KEPT: usize = 4;

/// A limit's algorithm with its parameters worked out for one evaluation. A calendar
/// quota's period end stays valid after consuming, since consuming at `now` lands in the
/// period holding `now`.
#[derive(Clone, Copy)]
enum Prepared {
    Rolling(Gcra),
    Calendar {
        quota: Quota,
        /// End of the period holding `now`.
        end: Nanos,
    },
    Concurrent {
        lease_ttl: Nanos,
    },
}

impl Prepared {
    #[inline]
    fn new(limit: &Limit, state: &CounterState, now: Nanos) -> Self {
        match limit.window {
            Window::Rolling { period } => Prepared::Rolling(limit.gcra_of(period)),
            Window::Calendar { period, offset } => {
                let quota = Quota {
                    max: limit.max,
                    period,
                    offset,
                };
                let (stored_end, _) = quota_parts(state);
                Prepared::Calendar {
                    end: quota.current_end(stored_end, now),
                    quota,
                }
            }
            Window::Concurrent { lease_ttl } => Prepared::Concurrent { lease_ttl },
        }
    }

    /// Whether `cost` fits given the counter at `now`; on `Err`, the wait (`None` if it
    /// never fits).
    #[inline]
    fn check(
        &self,
        limit: &Limit,
        state: &CounterState,
        cost: u64,
        now: Nanos,
    ) -> Result<(), Option<Nanos>> {
        match self {
            Prepared::Rolling(g) => g.check(gcra_tat(state), now, cost).map(drop),
            Prepared::Calendar { quota, end } => {
                let (stored_end, used) = quota_parts(state);
                quota
                    .check_in(*end, Quota::used(stored_end, used, now), now, cost)
                    .map(drop)
            }
            Prepared::Concurrent { .. } => {
                if cost == 0 {
                    return Ok(());
                }
                if cost > limit.max {
                    return Err(None);
                }
                let leases = lease_parts(state);
                if lease::fits(leases, now, limit.max, cost) {
                    Ok(())
                } else {
                    let wait = lease::earliest_expiry_after(leases, now).unwrap_or(0);
                    Err(Some(wait.min(CONCURRENCY_RETRY_CAP)))
                }
            }
        }
    }

    #[inline]
    fn consume(
        &self,
        limit: &Limit,
        state: &mut CounterState,
        cost: u64,
        lease_id: LeaseId,
        now: Nanos,
    ) {
        match self {
            Prepared::Rolling(g) => {
                if let Ok(tat) = g.check(gcra_tat(state), now, cost) {
                    *state = CounterState::Gcra { tat };
                }
            }
            Prepared::Calendar { quota, end } => {
                let (stored_end, used) = quota_parts(state);
                if let Ok((period_end, used)) =
                    quota.check_in(*end, Quota::used(stored_end, used, now), now, cost)
                {
                    *state = CounterState::Quota { period_end, used };
                }
            }
            Prepared::Concurrent { lease_ttl } => {
                if cost == 0 || cost > limit.max {
                    return;
                }
                if !matches!(state, CounterState::Leases(_)) {
                    *state = CounterState::Leases(Vec::new());
                }
                if let CounterState::Leases(leases) = state {
                    lease::acquire(leases, lease_id, now, *lease_ttl, cost);
                }
            }
        }
    }

    #[inline]
    fn status(&self, limit: &Limit, state: &CounterState, now: Nanos) -> DimensionStatus {
        match self {
            Prepared::Rolling(g) => {
                let tat = gcra_tat(state);
                DimensionStatus {
                    max: limit.max,
                    remaining: g.remaining(tat, now),
                    reset_after: g.reset_after(tat, now),
                }
            }
            Prepared::Calendar { quota, end } => {
                let (stored_end, used) = quota_parts(state);
                DimensionStatus {
                    max: limit.max,
                    remaining: quota.remaining(stored_end, used, now),
                    reset_after: end - now,
                }
            }
            Prepared::Concurrent { .. } => {
                let leases = lease_parts(state);
                DimensionStatus {
                    max: limit.max,
                    remaining: limit.max.saturating_sub(lease::live_slots(leases, now)),
                    reset_after: lease::earliest_expiry_after(leases, now).unwrap_or(0),
                }
            }
        }
    }
}

/// Where `limit` stands at `now`, consuming nothing.
pub fn inspect(limit: &Limit, state: &CounterState, now: Nanos) -> DimensionStatus {
    Prepared::new(limit, state, now).status(limit, state, now)
}

/// Adjusts a previous consumption of `limit` by `delta` units (positive charges more,
/// negative refunds). `reserved_at` is the decision's time, so a refund never reaches
/// into a later calendar period. Concurrency is released through leases, not settled.
pub fn settle(limit: &Limit, state: &mut CounterState, now: Nanos, delta: i64, reserved_at: Nanos) {
    if delta == 0 {
        return;
    }
    if let Some(g) = limit.gcra() {
        *state = CounterState::Gcra {
            tat: g.settle(gcra_tat(state), now, delta),
        };
    } else if let Some(q) = limit.quota() {
        let (end, used) = quota_parts(state);
        let (period_end, used) = q.settle(end, used, now, delta, reserved_at);
        *state = CounterState::Quota { period_end, used };
    }
}

fn gcra_tat(state: &CounterState) -> Nanos {
    match state {
        CounterState::Gcra { tat } => *tat,
        _ => 0,
    }
}

fn quota_parts(state: &CounterState) -> (Nanos, u64) {
    match state {
        CounterState::Quota { period_end, used } => (*period_end, *used),
        _ => (0, 0),
    }
}

fn lease_parts(state: &CounterState) -> &[lease::Lease] {
    match state {
        CounterState::Leases(l) => l,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::Scope;
    use crate::unit::Unit;

    const NOW: Nanos = 1_767_225_600 * NANOS_PER_SEC;

    fn text_limits() -> Vec<Limit> {
        vec![
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m"),
            Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 1000, "m"),
            Limit::new(Scope::Key, Unit::Requests, Window::DAY, 100, "m"),
        ]
    }

    #[test]
    fn tokens_trip_before_requests_and_nothing_is_consumed() {
        let limits = text_limits();
        let mut states = vec![CounterState::Fresh; 3];
        let big = Costs::one_request().with(Unit::Tokens, 600);
        assert!(evaluate(&limits, &big, &mut states, LeaseId(1), NOW).allowed());
        let before = states.clone();
        let d = evaluate(&limits, &big, &mut states, LeaseId(2), NOW);
        assert_eq!(d.denial.unwrap().reason, DenialReason::Limit(1));
        assert_eq!(states, before, "a rejection consumes nothing");
        assert_eq!(d.dimensions[0].remaining, 9);
        assert_eq!(d.dimensions[1].remaining, 400);
    }

    #[test]
    fn the_longest_wait_names_the_denial() {
        let limits = vec![
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 1, "m"),
            Limit::new(Scope::Key, Unit::Requests, Window::DAY, 1, "m"),
        ];
        let mut states = vec![CounterState::Fresh; 2];
        let one = Costs::one_request();
        assert!(evaluate(&limits, &one, &mut states, LeaseId(1), NOW).allowed());
        let d = evaluate(&limits, &one, &mut states, LeaseId(1), NOW);
        assert_eq!(
            d.denial.unwrap().reason,
            DenialReason::Limit(1),
            "daily wins"
        );
    }

    #[test]
    fn shadow_limits_report_but_never_reject() {
        let limits =
            vec![Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 1, "m").shadowed(true)];
        let mut states = vec![CounterState::Fresh];
        let one = Costs::one_request();
        assert!(evaluate(&limits, &one, &mut states, LeaseId(1), NOW).allowed());
        let d = evaluate(&limits, &one, &mut states, LeaseId(1), NOW);
        assert!(d.allowed());
        assert_eq!(d.shadow_denials, vec![0]);
    }

    #[test]
    fn concurrency_takes_a_slot_per_lease() {
        let ttl = 30 * NANOS_PER_SEC;
        let limits = vec![Limit::new(
            Scope::Key,
            Unit::ConcurrentJobs,
            Window::Concurrent { lease_ttl: ttl },
            2,
            "m",
        )];
        let mut states = vec![CounterState::Fresh];
        let one = Costs::one_request();
        assert!(evaluate(&limits, &one, &mut states, LeaseId(1), NOW).allowed());
        assert!(evaluate(&limits, &one, &mut states, LeaseId(2), NOW).allowed());
        let d = evaluate(&limits, &one, &mut states, LeaseId(3), NOW);
        assert_eq!(d.denial.unwrap().retry_after, Some(NANOS_PER_SEC));
        assert!(
            evaluate(&limits, &one, &mut states, LeaseId(3), NOW + ttl).allowed(),
            "leases expired"
        );
    }
}
