//! The all-or-nothing decision over every limit of a request, as a pure function.
//!
//! A store hands the counters a request touches to [`evaluate`] (copies in a slice) or
//! [`evaluate_into`] (wherever it keeps them), which consumes them only if the request is
//! admitted: a rejection consumes nothing in any dimension. Every store (memory, Redis's
//! Lua script) implements exactly these rules, and the store conformance suite checks that
//! they agree.
//!
//! This is the hot path of every decision: a rolling limit's parameters come ready from
//! its [`Limit`] (no division), a quota's calendar arithmetic runs only when its stored
//! period has ended, and nothing is allocated.

use crate::clock::{Nanos, NANOS_PER_SEC};
use crate::decision::{Decision, Denial, DenialReason, DimensionStatus, Dimensions};
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

/// Where [`evaluate_into`] finds the counter of each limit: a slice of copies (as
/// [`evaluate`] takes them) or a store's own counters, updated in place.
pub trait Counters {
    /// The counter of the `i`-th limit. Distinct limits must get distinct counters.
    fn counter(&mut self, i: usize) -> &mut CounterState;
}

impl Counters for [CounterState] {
    #[inline]
    fn counter(&mut self, i: usize) -> &mut CounterState {
        &mut self[i]
    }
}

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
    let mut decision = Decision::new(now);
    evaluate_into(&mut decision, limits, costs, states, lease, now);
    decision
}

/// [`evaluate`] with the counters wherever `counters` keeps them, written into
/// `decision` (whatever it held is replaced). A store that hands its own counters in
/// saves copying them out and back, and a caller that builds the decision where it is
/// returned saves moving it.
#[inline]
pub fn evaluate_into<C: Counters + ?Sized>(
    decision: &mut Decision,
    limits: &[Limit],
    costs: &Costs,
    counters: &mut C,
    lease: LeaseId,
    now: Nanos,
) {
    decision.at = now;
    decision.dimensions.clear();
    decision.denial = None;
    decision.shadow_denials.clear();
    if let [limit] = limits {
        if !limit.shadow {
            // One enforced limit: the request is admitted exactly when it fits, so the
            // check decides what the single pass consumes.
            let state = counters.counter(0);
            let cost = costs.get(limit.unit);
            let fits = check(limit, state, cost, now);
            if let Err(wait) = fits {
                decision.denial = Some(Denial {
                    reason: DenialReason::Limit(0),
                    retry_after: wait,
                });
            }
            advance(
                &mut decision.dimensions,
                limit,
                state,
                cost,
                fits.is_ok(),
                lease,
                now,
            );
            return;
        }
    }
    for (i, limit) in limits.iter().enumerate() {
        let Err(wait) = check(limit, counters.counter(i), costs.get(limit.unit), now) else {
            continue;
        };
        if limit.shadow {
            decision.shadow_denials.push(i);
            continue;
        }
        let worse = match decision.denial {
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
            decision.denial = Some(Denial {
                reason: DenialReason::Limit(i),
                retry_after: wait,
            });
        }
    }
    let admitted = decision.denial.is_none();
    for (i, limit) in limits.iter().enumerate() {
        let consume = admitted
            && (decision.shadow_denials.is_empty() || !decision.shadow_denials.contains(&i));
        advance(
            &mut decision.dimensions,
            limit,
            counters.counter(i),
            costs.get(limit.unit),
            consume,
            lease,
            now,
        );
    }
}

/// Whether `cost` fits `limit` given its counter at `now`; on `Err`, the wait (`None` if
/// it never fits).
#[inline(always)]
fn check(limit: &Limit, state: &CounterState, cost: u64, now: Nanos) -> Result<(), Option<Nanos>> {
    match limit.window {
        Window::Rolling { period } => {
            let fresh;
            let g = match limit.kept_gcra(period) {
                Some(g) => g,
                None => {
                    fresh = Gcra::new(limit.max, period);
                    &fresh
                }
            };
            g.check(gcra_tat(state), now, cost).map(drop)
        }
        Window::Calendar { period, offset } => {
            let quota = limit.quota_of(period, offset);
            let (stored_end, used) = quota_parts(state);
            let end = quota.current_end(stored_end, now);
            quota
                .check_in(end, Quota::used(stored_end, used, now), now, cost)
                .map(drop)
        }
        Window::Concurrent { .. } => check_leases(limit, state, cost, now),
    }
}

/// Consumes `cost` from the counter of `limit` if told to (the request is admitted and
/// this limit enforced), then adds where the limit stands to `dimensions`. Each arm
/// pushes its own status: a status assembled on the stack and then copied is read back
/// as one wide load over narrower stores, which stalls store forwarding.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn advance(
    dimensions: &mut Dimensions,
    limit: &Limit,
    state: &mut CounterState,
    cost: u64,
    consume: bool,
    lease: LeaseId,
    now: Nanos,
) {
    match limit.window {
        Window::Rolling { period } => {
            let fresh;
            let g = match limit.kept_gcra(period) {
                Some(g) => g,
                None => {
                    fresh = Gcra::new(limit.max, period);
                    &fresh
                }
            };
            let mut tat = gcra_tat(state);
            if consume {
                if let Ok(new_tat) = g.check(tat, now, cost) {
                    tat = new_tat;
                    match state {
                        CounterState::Gcra { tat: stored } => *stored = tat,
                        other => *other = CounterState::Gcra { tat },
                    }
                }
            }
            dimensions.push(rolling_status(limit, g, tat, now));
        }
        Window::Calendar { period, offset } => {
            let quota = limit.quota_of(period, offset);
            let (stored_end, stored_used) = quota_parts(state);
            // Consuming at `now` lands in the period holding `now`, so this end stays
            // right after consuming.
            let end = quota.current_end(stored_end, now);
            let mut used = Quota::used(stored_end, stored_used, now);
            if consume {
                if let Ok((period_end, total)) = quota.check_in(end, used, now, cost) {
                    used = total;
                    *state = CounterState::Quota {
                        period_end,
                        used: total,
                    };
                }
            }
            dimensions.push(quota_status(limit, end, used, now));
        }
        Window::Concurrent { lease_ttl } => {
            if consume {
                acquire_lease(limit, state, cost, lease, lease_ttl, now);
            }
            dimensions.push(lease_status(limit, state, now));
        }
    }
}

#[inline(always)]
fn rolling_status(limit: &Limit, g: &Gcra, tat: Nanos, now: Nanos) -> DimensionStatus {
    DimensionStatus {
        max: limit.max,
        remaining: g.remaining(tat, now),
        reset_after: g.reset_after(tat, now),
    }
}

/// The status of a quota with `used` counting in the period ending at `end`.
#[inline(always)]
fn quota_status(limit: &Limit, end: Nanos, used: u64, now: Nanos) -> DimensionStatus {
    DimensionStatus {
        max: limit.max,
        remaining: limit.max.saturating_sub(used),
        reset_after: end - now,
    }
}

fn check_leases(
    limit: &Limit,
    state: &CounterState,
    cost: u64,
    now: Nanos,
) -> Result<(), Option<Nanos>> {
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

fn acquire_lease(
    limit: &Limit,
    state: &mut CounterState,
    cost: u64,
    lease_id: LeaseId,
    lease_ttl: Nanos,
    now: Nanos,
) {
    if cost == 0 || cost > limit.max {
        return;
    }
    if !matches!(state, CounterState::Leases(_)) {
        *state = CounterState::Leases(Vec::new());
    }
    if let CounterState::Leases(leases) = state {
        lease::acquire(leases, lease_id, now, lease_ttl, cost);
    }
}

fn lease_status(limit: &Limit, state: &CounterState, now: Nanos) -> DimensionStatus {
    let leases = lease_parts(state);
    DimensionStatus {
        max: limit.max,
        remaining: limit.max.saturating_sub(lease::live_slots(leases, now)),
        reset_after: lease::earliest_expiry_after(leases, now).unwrap_or(0),
    }
}

/// Where `limit` stands at `now`, consuming nothing.
pub fn inspect(limit: &Limit, state: &CounterState, now: Nanos) -> DimensionStatus {
    match limit.window {
        Window::Rolling { period } => {
            rolling_status(limit, &limit.gcra_of(period), gcra_tat(state), now)
        }
        Window::Calendar { period, offset } => {
            let quota = limit.quota_of(period, offset);
            let (stored_end, used) = quota_parts(state);
            let end = quota.current_end(stored_end, now);
            quota_status(limit, end, Quota::used(stored_end, used, now), now)
        }
        Window::Concurrent { .. } => lease_status(limit, state, now),
    }
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
