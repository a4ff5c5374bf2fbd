//! Rolling limits (GCRA through `evaluate`) against an exact token bucket, with time as
//! plain nanoseconds.
//!
//! - Never over-admits: over any interval `[a, b]` between two admissions, the cost
//!   admitted is at most `max + max * (b - a) / period`. The emission interval is
//!   `period / max` rounded up, so the bound holds exactly, in integers.
//! - Exact: admit/deny, retry-after, remaining and reset equal the token bucket's at every
//!   step, settlements (refunds and debts) included.

mod model;

use floodgate_core::{evaluate, settle, Costs, CounterState, LeaseId, Limit, Scope, Unit, Window};
use model::{Bucket, NEW_YEAR_2026, SEC};
use proptest::prelude::*;

fn period() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(SEC),
        Just(60 * SEC),
        Just(3600 * SEC),
        1..100 * SEC,
        1..5_000u64,
    ]
}

fn limit(max: u64, period: u64) -> Limit {
    Limit::new(
        Scope::Key,
        Unit::Tokens,
        Window::Rolling { period },
        max,
        "m",
    )
}

/// Steps of (time to wait, cost to ask for), scaled to the limit so that both admissions
/// and denials are frequent.
fn steps(max: u64, period: u64) -> impl Strategy<Value = Vec<(u64, u64)>> {
    let gap = (2 * period / max.max(1)).max(2);
    prop::collection::vec((0..gap, 0..=max.min(8) + 1), 1..200)
}

fn setup() -> impl Strategy<Value = (u64, u64, Vec<(u64, u64)>)> {
    (
        prop_oneof![1..10u64, 1..1_000u64, Just(1_000_003u64)],
        period(),
    )
        .prop_flat_map(|(max, period)| (Just(max), Just(period), steps(max, period)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn never_admits_more_than_max_plus_the_refill((max, period, steps) in setup()) {
        let limits = [limit(max, period)];
        let mut states = [CounterState::Fresh];
        let mut now = NEW_YEAR_2026;
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        for (wait, cost) in steps {
            now += wait;
            let costs = Costs::zero().with(Unit::Tokens, cost);
            if evaluate(&limits, &costs, &mut states, LeaseId(0), now).allowed() && cost > 0 {
                admitted.push((now, cost));
            }
        }
        // For every pair of admissions i <= j: the cost admitted in [t_i, t_j].
        for i in 0..admitted.len() {
            let mut total: u128 = 0;
            for &(b, cost) in &admitted[i..] {
                total += u128::from(cost);
                let a = admitted[i].0;
                let bound = u128::from(max) * u128::from(period) + u128::from(max) * u128::from(b - a);
                prop_assert!(
                    total * u128::from(period) <= bound,
                    "{} admitted in [{}, {}] for {} per {} ns", total, a, b, max, period
                );
            }
        }
    }

    #[test]
    fn matches_an_exact_token_bucket(
        (max, period, steps) in setup(),
        settles in prop::collection::vec((0..200usize, -20..20i64), 0..10),
    ) {
        let limits = [limit(max, period)];
        let mut states = [CounterState::Fresh];
        let mut now = NEW_YEAR_2026;
        let mut bucket = Bucket::new(max, period, now);
        for (step, (wait, cost)) in steps.into_iter().enumerate() {
            now += wait;
            for &(_, delta) in settles.iter().filter(|(at, _)| *at == step) {
                settle(&limits[0], &mut states[0], now, delta, now);
                bucket.settle(now, delta);
            }
            let costs = Costs::zero().with(Unit::Tokens, cost);
            let before = states.clone();
            let d = evaluate(&limits, &costs, &mut states, LeaseId(0), now);
            let expected = bucket.check(now, cost);
            prop_assert_eq!(d.denial.map(|x| x.retry_after), expected.err(), "step {}", step);
            if d.allowed() {
                bucket.take(now, cost);
            } else {
                prop_assert_eq!(&states, &before, "a rejection changes no state");
            }
            prop_assert_eq!(d.dimensions[0].remaining, bucket.remaining(now), "step {}", step);
            prop_assert_eq!(d.dimensions[0].reset_after, bucket.reset_after(now), "step {}", step);
        }
    }
}

#[test]
fn a_period_that_max_does_not_divide_still_admits_no_more_than_declared() {
    // 7 per 100 ns: emission 15 ns, so 7 units take 105 ns to refill, never 100.
    let limits = [limit(7, 100)];
    let mut states = [CounterState::Fresh];
    let one = Costs::zero().with(Unit::Tokens, 1);
    let mut admitted = 0;
    for t in 0..1_000u64 {
        admitted += u64::from(
            evaluate(&limits, &one, &mut states, LeaseId(0), NEW_YEAR_2026 + t).allowed(),
        );
    }
    // A burst of 7, then one per 15 ns over the remaining 999 ns.
    assert_eq!(admitted, 7 + 999 / 15);
}
