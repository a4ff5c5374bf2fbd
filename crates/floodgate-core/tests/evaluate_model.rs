//! `evaluate` over four dimensions at once (two rolling limits, a calendar quota and a
//! concurrency limit, any of them possibly shadowed) against the reference models, for
//! random sequences of time steps, requests, settlements and lease operations.
//!
//! Checked after every step: admit/deny and the denial's limit and wait match the models'
//! (all-or-nothing: admitted only if every enforced model admits), every dimension's
//! remaining and reset match, and a rejection leaves every counter state untouched.

mod model;

use floodgate_core::{
    evaluate, lease, settle, CalendarPeriod, Costs, CounterState, DenialReason, LeaseId, Limit,
    Scope, Unit, Window,
};
use model::{Bucket, LeaseSet, PeriodCounter, DAY, NEW_YEAR_2026, SEC};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Decide {
        requests: u64,
        tokens: u64,
        jobs: u64,
        lease: u64,
    },
    Settle {
        limit: usize,
        delta: i64,
    },
    Renew(u64),
    Release(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop_oneof![0..SEC, 0..60 * SEC, Just(DAY / 3), 0..3 * DAY].prop_map(Op::Advance),
        6 => (0..4u64, 0..120u64, 0..3u64, 0..6u64).prop_map(|(requests, tokens, jobs, lease)| {
            Op::Decide { requests, tokens, jobs, lease }
        }),
        1 => (0..3usize, -80..80i64).prop_map(|(limit, delta)| Op::Settle { limit, delta }),
        1 => (0..6u64).prop_map(Op::Renew),
        1 => (0..6u64).prop_map(Op::Release),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    rpm: u64,
    rpm_period: u64,
    tpm: u64,
    quota: u64,
    monthly: bool,
    offset: u64,
    jobs: u64,
    ttl: u64,
    shadow: [bool; 4],
    start: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (1..8u64, prop_oneof![Just(SEC), Just(60 * SEC), 1..10 * SEC]),
        (
            50..300u64,
            5..40u64,
            any::<bool>(),
            prop_oneof![Just(0), 0..DAY],
        ),
        (1..4u64, 1..30 * SEC),
        prop::array::uniform4(prop::bool::weighted(0.15)),
        0..400 * DAY,
    )
        .prop_map(
            |((rpm, rpm_period), (tpm, quota, monthly, offset), (jobs, ttl), shadow, start)| {
                Setup {
                    rpm,
                    rpm_period,
                    tpm,
                    quota,
                    monthly,
                    offset,
                    jobs,
                    ttl,
                    shadow,
                    start: NEW_YEAR_2026 + DAY + start,
                }
            },
        )
}

/// The reference for the whole request: one model per dimension.
struct Reference {
    rpm: Bucket,
    tpm: Bucket,
    quota: PeriodCounter,
    jobs: LeaseSet,
}

impl Reference {
    fn answers(
        &self,
        shadow: [bool; 4],
        now: u64,
        costs: [u64; 4],
    ) -> Vec<(bool, Result<(), Option<u64>>)> {
        vec![
            (shadow[0], self.rpm.check(now, costs[0])),
            (shadow[1], self.tpm.check(now, costs[1])),
            (shadow[2], self.quota.check(now, costs[2])),
            (shadow[3], self.jobs.check(now, costs[3])),
        ]
    }

    fn status(&self, now: u64) -> Vec<(u64, u64)> {
        vec![
            (self.rpm.remaining(now), self.rpm.reset_after(now)),
            (self.tpm.remaining(now), self.tpm.reset_after(now)),
            (self.quota.remaining(now), self.quota.reset_after(now)),
            (self.jobs.remaining(now), self.jobs.reset_after(now)),
        ]
    }
}

fn limits(s: &Setup) -> Vec<Limit> {
    let period = if s.monthly {
        CalendarPeriod::Month
    } else {
        CalendarPeriod::Day
    };
    let window = Window::Calendar {
        period,
        offset: s.offset,
    };
    let rolling = Window::Rolling {
        period: s.rpm_period,
    };
    let concurrent = Window::Concurrent { lease_ttl: s.ttl };
    [
        Limit::new(Scope::Key, Unit::Requests, rolling, s.rpm, "m"),
        Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, s.tpm, "m"),
        Limit::new(Scope::Account, Unit::Requests, window, s.quota, "m"),
        Limit::new(Scope::Key, Unit::ConcurrentJobs, concurrent, s.jobs, "m"),
    ]
    .into_iter()
    .zip(s.shadow)
    .map(|(l, shadow)| l.shadowed(shadow))
    .collect()
}

fn run(s: &Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let limits = limits(s);
    let mut now = s.start;
    let mut states = vec![CounterState::Fresh; 4];
    let mut reference = Reference {
        rpm: Bucket::new(s.rpm, s.rpm_period, now),
        tpm: Bucket::new(s.tpm, 60 * SEC, now),
        quota: PeriodCounter::new(s.quota, s.monthly, s.offset),
        jobs: LeaseSet::new(s.jobs, s.ttl),
    };
    let mut reserved_at = now;
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Advance(by) => now += by,
            Op::Decide {
                requests,
                tokens,
                jobs,
                lease,
            } => {
                let costs = Costs::zero()
                    .with(Unit::Requests, requests)
                    .with(Unit::Tokens, tokens)
                    .with(Unit::ConcurrentJobs, jobs);
                let c = [requests, tokens, requests, jobs];
                let answers = reference.answers(s.shadow, now, c);
                let expected = model::longest_wait(&answers);
                let before = states.clone();
                let d = evaluate(&limits, &costs, &mut states, LeaseId(lease), now);
                let got = d.denial.map(|x| match x.reason {
                    DenialReason::Limit(i) => (i, x.retry_after),
                    DenialReason::Blocked => (usize::MAX, None),
                });
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
                let shadowed: Vec<usize> = (0..4)
                    .filter(|&i| s.shadow[i] && answers[i].1.is_err())
                    .collect();
                prop_assert_eq!(&d.shadow_denials, &shadowed);
                if d.allowed() {
                    reserved_at = now;
                    for (i, (_, answer)) in answers.iter().enumerate() {
                        if answer.is_ok() {
                            match i {
                                0 => reference.rpm.take(now, c[0]),
                                1 => reference.tpm.take(now, c[1]),
                                2 => reference.quota.take(now, c[2]),
                                _ => reference.jobs.take(now, lease, c[3]),
                            }
                        }
                    }
                } else {
                    prop_assert_eq!(&states, &before, "step {}: a rejection changed state", step);
                }
                let seen: Vec<(u64, u64)> = d
                    .dimensions
                    .iter()
                    .map(|x| (x.remaining, x.reset_after))
                    .collect();
                prop_assert_eq!(seen, reference.status(now), "step {}: {:?}", step, op);
            }
            Op::Settle { limit, delta } => {
                settle(&limits[limit], &mut states[limit], now, delta, reserved_at);
                match limit {
                    0 => reference.rpm.settle(now, delta),
                    1 => reference.tpm.settle(now, delta),
                    _ => reference.quota.settle(now, delta, reserved_at),
                }
            }
            Op::Renew(id) | Op::Release(id) => {
                let expected = match op {
                    Op::Renew(_) => reference.jobs.renew(now, id),
                    _ => reference.jobs.release(now, id),
                };
                let got = match &mut states[3] {
                    CounterState::Leases(leases) => match op {
                        Op::Renew(_) => lease::renew(leases, LeaseId(id), now, s.ttl),
                        _ => lease::release(leases, LeaseId(id), now),
                    },
                    _ => false,
                };
                prop_assert_eq!(got, expected, "step {}: {:?}", step, op);
            }
        }
        let seen: Vec<(u64, u64)> = limits
            .iter()
            .zip(&states)
            .map(|(l, st)| {
                let x = floodgate_core::inspect(l, st, now);
                (x.remaining, x.reset_after)
            })
            .collect();
        prop_assert_eq!(seen, reference.status(now), "step {}: after {:?}", step, op);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn evaluate_matches_the_reference_models(s in setup(), ops in prop::collection::vec(op(), 1..80)) {
        run(&s, &ops)?;
    }
}
