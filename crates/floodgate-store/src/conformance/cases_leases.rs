//! Cases on concurrency leases and on abuse protection's failure counter.

use super::{nanos, Case, Harness, PAST_ONE_SECOND};
use floodgate_core::{AbuseRule, Costs, DenialReason, LeaseId, Scope, Unit, Window, NANOS_PER_SEC};
use std::time::Duration;

/// Leases: up to `max` are granted, the next is denied with a short retry hint; a
/// release frees a slot (once); a renewal outlives the original TTL; expiry frees the
/// slots of a holder that went away.
pub async fn leases_acquire_deny_release_renew_expire<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "leases");
    let ttl = NANOS_PER_SEC;
    let limits = [case.limit(
        Scope::Key,
        Unit::ConcurrentJobs,
        Window::Concurrent { lease_ttl: ttl },
        2,
    )];
    let job = Costs::zero().with(Unit::ConcurrentJobs, 1);
    let acquire = |id| case.decide_as(case.subjects(), &limits, job, LeaseId(id), None);
    let store = &case.store;
    let subjects = case.subjects();

    assert_eq!(acquire(1).await.dimensions[0].remaining, 1);
    assert_eq!(acquire(2).await.dimensions[0].remaining, 0);
    let d = acquire(3).await;
    let denial = d.denial.expect("both slots are held");
    assert_eq!(denial.reason, DenialReason::Limit(0));
    let wait = denial.retry_after.expect("a slot frees eventually");
    assert!(wait > 0 && wait <= ttl, "retry hint {wait} within the TTL");

    assert!(store
        .release_lease(&subjects, &limits, LeaseId(1))
        .await
        .unwrap());
    assert!(
        !store
            .release_lease(&subjects, &limits, LeaseId(1))
            .await
            .unwrap(),
        "a lease is released once"
    );
    assert_eq!(case.remaining(&limits).await, vec![1]);
    assert!(acquire(3).await.allowed(), "the released slot is free");
    assert!(!acquire(4).await.allowed());

    // t = 0.6 s: lease 2 is renewed until 1.6 s; lease 3 keeps its 1 s expiry.
    h.advance(Duration::from_millis(600)).await;
    assert!(store
        .renew_lease(&subjects, &limits, LeaseId(2))
        .await
        .unwrap());
    // t = 1.2 s: lease 3 has expired, lease 2 lives on thanks to its renewal.
    h.advance(Duration::from_millis(600)).await;
    assert!(
        !store
            .renew_lease(&subjects, &limits, LeaseId(3))
            .await
            .unwrap(),
        "an expired lease cannot be renewed"
    );
    assert_eq!(case.remaining(&limits).await, vec![1], "lease 3 expired");
    assert!(acquire(4).await.allowed());
    assert!(!acquire(5).await.allowed(), "the renewed lease still holds");
    // t = 1.8 s: lease 2's renewal has run out, lease 4 (until 2.2 s) holds.
    h.advance(Duration::from_millis(600)).await;
    assert_eq!(case.remaining(&limits).await, vec![1], "lease 2 expired");
    assert!(
        !store
            .release_lease(&subjects, &limits, LeaseId(2))
            .await
            .unwrap(),
        "an expired lease has nothing to release"
    );
    assert!(acquire(5).await.allowed());
}

/// A transfer moves a lease's slot to another id for a fresh TTL: the old id holds
/// nothing, the new one renews and releases it, and it expires like any lease.
pub async fn lease_transfer_keeps_the_slot_under_the_new_id<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "lease-transfer");
    let ttl = NANOS_PER_SEC;
    let limits = [case.limit(
        Scope::Key,
        Unit::ConcurrentJobs,
        Window::Concurrent { lease_ttl: ttl },
        1,
    )];
    let job = Costs::zero().with(Unit::ConcurrentJobs, 1);
    let acquire = |id| case.decide_as(case.subjects(), &limits, job, LeaseId(id), None);
    let store = &case.store;
    let subjects = case.subjects();

    assert!(acquire(1).await.allowed());
    // t = 0.6 s: the slot moves to lease 7, held until 1.6 s.
    h.advance(Duration::from_millis(600)).await;
    let moved = store.transfer_lease(&subjects, &limits, LeaseId(1), LeaseId(7));
    assert!(moved.await.unwrap());
    assert!(
        !store
            .transfer_lease(&subjects, &limits, LeaseId(1), LeaseId(8))
            .await
            .unwrap(),
        "the old id holds nothing any more"
    );
    assert!(
        !store
            .release_lease(&subjects, &limits, LeaseId(1))
            .await
            .unwrap(),
        "the old id releases nothing"
    );
    // t = 1.2 s: past the first lease's TTL, the transferred one still holds.
    h.advance(Duration::from_millis(600)).await;
    assert!(!acquire(2).await.allowed(), "the slot is still held");
    assert!(store
        .renew_lease(&subjects, &limits, LeaseId(7))
        .await
        .unwrap());
    assert!(store
        .release_lease(&subjects, &limits, LeaseId(7))
        .await
        .unwrap());
    assert!(acquire(2).await.allowed(), "released under its new id");
}

fn rule(window: Duration, block: Duration) -> AbuseRule {
    AbuseRule {
        max_failures: 20,
        window: nanos(window),
        block: nanos(block),
    }
}

/// More than 20 failures inside the window block the key: its decisions are denied as
/// blocked, consuming nothing; clearing the block, or waiting it out, lifts it.
pub async fn abuse_blocks_after_too_many_failures<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "abuse-block");
    let rule = rule(Duration::from_secs(30), Duration::from_secs(1));
    let limits = [case.limit(Scope::Key, Unit::Requests, super::HOUR, 10)];
    let one = Costs::zero().with(Unit::Requests, 1);
    let decide = || case.decide_as(case.subjects(), &limits, one, LeaseId(0), Some(&rule));
    let store = &case.store;

    for i in 0..20 {
        assert_eq!(
            store.record_failure(&case.key, &rule).await.unwrap(),
            None,
            "failure {i}"
        );
    }
    assert!(decide().await.allowed(), "20 failures are tolerated");
    assert_eq!(
        store.record_failure(&case.key, &rule).await.unwrap(),
        Some(rule.block),
        "the 21st failure starts a block"
    );
    let d = decide().await;
    let denial = d.denial.expect("the key is blocked");
    assert_eq!(denial.reason, DenialReason::Blocked);
    case.assert_wait(denial.retry_after, rule.block, "block retry-after");
    assert_eq!(
        d.dimensions[0].remaining, 9,
        "a blocked decision reports the counters"
    );
    let seen = case.inspect(&limits).await;
    case.assert_wait(seen.blocked_for, rule.block, "inspected block");
    assert_eq!(
        seen.dimensions[0].remaining, 9,
        "a blocked request consumed nothing"
    );
    let other = format!("{}-other", case.key);
    assert_eq!(
        case.inspect_as(
            crate::Subjects {
                key: &other,
                account: &case.account
            },
            &limits
        )
        .await
        .blocked_for,
        None,
        "only the failing key is blocked"
    );

    store.clear_block(&case.key).await.unwrap();
    assert_eq!(case.inspect(&limits).await.blocked_for, None);
    assert!(decide().await.allowed(), "clear_block lifts the block");
    for _ in 0..20 {
        assert_eq!(store.record_failure(&case.key, &rule).await.unwrap(), None);
    }
    assert_eq!(
        store.record_failure(&case.key, &rule).await.unwrap(),
        Some(rule.block),
        "clearing forgot the earlier failures, so it takes 21 again"
    );
    assert!(!decide().await.allowed());
    h.advance(PAST_ONE_SECOND).await;
    assert!(decide().await.allowed(), "the block ran out");
    assert_eq!(case.remaining(&limits).await, vec![7]);
}

/// Failures spread so that no window holds more than 20 never block, though there are
/// many more than 20 in all.
pub async fn abuse_failures_spread_out_never_block<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "abuse-spread");
    let rule = rule(Duration::from_secs(1), Duration::from_secs(30));
    let limits = [case.limit(Scope::Key, Unit::Requests, super::HOUR, 10)];
    let one = Costs::zero().with(Unit::Requests, 1);
    for round in 0..4 {
        if round > 0 {
            h.advance(Duration::from_millis(600)).await;
        }
        for i in 0..10 {
            let started = case.store.record_failure(&case.key, &rule).await.unwrap();
            assert_eq!(
                started, None,
                "round {round}, failure {i}: at most 20 per second"
            );
        }
        let d = case
            .decide_as(case.subjects(), &limits, one, LeaseId(0), Some(&rule))
            .await;
        assert!(d.allowed(), "round {round}: never blocked");
    }
}
