//! Memory stays bounded by the active keys: idle subjects are swept away once every
//! window they used has passed, and subjects with live state are kept.

use floodgate_core::{
    AbuseRule, Costs, FakeClock, LeaseId, Limit, Scope, Unit, Window, NANOS_PER_SEC,
};
use floodgate_store::{DecideRequest, MemoryStore, Subjects};
use std::sync::Arc;
use std::time::Duration;

fn limits() -> Vec<Limit> {
    vec![
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m"),
        Limit::new(Scope::Key, Unit::Tokens, Window::HOUR, 10_000, "m"),
    ]
}

fn decide(store: &MemoryStore, key: &str, limits: &[Limit]) -> bool {
    let costs = Costs::zero()
        .with(Unit::Requests, 1)
        .with(Unit::Tokens, 100);
    store
        .decide_now(&DecideRequest {
            subjects: Subjects { key, account: key },
            limits,
            costs: &costs,
            lease: LeaseId(0),
            abuse: None,
        })
        .allowed()
}

#[test]
fn a_hundred_thousand_idle_keys_are_swept_to_nothing() {
    let clock = FakeClock::at_new_year();
    let store = MemoryStore::new(Arc::new(clock.clone()));
    let limits = limits();
    for k in 0..100_000 {
        assert!(decide(&store, &format!("key-{k}"), &limits));
    }
    assert_eq!(store.subjects_held(), 100_000);
    clock.advance(Duration::from_secs(30));
    store.sweep();
    assert_eq!(
        store.subjects_held(),
        100_000,
        "100 tokens of 10,000 an hour take 36 s to refill"
    );
    clock.advance(Duration::from_secs(3600));
    store.sweep();
    assert_eq!(store.subjects_held(), 0);
}

#[test]
fn only_keys_with_traffic_stay() {
    let clock = FakeClock::at_new_year();
    let store = MemoryStore::with_sweep_interval(Arc::new(clock.clone()), Duration::from_secs(10));
    let limits = limits();
    for k in 0..10_000 {
        assert!(decide(&store, &format!("idle-{k}"), &limits));
    }
    let busy = ["busy-a", "busy-b", "busy-c"];
    // Two hours of traffic every 30 s on three keys; shards sweep themselves as the
    // traffic locks them, and a full sweep happens once an hour.
    for step in 0..240 {
        clock.advance(Duration::from_secs(30));
        for key in busy {
            decide(&store, key, &limits);
        }
        if step % 120 == 119 {
            store.sweep();
        }
    }
    store.sweep();
    assert_eq!(store.subjects_held(), busy.len());
}

#[test]
fn abuse_state_and_calendar_quotas_keep_a_subject_until_they_lapse() {
    let clock = FakeClock::new(1_767_225_600 * NANOS_PER_SEC + 23 * 3600 * NANOS_PER_SEC);
    let store = MemoryStore::new(Arc::new(clock.clone()));
    let daily = [Limit::new(Scope::Key, Unit::Requests, Window::DAY, 5, "m")];
    assert!(decide(&store, "quota", &daily));
    let rule = AbuseRule {
        max_failures: 2,
        window: 30 * NANOS_PER_SEC,
        block: 600 * NANOS_PER_SEC,
    };
    for _ in 0..3 {
        store.record_failure_now("blocked", &rule);
    }
    clock.advance(Duration::from_secs(120));
    store.sweep();
    assert_eq!(store.subjects_held(), 2, "quota used today, block in force");
    clock.advance(Duration::from_secs(3600));
    store.sweep();
    assert_eq!(store.subjects_held(), 0, "a new day, the block over");
}

#[test]
fn a_subject_whose_first_request_is_denied_leaves_nothing() {
    let store = MemoryStore::new(Arc::new(FakeClock::at_new_year()));
    let limits = [Limit::new(
        Scope::Key,
        Unit::Tokens,
        Window::MINUTE,
        50,
        "m",
    )];
    assert!(
        !decide(&store, "too-big", &limits),
        "100 tokens never fit 50"
    );
    assert_eq!(store.subjects_held(), 0);
    let spanning = [
        Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 50, "m"),
        Limit::new(Scope::Global, Unit::Requests, Window::MINUTE, 50, "m"),
    ];
    assert!(!decide(&store, "too-big", &spanning));
    assert_eq!(store.subjects_held(), 0);
    assert!(
        decide(&store, "unlimited", &[]),
        "no limits, nothing to deny"
    );
    assert_eq!(store.subjects_held(), 0);
}
