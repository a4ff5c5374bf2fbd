//! Cases on the decision itself: counting, all-or-nothing, which limit a denial names,
//! impossible costs, refill and calendar resets.

use super::{cost, Case, Harness, HOUR, ONE_SECOND, PAST_ONE_SECOND};
use floodgate_core::calendar;
use floodgate_core::{
    CalendarPeriod, Costs, DenialReason, Nanos, Scope, Unit, Window, NANOS_PER_SEC,
};

/// A limit of 5 per minute admits exactly 5, each leaving one fewer, then denies with
/// remaining 0 and a retry-after of one emission interval (12 s).
pub async fn admits_exactly_max_then_denies<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "admits-exactly-max");
    let limits = [case.limit(Scope::Key, Unit::Requests, Window::MINUTE, 5)];
    for left in (0..5).rev() {
        let d = case.decide(&limits, cost(Unit::Requests, 1)).await;
        assert!(d.allowed(), "request {} of 5 is admitted", 5 - left);
        assert_eq!(d.dimensions[0].remaining, left);
        assert_eq!(d.dimensions[0].max, 5);
    }
    let d = case.decide(&limits, cost(Unit::Requests, 1)).await;
    let denial = d.denial.expect("the sixth request is denied");
    assert_eq!(denial.reason, DenialReason::Limit(0));
    assert_eq!(d.dimensions[0].remaining, 0);
    case.assert_wait(denial.retry_after, 12 * NANOS_PER_SEC, "retry-after");
    case.assert_wait(
        Some(d.dimensions[0].reset_after),
        60 * NANOS_PER_SEC,
        "reset",
    );
}

/// A request that fails one of three scopes consumes nothing in any of them, whichever
/// scope trips; a request that fits them all then consumes from all three.
pub async fn rejection_consumes_nothing_in_any_dimension<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "all-or-nothing");
    let limits = [
        case.limit(Scope::Key, Unit::Requests, HOUR, 10),
        case.limit(Scope::Account, Unit::Tokens, HOUR, 1000),
        case.limit(Scope::Global, Unit::Images, Window::DAY, 50),
    ];
    let request = |tokens, images| {
        Costs::zero()
            .with(Unit::Requests, 1)
            .with(Unit::Tokens, tokens)
            .with(Unit::Images, images)
    };
    assert!(case.decide(&limits, request(900, 10)).await.allowed());
    let before = vec![9, 100, 40];
    assert_eq!(case.remaining(&limits).await, before);

    for (tokens, images, tripped) in [(101, 1, 1), (1, 41, 2), (500, 45, 2)] {
        let d = case.decide(&limits, request(tokens, images)).await;
        let denial = d.denial.expect("over one scope's limit");
        assert_eq!(denial.reason, DenialReason::Limit(tripped));
        assert_eq!(
            super::remaining_of(&d.dimensions),
            before,
            "the denial reports unconsumed counters"
        );
        assert_eq!(case.remaining(&limits).await, before, "nothing consumed");
    }

    let d = case.decide(&limits, request(100, 40)).await;
    assert!(d.allowed(), "exactly what is left fits");
    assert_eq!(super::remaining_of(&d.dimensions), vec![8, 0, 0]);
}

/// When several limits deny, the denial names the one with the longest wait (a daily
/// quota beats a per-minute limit), whatever their order.
pub async fn denial_names_the_longest_wait<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "longest-wait");
    let minute = case.limit(Scope::Key, Unit::Requests, Window::MINUTE, 1);
    let daily = case.limit(Scope::Key, Unit::Requests, Window::DAY, 1);
    let first = case
        .decide(&[minute.clone(), daily.clone()], cost(Unit::Requests, 1))
        .await;
    assert!(first.allowed());
    let to_midnight = calendar::bounds(CalendarPeriod::Day, 0, first.at).1 - first.at;
    // Within a minute of midnight the minute limit is the longer wait, and rightly named.
    let daily_longer = to_midnight > 60 * NANOS_PER_SEC;

    for (limits, daily_at) in [([minute.clone(), daily.clone()], 1), ([daily, minute], 0)] {
        let d = case.decide(&limits, cost(Unit::Requests, 1)).await;
        let denial = d.denial.expect("both limits are spent");
        let expected = if daily_longer { daily_at } else { 1 - daily_at };
        assert_eq!(denial.reason, DenialReason::Limit(expected));
        let wait = if daily_longer {
            calendar::bounds(CalendarPeriod::Day, 0, d.at).1 - d.at
        } else {
            60 * NANOS_PER_SEC
        };
        case.assert_wait(denial.retry_after, wait, "retry-after of the longest wait");
    }
}

/// A cost above a limit's maximum can never fit: the denial carries no retry-after, even
/// when another limit also denies with a finite wait, and consumes nothing.
pub async fn cost_above_max_never_fits<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "cost-above-max");
    let rpm = case.limit(Scope::Key, Unit::Requests, Window::MINUTE, 1);
    let tpm = case.limit(Scope::Key, Unit::Tokens, Window::MINUTE, 100);
    let daily = case.limit(Scope::Key, Unit::Images, Window::DAY, 5);
    let limits = [rpm, tpm, daily];
    let request = |tokens, images| {
        Costs::zero()
            .with(Unit::Requests, 1)
            .with(Unit::Tokens, tokens)
            .with(Unit::Images, images)
    };
    assert!(case.decide(&limits, request(10, 1)).await.allowed());

    let d = case.decide(&limits, request(101, 1)).await;
    let denial = d.denial.expect("101 tokens never fit a limit of 100");
    assert_eq!(denial.reason, DenialReason::Limit(1));
    assert_eq!(denial.retry_after, None);

    let d = case.decide(&limits, request(10, 6)).await;
    let denial = d.denial.expect("6 images never fit a quota of 5");
    assert_eq!(denial.reason, DenialReason::Limit(2));
    assert_eq!(denial.retry_after, None);

    let alone = [case.limit_in("alone", Scope::Key, Unit::Tokens, HOUR, 100)];
    let d = case.decide(&alone, cost(Unit::Tokens, 101)).await;
    assert_eq!(d.denial.map(|x| x.retry_after), Some(None));
    assert_eq!(case.remaining(&alone).await, vec![100], "nothing consumed");
}

/// A rolling limit of 5 per second denies the sixth request, and a second later admits a
/// full burst of 5 again.
pub async fn rolling_limit_refills_after_the_window<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "rolling-refill");
    let limits = [case.limit(Scope::Key, Unit::Requests, ONE_SECOND, 5)];
    assert!(case
        .decide(&limits, cost(Unit::Requests, 5))
        .await
        .allowed());
    assert!(!case
        .decide(&limits, cost(Unit::Requests, 1))
        .await
        .allowed());
    h.advance(PAST_ONE_SECOND).await;
    assert_eq!(case.remaining(&limits).await, vec![5]);
    for _ in 0..5 {
        assert!(case
            .decide(&limits, cost(Unit::Requests, 1))
            .await
            .allowed());
    }
    assert!(!case
        .decide(&limits, cost(Unit::Requests, 1))
        .await
        .allowed());
}

/// A calendar quota reports the time to its boundary as its reset, in decisions and in
/// inspection, and a denial waits exactly that long; with an offset the boundary moves.
pub async fn calendar_reset_is_reported<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "calendar-reset");
    let eight_hours: Nanos = 8 * 3600 * NANOS_PER_SEC;
    let windows = [
        (CalendarPeriod::Day, 0),
        (CalendarPeriod::Day, eight_hours),
        (CalendarPeriod::Month, 0),
        (CalendarPeriod::Month, eight_hours),
    ];
    for (period, offset) in windows {
        let window = Window::Calendar { period, offset };
        let limits = [case.limit(Scope::Key, Unit::Requests, window, 2)];
        let to_boundary = |at: Nanos| calendar::bounds(period, offset, at).1 - at;
        for left in [1, 0] {
            let d = case.decide(&limits, cost(Unit::Requests, 1)).await;
            assert!(d.allowed());
            assert_eq!(d.dimensions[0].remaining, left);
            assert_eq!(d.dimensions[0].reset_after, to_boundary(d.at), "{window:?}");
        }
        let d = case.decide(&limits, cost(Unit::Requests, 1)).await;
        let denial = d.denial.expect("the quota is spent");
        assert_eq!(denial.retry_after, Some(to_boundary(d.at)), "{window:?}");
        assert_eq!(d.dimensions[0].reset_after, to_boundary(d.at));
        let seen = case.inspect(&limits).await;
        assert_eq!(seen.dimensions[0].reset_after, to_boundary(seen.at));
        assert_eq!(seen.dimensions[0].remaining, 0);
    }
}
