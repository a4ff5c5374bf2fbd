//! Cases on settling reservations afterwards and on reading counters without consuming.

use super::{cost, Case, Harness, HOUR};
use crate::request::{Adjustment, SettleRequest};
use floodgate_core::{Costs, DenialReason, Limit, Nanos, Scope, Unit, Window, NANOS_PER_SEC};

async fn settle<H: Harness + ?Sized>(case: &Case<'_, H>, limits: &[Limit], delta: i64, at: Nanos) {
    let adjustments: Vec<Adjustment<'_>> = limits
        .iter()
        .map(|limit| Adjustment { limit, delta })
        .collect();
    case.store
        .settle(&SettleRequest {
            subjects: case.subjects(),
            adjustments: &adjustments,
            reserved_at: at,
        })
        .await
        .expect("store answers");
}

/// A refund lets a request fit that did not before; a charge beyond the limit leaves a
/// debt that denies even one unit until a refund pays it back. Same for a rolling limit
/// and a calendar quota.
pub async fn settle_refunds_and_charges<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "settle");
    let limits = [
        case.limit(Scope::Key, Unit::Tokens, HOUR, 1000),
        case.limit(Scope::Key, Unit::Tokens, Window::DAY, 1000),
    ];
    let reserved = case.decide(&limits, cost(Unit::Tokens, 800)).await;
    assert!(reserved.allowed());
    assert!(!case
        .decide(&limits, cost(Unit::Tokens, 300))
        .await
        .allowed());

    settle(&case, &limits, -500, reserved.at).await;
    assert_eq!(case.remaining(&limits).await, vec![700, 700], "refunded");
    let d = case.decide(&limits, cost(Unit::Tokens, 300)).await;
    assert!(d.allowed(), "the refund made room");
    assert_eq!(super::remaining_of(&d.dimensions), vec![400, 400]);

    settle(&case, &limits, 600, d.at).await;
    assert_eq!(case.remaining(&limits).await, vec![0, 0], "200 in debt");
    let d = case.decide(&limits, cost(Unit::Tokens, 1)).await;
    assert!(!d.allowed(), "a debt denies");
    settle(&case, &limits, -199, d.at).await;
    assert!(
        !case.decide(&limits, cost(Unit::Tokens, 1)).await.allowed(),
        "one unit of debt left"
    );
    settle(&case, &limits, -51, d.at).await;
    assert_eq!(case.remaining(&limits).await, vec![50, 50]);
    assert!(case.decide(&limits, cost(Unit::Tokens, 50)).await.allowed());
    assert_eq!(case.remaining(&limits).await, vec![0, 0]);
}

/// Inspection reads every kind of counter without consuming (many inspections, then a
/// decision still sees one use less) and reports what a decision at that time would.
pub async fn inspect_consumes_nothing_and_matches_decide<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "inspect");
    let limits = [
        case.limit(Scope::Key, Unit::Requests, Window::MINUTE, 10),
        case.limit(Scope::Account, Unit::Tokens, HOUR, 1000),
        case.limit(Scope::Key, Unit::Requests, Window::DAY, 100),
        case.limit(
            Scope::Key,
            Unit::ConcurrentJobs,
            Window::Concurrent {
                lease_ttl: 60 * NANOS_PER_SEC,
            },
            3,
        ),
    ];
    let request = Costs::one_request().with(Unit::Tokens, 100);
    let fresh = case.inspect(&limits).await;
    assert_eq!(
        super::remaining_of(&fresh.dimensions),
        vec![10, 1000, 100, 3]
    );
    assert_eq!(fresh.blocked_for, None);
    let maxima: Vec<u64> = fresh.dimensions.iter().map(|d| d.max).collect();
    assert_eq!(maxima, vec![10, 1000, 100, 3]);

    let mut last = case.decide(&limits, request).await;
    assert!(last.allowed());
    for _ in 0..5 {
        let seen = case.inspect(&limits).await;
        assert_eq!(super::remaining_of(&seen.dimensions), vec![9, 900, 99, 2]);
        for (i, (a, b)) in seen.dimensions.iter().zip(&last.dimensions).enumerate() {
            assert_eq!(a.max, b.max, "dimension {i}");
            let elapsed = seen.at.saturating_sub(last.at);
            assert!(
                a.reset_after <= b.reset_after
                    && a.reset_after + elapsed + case.slack() >= b.reset_after,
                "dimension {i}: reset {} after {} ns, decision said {}",
                a.reset_after,
                elapsed,
                b.reset_after
            );
        }
    }
    last = case
        .decide_as(
            case.subjects(),
            &limits,
            request,
            floodgate_core::LeaseId(2),
            None,
        )
        .await;
    assert!(last.allowed());
    assert_eq!(super::remaining_of(&last.dimensions), vec![8, 800, 98, 1]);

    let too_big = Costs::one_request().with(Unit::Tokens, 900);
    let d = case.decide(&limits, too_big).await;
    assert_eq!(d.denial.map(|x| x.reason), Some(DenialReason::Limit(1)));
    let seen = case.inspect(&limits).await;
    assert_eq!(
        super::remaining_of(&seen.dimensions),
        super::remaining_of(&d.dimensions)
    );
}
