//! The memory store against a reference that keeps every counter in one plain map keyed
//! by (subject, slot) and calls the engine's functions directly: random sequences of
//! decisions over random subsets of key, account and global limits (so both the
//! single-subject and the multi-subject paths run), settlements, lease renewals and
//! releases, failures and block clearing, inspections, sweeps and time steps must give
//! identical decisions, inspections and answers.
//!
//! The engine's algorithms are checked against independent models in floodgate-core's
//! tests; this checks that the store feeds them the right counters, writes back all or
//! nothing, and honours abuse blocks.

use floodgate_core::{
    evaluate, inspect, lease, settle, AbuseRule, AbuseState, Clock, Costs, CounterState, Decision,
    Denial, DenialReason, FakeClock, LeaseId, Limit, Nanos, Scope, Unit, Window, NANOS_PER_SEC,
};
use floodgate_store::{Adjustment, DecideRequest, MemoryStore, SettleRequest, Subjects};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const SEC: Nanos = NANOS_PER_SEC;
const KEYS: [&str; 3] = ["key-0", "key-1", "acct-0"];
const ACCOUNTS: [&str; 2] = ["acct-0", "acct-1"];
const RULE: AbuseRule = AbuseRule {
    max_failures: 3,
    window: 10 * SEC,
    block: 20 * SEC,
};

fn subjects(key: usize) -> Subjects<'static> {
    Subjects {
        key: KEYS[key],
        account: ACCOUNTS[key % 2],
    }
}

fn limits() -> Vec<Limit> {
    vec![
        Limit::new(
            Scope::Key,
            Unit::Requests,
            Window::Rolling { period: 10 * SEC },
            4,
            "m",
        ),
        Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 300, "m"),
        Limit::new(Scope::Account, Unit::Tokens, Window::MINUTE, 500, "m"),
        Limit::new(Scope::Global, Unit::Requests, Window::DAY, 40, "m"),
        Limit::new(
            Scope::Key,
            Unit::ConcurrentJobs,
            Window::Concurrent {
                lease_ttl: 15 * SEC,
            },
            2,
            "m",
        ),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Decide {
        key: usize,
        mask: u8,
        tokens: u64,
        jobs: u64,
        lease: u64,
        abuse: bool,
    },
    Settle {
        key: usize,
        limit: usize,
        delta: i64,
    },
    Renew {
        key: usize,
        lease: u64,
    },
    Release {
        key: usize,
        lease: u64,
    },
    Fail(usize),
    Clear(usize),
    Inspect {
        key: usize,
        mask: u8,
    },
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        2 => (0..20 * SEC).prop_map(Op::Advance),
        8 => (key.clone(), 1..32u8, 0..200u64, 0..2u64, 0..4u64, any::<bool>()).prop_map(
            |(key, mask, tokens, jobs, lease, abuse)| Op::Decide { key, mask, tokens, jobs, lease, abuse }
        ),
        1 => (key.clone(), 0..4usize, -150..150i64).prop_map(|(key, limit, delta)| Op::Settle { key, limit, delta }),
        1 => (key.clone(), 0..4u64).prop_map(|(key, lease)| Op::Renew { key, lease }),
        1 => (key.clone(), 0..4u64).prop_map(|(key, lease)| Op::Release { key, lease }),
        2 => key.clone().prop_map(Op::Fail),
        1 => key.clone().prop_map(Op::Clear),
        1 => (key, 1..32u8).prop_map(|(key, mask)| Op::Inspect { key, mask }),
        1 => Just(Op::Sweep),
    ]
}

/// Every counter in one map, and every key's abuse state.
#[derive(Default)]
struct Reference {
    counters: HashMap<(String, String), CounterState>,
    abuse: HashMap<String, AbuseState>,
}

impl Reference {
    fn counter(&mut self, key: usize, limit: &Limit) -> &mut CounterState {
        let subject = subjects(key).for_scope(limit.scope).to_owned();
        self.counters
            .entry((subject, limit.slot.to_string()))
            .or_default()
    }

    fn blocked_for(&self, key: usize, now: Nanos) -> Option<Nanos> {
        self.abuse.get(KEYS[key]).and_then(|a| a.blocked_for(now))
    }

    fn decide(
        &mut self,
        key: usize,
        limits: &[Limit],
        costs: &Costs,
        lease: u64,
        abuse: bool,
        now: Nanos,
    ) -> Decision {
        let mut states: Vec<CounterState> = limits
            .iter()
            .map(|l| self.counter(key, l).clone())
            .collect();
        if let Some(wait) = self.blocked_for(key, now).filter(|_| abuse) {
            return Decision {
                at: now,
                dimensions: limits
                    .iter()
                    .zip(&states)
                    .map(|(l, s)| inspect(l, s, now))
                    .collect(),
                denial: Some(Denial {
                    reason: DenialReason::Blocked,
                    retry_after: Some(wait),
                }),
                shadow_denials: Vec::new(),
            };
        }
        let decision = evaluate(limits, costs, &mut states, LeaseId(lease), now);
        if decision.allowed() {
            for (limit, state) in limits.iter().zip(states) {
                *self.counter(key, limit) = state;
            }
        }
        decision
    }
}

fn chosen(all: &[Limit], mask: u8) -> Vec<Limit> {
    all.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, l)| l.clone())
        .collect()
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = FakeClock::at_new_year();
    let store = MemoryStore::with_sweep_interval(Arc::new(clock.clone()), Duration::from_secs(30));
    let all = limits();
    let mut reference = Reference::default();
    let mut reserved_at = clock.now();
    for (step, op) in ops.iter().enumerate() {
        let now = clock.now();
        match *op {
            Op::Advance(by) => clock.advance(Duration::from_nanos(by)),
            Op::Decide {
                key,
                mask,
                tokens,
                jobs,
                lease,
                abuse,
            } => {
                let limits = chosen(&all, mask);
                let costs = Costs::zero()
                    .with(Unit::Requests, 1)
                    .with(Unit::Tokens, tokens)
                    .with(Unit::ConcurrentJobs, jobs);
                let got = store.decide_now(&DecideRequest {
                    subjects: subjects(key),
                    limits: &limits,
                    costs: &costs,
                    lease: LeaseId(lease),
                    abuse: abuse.then_some(&RULE),
                });
                let expected = reference.decide(key, &limits, &costs, lease, abuse, now);
                prop_assert_eq!(&got, &expected, "step {}: {:?}", step, op);
                if got.allowed() {
                    reserved_at = now;
                }
            }
            Op::Settle { key, limit, delta } => {
                let limit = &all[limit];
                store.settle_now(&SettleRequest {
                    subjects: subjects(key),
                    adjustments: &[Adjustment { limit, delta }],
                    reserved_at,
                });
                settle(
                    limit,
                    reference.counter(key, limit),
                    now,
                    delta,
                    reserved_at,
                );
            }
            Op::Renew { key, lease } | Op::Release { key, lease } => {
                let renewing = matches!(op, Op::Renew { .. });
                let got = if renewing {
                    store.renew_lease_now(&subjects(key), &all, LeaseId(lease))
                } else {
                    store.release_lease_now(&subjects(key), &all, LeaseId(lease))
                };
                let expected = match reference.counter(key, &all[4]) {
                    CounterState::Leases(leases) if renewing => {
                        lease::renew(leases, LeaseId(lease), now, 15 * SEC)
                    }
                    CounterState::Leases(leases) => lease::release(leases, LeaseId(lease), now),
                    _ => false,
                };
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
            }
            Op::Fail(key) => {
                let got = store.record_failure_now(KEYS[key], &RULE);
                let expected = reference
                    .abuse
                    .entry(KEYS[key].to_owned())
                    .or_default()
                    .record_failure(&RULE, now);
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
            }
            Op::Clear(key) => {
                store.clear_block_now(KEYS[key]);
                if let Some(state) = reference.abuse.get_mut(KEYS[key]) {
                    state.clear();
                }
            }
            Op::Inspect { key, mask } => {
                let limits = chosen(&all, mask);
                let got = store.inspect_now(&subjects(key), &limits);
                let dimensions: Vec<_> = limits
                    .iter()
                    .map(|l| inspect(l, reference.counter(key, l), now))
                    .collect();
                prop_assert_eq!(&got.dimensions, &dimensions, "step {}: {:?}", step, op);
                prop_assert_eq!(got.blocked_for, reference.blocked_for(key, now));
                prop_assert_eq!(got.at, now);
            }
            Op::Sweep => store.sweep(),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_memory_store_matches_a_plain_map_of_counters(ops in prop::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}
