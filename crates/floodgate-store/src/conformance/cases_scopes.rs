//! Cases on whose counters a decision uses: shadow limits, keys, accounts, and many
//! callers racing on one key.

use super::{cost, Case, Harness, HOUR};
use crate::request::{DecideRequest, Subjects};
use floodgate_core::{Costs, DenialReason, LeaseId, Scope, Unit, Window};

/// A shadowed limit never denies: a request over it is admitted and the limit is listed
/// in `shadow_denials`; it never becomes the reason of a real denial.
pub async fn shadow_limits_never_deny<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "shadow");
    let limits = [
        case.limit_in("shadow", Scope::Key, Unit::Requests, HOUR, 1)
            .shadowed(true),
        case.limit(Scope::Key, Unit::Requests, HOUR, 3),
    ];
    let first = case.decide(&limits, cost(Unit::Requests, 1)).await;
    assert!(first.allowed());
    assert!(
        first.shadow_denials.is_empty(),
        "the first request fits the shadow limit"
    );
    for left in [1, 0] {
        let d = case.decide(&limits, cost(Unit::Requests, 1)).await;
        assert!(d.allowed(), "a shadow limit never denies");
        assert_eq!(d.shadow_denials, vec![0]);
        assert_eq!(d.dimensions[0].remaining, 0);
        assert_eq!(d.dimensions[1].remaining, left, "the enforced limit counts");
    }
    let d = case.decide(&limits, cost(Unit::Requests, 1)).await;
    let denial = d.denial.expect("the enforced limit is spent");
    assert_eq!(denial.reason, DenialReason::Limit(1));
}

/// Two keys of different accounts: everything one key spends is invisible in the other's
/// numbers, and the other is still admitted.
pub async fn keys_never_see_each_others_usage<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "isolation");
    let (key_b, account_b) = (format!("{}-b", case.key), format!("{}-b", case.account));
    let b = Subjects {
        key: &key_b,
        account: &account_b,
    };
    let limits = [
        case.limit(Scope::Key, Unit::Requests, HOUR, 3),
        case.limit(Scope::Account, Unit::Tokens, Window::DAY, 100),
    ];
    let request = Costs::zero().with(Unit::Requests, 1).with(Unit::Tokens, 50);
    for _ in 0..2 {
        assert!(case.decide(&limits, request).await.allowed());
    }
    assert!(!case.decide(&limits, request).await.allowed());
    let seen = case.inspect_as(b, &limits).await;
    assert_eq!(super::remaining_of(&seen.dimensions), vec![3, 100]);
    let d = case.decide_as(b, &limits, request, LeaseId(0), None).await;
    assert!(d.allowed(), "key B is untouched by key A");
    assert_eq!(super::remaining_of(&d.dimensions), vec![2, 50]);
    assert_eq!(case.remaining(&limits).await, vec![1, 0], "and A by B");
}

/// Two keys of one account share its account-scoped counters and keep their own
/// key-scoped ones.
pub async fn account_limits_are_shared_by_its_keys<H: Harness + ?Sized>(h: &H) {
    let case = Case::new(h, "account-shared");
    let key_b = format!("{}-b", case.key);
    let b = Subjects {
        key: &key_b,
        account: &case.account,
    };
    let limits = [
        case.limit(Scope::Key, Unit::Requests, HOUR, 10),
        case.limit(Scope::Account, Unit::Requests, HOUR, 4),
    ];
    let one = cost(Unit::Requests, 1);
    for _ in 0..3 {
        assert!(case.decide(&limits, one).await.allowed());
    }
    let seen = case.inspect_as(b, &limits).await;
    assert_eq!(super::remaining_of(&seen.dimensions), vec![10, 1]);
    let d = case.decide_as(b, &limits, one, LeaseId(0), None).await;
    assert!(d.allowed());
    assert_eq!(super::remaining_of(&d.dimensions), vec![9, 0]);
    let d = case.decide(&limits, one).await;
    assert_eq!(
        d.denial.map(|x| x.reason),
        Some(DenialReason::Limit(1)),
        "key A is denied by the account B spent"
    );
    assert_eq!(super::remaining_of(&d.dimensions), vec![7, 0]);
}

/// Many tasks racing on one key, each decision spanning key, account and global scopes,
/// admit exactly the key's maximum, and the other scopes count exactly that many.
pub async fn concurrent_callers_admit_exactly_max<H: Harness + ?Sized>(h: &H) {
    const TASKS: usize = 16;
    const TRIES: usize = 25;
    let case = Case::new(h, "racing-callers");
    let limits = vec![
        case.limit(Scope::Key, Unit::Requests, HOUR, 100),
        case.limit(Scope::Account, Unit::Requests, HOUR, 1000),
        case.limit(Scope::Global, Unit::Requests, Window::DAY, 5000),
    ];
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = case.store.clone();
            let (key, account, limits) = (case.key.clone(), case.account.clone(), limits.clone());
            tokio::spawn(async move {
                let costs = cost(Unit::Requests, 1);
                let mut admitted = 0u64;
                for _ in 0..TRIES {
                    let request = DecideRequest {
                        subjects: Subjects {
                            key: &key,
                            account: &account,
                        },
                        limits: &limits,
                        costs: &costs,
                        lease: LeaseId(0),
                        abuse: None,
                    };
                    let d = store.decide(&request).await.expect("store answers");
                    admitted += u64::from(d.allowed());
                    tokio::task::yield_now().await;
                }
                admitted
            })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += task.await.expect("task ran");
    }
    assert_eq!(
        admitted, 100,
        "{TASKS} x {TRIES} attempts on a limit of 100"
    );
    assert_eq!(case.remaining(&limits).await, vec![0, 900, 4900]);
}
