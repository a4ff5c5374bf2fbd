//! On a real 3-primary Redis Cluster: a key's and its account's counters share a slot,
//! global limits are reserved in their own slot and refunded when the account refuses,
//! and separate store instances admit exactly the limit.

mod support;

use floodgate_core::{Costs, DenialReason, LeaseId, Limit, Scope, Unit, Window, NANOS_PER_SEC};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, Subjects};
use std::sync::{Arc, OnceLock};
use support::RedisCluster;

fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start)
}

async fn store() -> RedisStore {
    RedisStore::connect(&RedisConfig::cluster(cluster().urls()))
        .await
        .expect("the cluster answers")
}

fn slot_of(key: &str) -> u16 {
    cluster().nodes[0]
        .cli(&["cluster", "keyslot", key])
        .trim()
        .parse()
        .unwrap()
}

/// Units left on each limit, read without consuming.
async fn remaining(store: &RedisStore, subjects: Subjects<'_>, limits: &[Limit]) -> Vec<u64> {
    let seen = store.inspect(&subjects, limits).await.unwrap();
    seen.dimensions.iter().map(|d| d.remaining).collect()
}

#[tokio::test]
async fn a_key_and_its_account_share_one_slot_and_globals_have_their_own() {
    let key_hash = "fg:{acme}:k:key-1";
    let other_key_hash = "fg:{acme}:k:key-2";
    let account_hash = "fg:{acme}:a";
    assert_eq!(slot_of(key_hash), slot_of(account_hash));
    assert_eq!(slot_of(other_key_hash), slot_of(account_hash));
    assert_ne!(slot_of("fg:{g:model-a}"), slot_of(account_hash));

    // The store writes exactly those names: a decision leaves them behind.
    let store = store().await;
    let limits = [
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 5, "model-a"),
        Limit::new(
            Scope::Account,
            Unit::Requests,
            Window::MINUTE,
            50,
            "model-a",
        ),
    ];
    let request = DecideRequest {
        subjects: Subjects {
            key: "key-1",
            account: "acme",
        },
        limits: &limits,
        costs: &Costs::one_request(),
        lease: LeaseId(1),
        abuse: None,
    };
    assert!(store.decide(&request).await.unwrap().allowed());
    let node = cluster()
        .nodes
        .iter()
        .find(|n| n.cli(&["exists", account_hash]).trim() == "1")
        .expect("some primary holds the account's hash");
    assert_eq!(node.cli(&["exists", key_hash]).trim(), "1", "same primary");
}

#[tokio::test]
async fn a_global_reservation_is_refunded_when_the_account_refuses() {
    let store = store().await;
    let subjects = Subjects {
        key: "refund-key",
        account: "refund-account",
    };
    let ttl = 30 * NANOS_PER_SEC;
    let limits = [
        Limit::new(
            Scope::Global,
            Unit::Requests,
            Window::HOUR,
            100,
            "refund-model",
        ),
        Limit::new(
            Scope::Global,
            Unit::Images,
            Window::DAY,
            1_000,
            "refund-model",
        ),
        Limit::new(
            Scope::Global,
            Unit::ConcurrentJobs,
            Window::Concurrent { lease_ttl: ttl },
            10,
            "refund-model",
        ),
        Limit::new(Scope::Key, Unit::Requests, Window::HOUR, 2, "refund-model"),
    ];
    let costs = Costs::one_request().with(Unit::Images, 4);
    let decide = |lease| DecideRequest {
        subjects,
        limits: &limits,
        costs: &costs,
        lease: LeaseId(lease),
        abuse: None,
    };
    assert!(store.decide(&decide(1)).await.unwrap().allowed());
    assert!(store.decide(&decide(2)).await.unwrap().allowed());
    assert_eq!(
        remaining(&store, subjects, &limits).await,
        vec![98, 992, 8, 0]
    );

    // The global part fits and is reserved first; the key's limit then refuses, and
    // every global counter gets back exactly what was taken.
    for lease in 3..6 {
        let d = store.decide(&decide(lease)).await.unwrap();
        assert_eq!(d.denial.map(|x| x.reason), Some(DenialReason::Limit(3)));
        assert_eq!(
            d.dimensions.iter().map(|s| s.remaining).collect::<Vec<_>>(),
            vec![98, 992, 8, 0],
            "the denial reports the refunded counters"
        );
        assert_eq!(
            remaining(&store, subjects, &limits).await,
            vec![98, 992, 8, 0]
        );
    }
    assert!(
        !store
            .release_lease(&subjects, &limits, LeaseId(3))
            .await
            .unwrap(),
        "the refused request holds no slot"
    );
    assert!(store
        .release_lease(&subjects, &limits, LeaseId(1))
        .await
        .unwrap());
    assert_eq!(
        remaining(&store, subjects, &limits).await,
        vec![98, 992, 9, 0]
    );
}

#[tokio::test]
async fn a_refusing_global_limit_leaves_the_account_untouched() {
    let store = store().await;
    let subjects = Subjects {
        key: "global-full-key",
        account: "global-full-account",
    };
    let limits = [
        Limit::new(Scope::Key, Unit::Requests, Window::HOUR, 50, "full-model"),
        Limit::new(
            Scope::Global,
            Unit::Requests,
            Window::MINUTE,
            3,
            "full-model",
        ),
        Limit::new(
            Scope::Account,
            Unit::Tokens,
            Window::HOUR,
            1_000,
            "full-model",
        ),
    ];
    let costs = Costs::one_request().with(Unit::Tokens, 100);
    let request = DecideRequest {
        subjects,
        limits: &limits,
        costs: &costs,
        lease: LeaseId(1),
        abuse: None,
    };
    for _ in 0..3 {
        assert!(store.decide(&request).await.unwrap().allowed());
    }
    let d = store.decide(&request).await.unwrap();
    let denial = d.denial.expect("global capacity is spent");
    assert_eq!(denial.reason, DenialReason::Limit(1));
    let wait = denial.retry_after.expect("capacity refills");
    assert!(wait > 19 * NANOS_PER_SEC && wait <= 20 * NANOS_PER_SEC);
    assert_eq!(remaining(&store, subjects, &limits).await, vec![47, 0, 700]);
}

/// 160 concurrent decisions from 4 store instances over 10 accounts of `per_account`
/// per hour under one global limit of 50 per hour (a unit refills every 72 s, so counts
/// read back stay exact); returns how many each account
/// got admitted, and the global limit's remaining units afterwards.
async fn contend(bucket: &str, per_account: u64) -> (Vec<u64>, u64) {
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(store().await));
    }
    let limits = Arc::new(vec![
        Limit::new(
            Scope::Account,
            Unit::Requests,
            Window::HOUR,
            per_account,
            bucket,
        ),
        Limit::new(Scope::Global, Unit::Requests, Window::HOUR, 50, bucket),
    ]);
    let mut tasks = Vec::new();
    for i in 0..160u64 {
        let store = Arc::clone(&stores[(i % 4) as usize]);
        let limits = Arc::clone(&limits);
        let account = format!("{bucket}-account-{}", i % 10);
        tasks.push(tokio::spawn(async move {
            let request = DecideRequest {
                subjects: Subjects {
                    key: "k",
                    account: &account,
                },
                limits: &limits,
                costs: &Costs::one_request(),
                lease: LeaseId(i),
                abuse: None,
            };
            (i % 10, store.decide(&request).await.unwrap().allowed())
        }));
    }
    let mut per = vec![0; 10];
    for task in tasks {
        let (account, allowed) = task.await.unwrap();
        per[account as usize] += u64::from(allowed);
    }
    let global = store()
        .await
        .inspect(
            &Subjects {
                key: "k",
                account: "any",
            },
            &limits[1..],
        )
        .await
        .unwrap()
        .dimensions[0]
        .remaining;
    (per, global)
}

#[tokio::test]
async fn separate_instances_admit_exactly_the_global_limit() {
    let (per, global_left) = contend("exact-model", 100).await;
    assert_eq!(
        per.iter().sum::<u64>(),
        50,
        "exactly the global limit: {per:?}"
    );
    assert_eq!(global_left, 0);
}

#[tokio::test]
async fn refunds_under_contention_never_over_admit_nor_leak() {
    // Ten accounts of 3 allow 30, under a global 50: most of the 160 requests reserve
    // global capacity, are then refused by their account and refunded, while other
    // decisions run.
    let (per, global_left) = contend("contended-model", 3).await;
    let admitted: u64 = per.iter().sum();
    assert!(
        per.iter().all(|&n| n <= 3),
        "no account over its limit: {per:?}"
    );
    assert!(
        admitted >= 20,
        "refunds only briefly hold capacity: {per:?}"
    );
    assert_eq!(
        global_left,
        50 - admitted,
        "the global counter holds exactly the admitted requests: {per:?}"
    );
}
