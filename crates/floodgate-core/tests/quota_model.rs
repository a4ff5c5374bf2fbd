//! Calendar quotas and concurrency leases (through `evaluate`) against the reference
//! models, with time as plain nanoseconds.
//!
//! - A quota never admits more than `max` per calendar period and matches a counter per
//!   period whose bounds come from a table of month lengths, not from the engine.
//! - It resets exactly at the boundary: a request at boundary - 1 ns sees the old period,
//!   one at the boundary the new one; for days and months (leap Februaries, 30- and
//!   31-day months, year ends) and for any boundary offset.
//! - A lease is live until exactly its TTL and gone at it.

mod model;

use floodgate_core::{
    evaluate, inspect, CalendarPeriod, Costs, CounterState, LeaseId, Limit, Scope, Unit, Window,
};
use model::{month_starts, PeriodCounter, DAY, NEW_YEAR_2026, SEC};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn quota(max: u64, monthly: bool, offset: u64) -> Limit {
    let period = if monthly {
        CalendarPeriod::Month
    } else {
        CalendarPeriod::Day
    };
    Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::Calendar { period, offset },
        max,
        "m",
    )
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(DAY - 1),
        0..DAY,
        (0..24u64).prop_map(|h| h * 3600 * SEC)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn admits_at_most_max_per_period_and_matches_the_counter(
        max in 1..20u64,
        monthly in any::<bool>(),
        offset in offset(),
        steps in prop::collection::vec((prop_oneof![0..3600 * SEC, 0..10 * DAY], 0..6u64), 1..150),
    ) {
        let limits = [quota(max, monthly, offset)];
        let mut states = [CounterState::Fresh];
        let mut counter = PeriodCounter::new(max, monthly, offset);
        let mut per_period: BTreeMap<u64, u64> = BTreeMap::new();
        let mut now = NEW_YEAR_2026 + DAY;
        for (wait, cost) in steps {
            now += wait;
            let costs = Costs::zero().with(Unit::Requests, cost);
            let before = states.clone();
            let d = evaluate(&limits, &costs, &mut states, LeaseId(0), now);
            prop_assert_eq!(d.denial.map(|x| x.retry_after), counter.check(now, cost).err());
            if d.allowed() {
                counter.take(now, cost);
                *per_period.entry(counter.bounds(now).0).or_insert(0) += cost;
            } else {
                prop_assert_eq!(&states, &before, "a rejection changes no state");
            }
            prop_assert_eq!(d.dimensions[0].remaining, counter.remaining(now));
            prop_assert_eq!(d.dimensions[0].reset_after, counter.reset_after(now));
        }
        for (start, used) in per_period {
            prop_assert!(used <= max, "{} admitted in the period from {}", used, start);
        }
    }

    #[test]
    fn resets_exactly_at_the_boundary(
        month in 1..12 * 30usize,
        monthly in any::<bool>(),
        day_in_month in 0..28u64,
        offset in offset(),
        max in 1..5u64,
    ) {
        let starts = month_starts();
        let boundary = if monthly {
            starts[month] + offset
        } else {
            starts[month] + day_in_month * DAY + offset
        };
        let next = if monthly { starts[month + 1] + offset } else { boundary + DAY };
        let limits = [quota(max, monthly, offset)];
        let mut states = [CounterState::Fresh];
        let all = Costs::zero().with(Unit::Requests, max);
        let one = Costs::zero().with(Unit::Requests, 1);

        let before = boundary - 1;
        prop_assert!(evaluate(&limits, &all, &mut states, LeaseId(0), before).allowed());
        let d = evaluate(&limits, &one, &mut states, LeaseId(0), before);
        prop_assert_eq!(d.denial.and_then(|x| x.retry_after), Some(1), "old period, 1 ns left");
        prop_assert_eq!(d.dimensions[0].reset_after, 1);
        prop_assert_eq!(d.dimensions[0].remaining, 0);

        let fresh = inspect(&limits[0], &states[0], boundary);
        prop_assert_eq!(fresh.remaining, max, "the new period starts empty");
        prop_assert_eq!(fresh.reset_after, next - boundary);
        let d = evaluate(&limits, &one, &mut states, LeaseId(0), boundary);
        prop_assert!(d.allowed());
        prop_assert_eq!(d.dimensions[0].remaining, max - 1);
        prop_assert_eq!(d.dimensions[0].reset_after, next - boundary);
    }

    #[test]
    fn leases_expire_exactly_at_their_ttl(
        ttl in 1..100 * SEC,
        slots in 1..4u64,
        renew_after in prop::option::of(0..100 * SEC),
    ) {
        let window = Window::Concurrent { lease_ttl: ttl };
        let limits = [Limit::new(Scope::Key, Unit::ConcurrentJobs, window, slots, "m")];
        let mut states = [CounterState::Fresh];
        let job = Costs::zero().with(Unit::ConcurrentJobs, slots);
        let start = NEW_YEAR_2026;
        prop_assert!(evaluate(&limits, &job, &mut states, LeaseId(1), start).allowed());
        let mut expires = start + ttl;
        if let Some(after) = renew_after.map(|a| a % ttl) {
            let CounterState::Leases(leases) = &mut states[0] else {
                return Err(TestCaseError::fail("a lease was taken"));
            };
            prop_assert!(floodgate_core::lease::renew(leases, LeaseId(1), start + after, ttl));
            expires = start + after + ttl;
        }
        let held = inspect(&limits[0], &states[0], expires - 1);
        prop_assert_eq!(held.remaining, 0, "live until its TTL");
        prop_assert_eq!(held.reset_after, 1);
        prop_assert!(!evaluate(&limits, &job, &mut states, LeaseId(2), expires - 1).allowed());
        prop_assert_eq!(inspect(&limits[0], &states[0], expires).remaining, slots, "gone at it");
        prop_assert!(evaluate(&limits, &job, &mut states, LeaseId(2), expires).allowed());
    }
}

#[test]
fn month_ends_of_a_leap_year() {
    // 2028 is a leap year: February has 29 days, and March starts on day 60.
    let limits = [quota(1, true, 0)];
    let starts = month_starts();
    let (feb, mar) = (starts[25], starts[26]);
    assert_eq!((mar - feb) / DAY, 29);
    let mut states = [CounterState::Fresh];
    let one = Costs::zero().with(Unit::Requests, 1);
    assert!(evaluate(&limits, &one, &mut states, LeaseId(0), mar - 1).allowed());
    let d = evaluate(&limits, &one, &mut states, LeaseId(0), mar - 1);
    assert_eq!(d.denial.and_then(|x| x.retry_after), Some(1));
    assert!(evaluate(&limits, &one, &mut states, LeaseId(0), mar).allowed());
}
