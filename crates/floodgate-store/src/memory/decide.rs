//! The decision: every limit of a request checked and consumed under the locks of the
//! subjects it touches, all or nothing.
//!
//! Most requests touch a single subject (limits scoped to the key, as with a text model's
//! RPM + TPM + daily quota); they take a path with one hash, one lock and one table
//! probe, and no allocation besides the decision. Requests spanning several subjects
//! lock their shards in order through a [`Plan`].

use super::plan::Plan;
use super::shards::Target;
use super::MemoryStore;
use crate::request::DecideRequest;
use floodgate_core::{
    evaluate, inspect, CounterState, Decision, Denial, DenialReason, Limit, Nanos, Scope,
};
use smallvec::SmallVec;

/// Limits a single-subject decision handles on the stack.
const INLINE_LIMITS: usize = 4;

impl MemoryStore {
    /// [`Store::decide`](crate::Store::decide), synchronously.
    pub fn decide_now(&self, request: &DecideRequest<'_>) -> Decision {
        let now = self.clock.now();
        match single_subject(request) {
            Some(subject) if request.limits.len() <= INLINE_LIMITS => {
                self.decide_single(request, self.shards.target(subject), now)
            }
            _ => self.decide_many(request, now),
        }
    }

    fn decide_single(
        &self,
        request: &DecideRequest<'_>,
        target: Target<'_>,
        now: Nanos,
    ) -> Decision {
        let limits = request.limits;
        let mut shard = self.shards.lock_one(target.shard, now);
        let (mut slot, created) = shard.occupy(&target);
        let entry = slot.get_mut();
        let mut states: [CounterState; INLINE_LIMITS] = Default::default();
        // Where each limit's counter sits in the entry, so writing back needs no search.
        let mut found = [None; INLINE_LIMITS];
        for ((state, at), limit) in states.iter_mut().zip(&mut found).zip(limits) {
            *at = entry.find(&limit.slot);
            if let Some(i) = *at {
                state.clone_from(&entry.slots[i].1);
            }
        }
        let states = &mut states[..limits.len()];
        let blocked = request
            .abuse
            .and(entry.abuse.as_ref())
            .and_then(|abuse| abuse.0.blocked_for(now));
        if let Some(wait) = blocked {
            return blocked_decision(limits, states, wait, now);
        }
        let decision = evaluate(limits, request.costs, states, request.lease, now);
        if decision.allowed() {
            for ((state, at), limit) in states.iter_mut().zip(found).zip(limits) {
                let state = std::mem::take(state);
                match at {
                    Some(i) => entry.slots[i].1 = state,
                    None => *entry.state_mut(&limit.slot) = state,
                }
            }
        }
        if created && entry.slots.is_empty() {
            // A subject whose first request was denied (or had no limits) leaves nothing.
            slot.remove();
        }
        decision
    }

    fn decide_many(&self, request: &DecideRequest<'_>, now: Nanos) -> Decision {
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
                return blocked_decision(limits, &states, wait, now);
            }
        }
        let decision = evaluate(limits, request.costs, &mut states, request.lease, now);
        if decision.allowed() {
            for (t, target) in plan.targets.iter().enumerate() {
                let entry = locked.shard(target.shard).entry(target);
                for i in plan.limits_of(t) {
                    *entry.state_mut(&limits[i].slot) = std::mem::take(&mut states[i]);
                }
            }
        }
        decision
    }
}

/// The one subject every limit (and the abuse check, if asked for) uses, if there is one.
fn single_subject<'a>(request: &DecideRequest<'a>) -> Option<&'a str> {
    let subjects = request.subjects;
    let scope = match request.limits.first() {
        Some(limit) => limit.scope,
        None => Scope::Key,
    };
    let subject = subjects.for_scope(scope);
    let one_scope = request.limits.iter().all(|l| l.scope == scope);
    let same_subjects = || {
        request
            .limits
            .iter()
            .all(|l| same(subjects.for_scope(l.scope), subject))
    };
    let key_fits = request.abuse.is_none() || scope == Scope::Key || same(subject, subjects.key);
    ((one_scope || same_subjects()) && key_fits).then_some(subject)
}

fn same(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// The denial of a key blocked by abuse protection: counters reported, none consumed.
fn blocked_decision(
    limits: &[Limit],
    states: &[CounterState],
    wait: Nanos,
    now: Nanos,
) -> Decision {
    Decision {
        at: now,
        dimensions: limits
            .iter()
            .zip(states)
            .map(|(l, s)| inspect(l, s, now))
            .collect(),
        denial: Some(Denial {
            reason: DenialReason::Blocked,
            retry_after: Some(wait),
        }),
        shadow_denials: Vec::new(),
    }
}
