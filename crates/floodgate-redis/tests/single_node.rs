//! On one redis-server: a decision is exactly one command, every key carries a TTL and
//! vanishes when idle, and separate store instances share counters exactly.

mod support;

use floodgate_core::{AbuseRule, Costs, LeaseId, Limit, Scope, Unit, Window, NANOS_PER_SEC};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, Subjects};
use std::sync::Arc;
use std::time::Duration;
use support::RedisServer;

const SUBJECTS: Subjects<'static> = Subjects {
    key: "key-1",
    account: "acct-1",
};

fn text_limits() -> Vec<Limit> {
    vec![
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m1"),
        Limit::new(Scope::Account, Unit::Tokens, Window::MINUTE, 10_000, "m1"),
        Limit::new(Scope::Key, Unit::Requests, Window::DAY, 100, "m1"),
        Limit::new(Scope::Global, Unit::Requests, Window::MINUTE, 1_000, "m1"),
        Limit::new(
            Scope::Key,
            Unit::ConcurrentJobs,
            Window::Concurrent {
                lease_ttl: 30 * NANOS_PER_SEC,
            },
            4,
            "m1",
        ),
    ]
}

fn costs() -> Costs {
    Costs::one_request().with(Unit::Tokens, 500)
}

async fn decide(store: &RedisStore, limits: &[Limit], lease: u64) -> bool {
    let rule = AbuseRule {
        max_failures: 20,
        window: 30 * NANOS_PER_SEC,
        block: 30 * NANOS_PER_SEC,
    };
    let request = DecideRequest {
        subjects: SUBJECTS,
        limits,
        costs: &costs(),
        lease: LeaseId(lease),
        abuse: Some(&rule),
    };
    store
        .decide(&request)
        .await
        .expect("redis answers")
        .allowed()
}

#[tokio::test]
async fn a_decision_is_exactly_one_evalsha() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .unwrap();
    let limits = text_limits();
    assert!(decide(&store, &limits, 1).await, "warm-up");

    // MONITOR shows every command, those a script issues marked `[0 lua]`.
    let monitor = server.monitor();
    assert!(decide(&store, &limits, 2).await);
    let seen = monitor.finish();
    let from_clients: Vec<&String> = seen.iter().filter(|l| !l.contains(" lua]")).collect();
    assert_eq!(
        from_clients.len(),
        1,
        "one command for a five-dimension decision with abuse protection: {from_clients:?}"
    );
    assert!(from_clients[0].contains("\"EVALSHA\""), "{from_clients:?}");
    assert!(
        seen.iter().any(|l| l.contains(" lua] \"TIME\"")),
        "the script reads the server's clock"
    );
}

#[tokio::test]
async fn every_key_expires_and_idle_state_vanishes() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .unwrap();
    let limits = text_limits();
    assert!(decide(&store, &limits, 1).await);
    let rule = AbuseRule {
        max_failures: 5,
        window: 10 * NANOS_PER_SEC,
        block: 10 * NANOS_PER_SEC,
    };
    store.record_failure(SUBJECTS.key, &rule).await.unwrap();

    let keys: Vec<String> = server
        .cli(&["--scan", "--pattern", "fg:*"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        keys.len(),
        4,
        "key, account, global and abuse hashes: {keys:?}"
    );
    for key in &keys {
        let ttl: i64 = server.cli(&["pttl", key]).trim().parse().unwrap();
        // The daily quota keeps the key's hash until midnight; nothing lives past a day.
        assert!(ttl > 0 && ttl <= 86_401_000, "{key} has TTL {ttl} ms");
    }
    let global_ttl: i64 = server.cli(&["pttl", "fg:{g:m1}"]).trim().parse().unwrap();
    assert!(
        global_ttl <= 60_000 / 1_000 + 2_000,
        "one request of 1,000/min holds the global counter 60 ms (+2 s margin), not {global_ttl} ms"
    );

    // A counter of a 1-second window is gone, key and all, soon after it refills.
    let short = [Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::SECOND,
        10,
        "m2",
    )];
    let other = Subjects {
        key: "key-2",
        account: "acct-2",
    };
    let request = DecideRequest {
        subjects: other,
        limits: &short,
        costs: &Costs::one_request(),
        lease: LeaseId(1),
        abuse: None,
    };
    assert!(store.decide(&request).await.unwrap().allowed());
    assert_eq!(server.cli(&["exists", "fg:{acct-2}:k:key-2"]).trim(), "1");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(
        server.cli(&["exists", "fg:{acct-2}:k:key-2"]).trim(),
        "0",
        "idle state expired on its own"
    );
}

#[tokio::test]
async fn separate_store_instances_admit_exactly_the_limit() {
    let server = RedisServer::start();
    let config = RedisConfig::single(server.url());
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(RedisStore::connect(&config).await.unwrap()));
    }
    let limits = Arc::new(vec![
        Limit::new(Scope::Key, Unit::Requests, Window::HOUR, 37, "m1"),
        Limit::new(
            Scope::Account,
            Unit::Tokens,
            Window::MINUTE,
            1_000_000,
            "m1",
        ),
        Limit::new(Scope::Key, Unit::Requests, Window::DAY, 1_000, "m1"),
    ]);
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let store = Arc::clone(&stores[(i % 4) as usize]);
        let limits = Arc::clone(&limits);
        tasks.push(tokio::spawn(async move {
            let request = DecideRequest {
                subjects: SUBJECTS,
                limits: &limits,
                costs: &costs(),
                lease: LeaseId(i),
                abuse: None,
            };
            store.decide(&request).await.unwrap().allowed()
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        admitted += u32::from(task.await.unwrap());
    }
    assert_eq!(
        admitted, 37,
        "exactly the per-minute limit across 4 instances"
    );
}

/// Settles `delta` on `limit` and reads where it stands.
async fn charge(
    store: &RedisStore,
    subjects: Subjects<'_>,
    limit: &Limit,
    delta: i64,
) -> floodgate_core::DimensionStatus {
    let adjustments = [floodgate_store::Adjustment { limit, delta }];
    let request = floodgate_store::SettleRequest {
        subjects,
        adjustments: &adjustments,
        reserved_at: 0,
    };
    store.settle(&request).await.unwrap();
    store
        .inspect(&subjects, std::slice::from_ref(limit))
        .await
        .unwrap()
        .dimensions[0]
}

#[tokio::test]
async fn extreme_amounts_are_capped_not_corrupted() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .unwrap();
    let subjects = Subjects {
        key: "key-huge",
        account: "acct-huge",
    };
    let limit = Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 1_000, "m1");
    // A charge of i64::MAX tokens is a debt capped at 2^53 ns, still readable.
    let status = charge(&store, subjects, &limit, i64::MAX).await;
    assert_eq!(status.remaining, 0);
    assert!(status.reset_after > 100 * 86_400 * NANOS_PER_SEC);
    assert!(status.reset_after <= 1 << 53);
    // And a refund as large gives everything back.
    let status = charge(&store, subjects, &limit, -i64::MAX).await;
    assert_eq!(status.remaining, 1_000);
}

#[tokio::test]
async fn a_key_with_many_limits_decides_as_the_memory_store_does() {
    // Twenty limits on one key's hash: more counters than the script's usual one or
    // two per hash, and too many for their definitions to travel as one number, so
    // they go as a list. A daily quota of 3 refuses the fourth request; the other
    // limits' remaining units must match the engine's throughout.
    let server = RedisServer::start();
    let redis = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .unwrap();
    let memory = floodgate_store::MemoryStore::new(Arc::new(floodgate_core::SystemClock));
    let slow = Window::Rolling {
        period: 30 * 86_400 * NANOS_PER_SEC,
    };
    let mut limits: Vec<Limit> = (0..19)
        .map(|i| Limit::new(Scope::Key, Unit::Requests, slow, 50 + i, "many"))
        .collect();
    limits.push(Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::DAY,
        3,
        "many",
    ));
    let costs = Costs::one_request();
    let subjects = Subjects {
        key: "many-key",
        account: "many-acct",
    };
    for step in 0..5 {
        let request = DecideRequest {
            subjects,
            limits: &limits,
            costs: &costs,
            lease: LeaseId(1),
            abuse: None,
        };
        let a = redis.decide(&request).await.unwrap();
        let b = memory.decide(&request).await.unwrap();
        assert_eq!(a.allowed(), step < 3, "step {step}");
        assert_eq!(
            a.denial.map(|d| d.reason),
            b.denial.map(|d| d.reason),
            "step {step}"
        );
        let remaining = |d: &floodgate_core::Decision| {
            d.dimensions.iter().map(|s| s.remaining).collect::<Vec<_>>()
        };
        assert_eq!(remaining(&a), remaining(&b), "step {step}");
    }
}
