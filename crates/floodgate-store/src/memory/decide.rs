//! The decision: every limit of a request checked and consumed under the locks of the
//! subjects it touches, all or nothing.
//!
//! Most requests touch a single subject (limits scoped to the key, as with a text model's
//! RPM + TPM + daily quota); they take a path with one hash, one lock and one table
//! probe, evaluated on the subject's counters in place (nothing copied out and back) into
//! the caller's decision, with no allocation. Requests spanning several subjects lock
//! their shards in order through a [`Plan`] and evaluate copies of their counters.

use super::plan::Plan;
use super::shards::Target;
use super::MemoryStore;
use crate::request::DecideRequest;
use floodgate_core::{
    evaluate_into, inspect, CounterState, Counters, Decision, Denial, DenialReason,
    DimensionStatus, Nanos, Scope,
};
use smallvec::SmallVec;
use std::sync::Arc;

/// Limits a single-subject decision handles on the stack.
const INLINE_LIMITS: usize = 4;

impl MemoryStore {
    /// [`Store::decide`](crate::Store::decide), synchronously.
    #[inline]
    pub fn decide_now(&self, request: &DecideRequest<'_>) -> Decision {
        // Filled in place by a call that is not inlined, so that a caller into which this
        // is inlined reads the decision where it was built rather than a copy of it (a
        // decision is 168 bytes; copying one was a tenth of a decision's time).
        let mut decision = Decision::new(0);
        self.decide_into(request, &mut decision);
        decision
    }

    /// [`decide_now`](Self::decide_now) into `decision`, which is overwritten.
    pub fn decide_into(&self, request: &DecideRequest<'_>, decision: &mut Decision) {
        let now = self.clock.now();
        match single_subject(request) {
            Some(subject) if request.limits.len() <= INLINE_LIMITS => {
                let target = self.shards.target(subject);
                if !self.decide_single(request, target, now, decision) {
                    self.decide_many(request, now, decision);
                }
            }
            _ => self.decide_many(request, now, decision),
        }
    }

    /// Decides on the subject's own counters, in place; false (having changed nothing)
    /// if two limits share a counter, which [`decide_many`](Self::decide_many) handles.
    fn decide_single(
        &self,
        request: &DecideRequest<'_>,
        target: Target<'_>,
        now: Nanos,
        decision: &mut Decision,
    ) -> bool {
        let limits = request.limits;
        let mut shard = self.shards.lock_one(target.shard, now);
        let (mut slot, created) = shard.occupy(&target);
        let entry = slot.get_mut();
        let blocked = request
            .abuse
            .and(entry.abuse.as_ref())
            .and_then(|abuse| abuse.0.blocked_for(now));
        if let Some(wait) = blocked {
            let fresh = &CounterState::Fresh;
            let dimensions = limits
                .iter()
                .map(|l| inspect(l, entry.state(&l.slot).unwrap_or(fresh), now));
            blocked_decision(decision, dimensions, wait, now);
            return true;
        }
        // Counters a limit has never used are added fresh, and taken away again unless
        // the request is admitted, so that a denial leaves the entry as it was.
        let held = entry.slots.len();
        let mut at = [0; INLINE_LIMITS];
        for (i, limit) in limits.iter().enumerate() {
            at[i] = match entry.find_near(&limit.slot, i) {
                Some(found) => found,
                None => {
                    entry
                        .slots
                        .push((Arc::clone(&limit.slot), CounterState::Fresh));
                    entry.slots.len() - 1
                }
            };
        }
        let at = &at[..limits.len()];
        let shared = (1..at.len()).any(|i| at[..i].contains(&at[i]));
        if !shared {
            let mut counters = InEntry {
                slots: &mut entry.slots,
                at,
            };
            evaluate_into(
                decision,
                limits,
                request.costs,
                &mut counters,
                request.lease,
                now,
            );
        }
        if shared || !decision.allowed() {
            entry.slots.truncate(held);
        }
        if created && entry.slots.is_empty() {
            // A subject whose first request was denied (or had no limits) leaves nothing.
            slot.remove();
        }
        !shared
    }

    // Kept out of line: the single-subject path is the hot one, and this one's locals
    // would otherwise widen its stack frame.
    #[inline(never)]
    fn decide_many(&self, request: &DecideRequest<'_>, now: Nanos, decision: &mut Decision) {
        let limits = request.limits;
        let plan = Plan::new(
            &self.shards,
            &request.subjects,
            limits,
            request.abuse.is_some(),
        );
        let mut locked = self.shards.lock(&plan.shards(), now);
        let mut states: SmallVec<[CounterState; INLINE_LIMITS]> =
            SmallVec::from_elem(CounterState::Fresh, limits.len());
        for (t, target) in plan.targets.iter().enumerate() {
            if let Some(entry) = locked.shard(target.shard).get(target) {
                for i in plan.limits_of(t) {
                    if let Some(state) = entry.state(&limits[i].slot) {
                        states[i].clone_from(state);
                    }
                }
            }
        }
        if let Some(key) = plan.key {
            let target = &plan.targets[key];
            let blocked = locked
                .shard(target.shard)
                .get(target)
                .and_then(|e| e.abuse.as_ref())
                .and_then(|abuse| abuse.0.blocked_for(now));
            if let Some(wait) = blocked {
                let dimensions = limits.iter().zip(&states).map(|(l, s)| inspect(l, s, now));
                blocked_decision(decision, dimensions, wait, now);
                return;
            }
        }
        evaluate_into(
            decision,
            limits,
            request.costs,
            &mut states[..],
            request.lease,
            now,
        );
        if decision.allowed() {
            for (t, target) in plan.targets.iter().enumerate() {
                let entry = locked.shard(target.shard).entry(target);
                for i in plan.limits_of(t) {
                    *entry.state_mut(&limits[i].slot) = std::mem::take(&mut states[i]);
                }
            }
        }
    }
}

/// A subject's counters as [`evaluate_into`] sees them: the `i`-th limit's counter is the
/// entry's `at[i]`-th.
struct InEntry<'a> {
    slots: &'a mut [(Arc<str>, CounterState)],
    at: &'a [usize],
}

impl Counters for InEntry<'_> {
    #[inline]
    fn counter(&mut self, i: usize) -> &mut CounterState {
        &mut self.slots[self.at[i]].1
    }
}

/// The one subject every limit (and the abuse check, if asked for) uses, if there is one.
#[inline]
fn single_subject<'a>(request: &DecideRequest<'a>) -> Option<&'a str> {
    let subjects = request.subjects;
    let scope = match request.limits.first() {
        Some(limit) => limit.scope,
        None => Scope::Key,
    };
    let subject = subjects.for_scope(scope);
    for limit in request.limits {
        if limit.scope != scope && !same(subjects.for_scope(limit.scope), subject) {
            return None;
        }
    }
    let key_fits = request.abuse.is_none() || scope == Scope::Key || same(subject, subjects.key);
    key_fits.then_some(subject)
}

fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// The denial of a key blocked by abuse protection: counters reported, none consumed.
fn blocked_decision(
    decision: &mut Decision,
    dimensions: impl Iterator<Item = DimensionStatus>,
    wait: Nanos,
    now: Nanos,
) {
    decision.at = now;
    decision.dimensions.clear();
    decision.dimensions.extend(dimensions);
    decision.denial = Some(Denial {
        reason: DenialReason::Blocked,
        retry_after: Some(wait),
    });
    decision.shadow_denials.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Subjects;
    use floodgate_core::{Costs, FakeClock, LeaseId, Limit, Unit, Window};

    fn store() -> MemoryStore {
        MemoryStore::new(Arc::new(FakeClock::at_new_year()))
    }

    fn decide(store: &MemoryStore, limits: &[Limit], costs: &Costs) -> Decision {
        store.decide_now(&DecideRequest {
            subjects: Subjects {
                key: "key",
                account: "account",
            },
            limits,
            costs,
            lease: LeaseId(1),
            abuse: None,
        })
    }

    /// The counters the key's entry holds.
    fn counters(store: &MemoryStore) -> usize {
        let target = store.shards.target("key");
        let mut shard = store.shards.lock_one(target.shard, store.now());
        shard.entry(&target).slots.len()
    }

    #[test]
    fn limits_sharing_a_counter_count_it_once() {
        // As when each limit gets a copy of the counter: both see the same count and the
        // request is counted once, not once per limit.
        let rpm = Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 3, "m");
        let limits = [rpm.clone(), rpm];
        let one = Costs::one_request();
        let store = store();
        for left in [2, 1, 0] {
            let d = decide(&store, &limits, &one);
            assert!(d.allowed());
            assert_eq!(d.dimensions[0].remaining, left);
            assert_eq!(d.dimensions[1].remaining, left);
        }
        assert!(!decide(&store, &limits, &one).allowed());
        assert_eq!(counters(&store), 1);
    }

    #[test]
    fn a_denial_adds_no_counter_to_a_known_subject() {
        let store = store();
        let rpm = Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m");
        let tpm = Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 50, "m");
        let one = Costs::one_request();
        assert!(decide(&store, std::slice::from_ref(&rpm), &one).allowed());
        assert_eq!(counters(&store), 1);
        let big = one.with(Unit::Tokens, 100);
        let d = decide(&store, &[rpm.clone(), tpm.clone()], &big);
        assert_eq!(d.denial.map(|d| d.reason), Some(DenialReason::Limit(1)));
        assert_eq!(d.dimensions[0].remaining, 9, "nothing consumed");
        assert_eq!(counters(&store), 1, "the token counter was not kept");
        assert!(decide(&store, &[rpm, tpm], &one.with(Unit::Tokens, 20)).allowed());
        assert_eq!(counters(&store), 2);
    }

    #[test]
    fn four_limits_on_one_subject_beyond_the_inline_counters() {
        let store = store();
        let limits = [
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 3, "m"),
            Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 1000, "m"),
            Limit::new(Scope::Key, Unit::Requests, Window::DAY, 100, "m"),
            Limit::new(Scope::Key, Unit::Requests, Window::HOUR, 50, "m"),
        ];
        let costs = Costs::one_request().with(Unit::Tokens, 10);
        for left in [2, 1, 0] {
            let d = decide(&store, &limits, &costs);
            assert!(d.allowed());
            let remaining: Vec<u64> = d.dimensions.iter().map(|s| s.remaining).collect();
            assert_eq!(remaining, [left, 970 + 10 * left, 97 + left, 47 + left]);
        }
        assert_eq!(counters(&store), 4);
        let d = decide(&store, &limits, &costs);
        assert_eq!(d.denial.map(|d| d.reason), Some(DenialReason::Limit(0)));
        // Listed in another order, the same counters are found.
        let reversed: Vec<Limit> = limits.iter().rev().cloned().collect();
        let d = decide(&store, &reversed, &costs);
        let remaining: Vec<u64> = d.dimensions.iter().map(|s| s.remaining).collect();
        assert_eq!(remaining, [47, 97, 970, 0]);
        assert_eq!(counters(&store), 4);
    }
}
