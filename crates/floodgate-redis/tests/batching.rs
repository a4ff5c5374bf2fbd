//! Concurrent decisions share batched script calls, on one server and per slot on a
//! cluster: each stays all-or-nothing and sees what the decisions before it consumed, a
//! stale one consumes nothing without disturbing the rest, and fewer calls than
//! decisions reach Redis.

mod support;

use floodgate_core::{Costs, Decision, LeaseId, Limit, Scope, Unit, Window, NANOS_PER_SEC};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, StoreError, Subjects};
use std::sync::Arc;
use support::{RedisCluster, RedisServer};

/// `EVALSHA` calls the server has run since its statistics were last reset.
fn evalsha_calls(server: &RedisServer) -> u64 {
    server
        .cli(&["info", "commandstats"])
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A fresh server and a store on it.
async fn single() -> (RedisServer, Arc<RedisStore>) {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .unwrap();
    (server, Arc::new(store))
}

/// Caller `i`'s decision for `key` of account `acct` (whose admin records stand at
/// generation 3): every third caller resolved its limits under generation 2, and is stale.
async fn decide_at_generation(
    store: &RedisStore,
    key: &str,
    limits: &[Limit],
    i: u64,
) -> (u64, Result<Decision, StoreError>) {
    let request = DecideRequest {
        subjects: Subjects {
            key,
            account: "acct",
        },
        limits,
        costs: &Costs::one_request(),
        lease: LeaseId(i),
        abuse: None,
    };
    let generation = if i.is_multiple_of(3) { 2 } else { 3 };
    (generation, store.decide_at(&request, generation).await)
}

fn key_name(i: usize) -> String {
    format!("key-{i}")
}

/// 400 concurrent decisions over 10 keys of `account`: every key may do 7 an hour, the
/// account 45 a day between them (70 > 45), with a concurrency slot per decision that
/// nothing releases. Returns how many each key got admitted.
async fn burst(store: &Arc<RedisStore>, account: &'static str) -> [u32; 10] {
    let limits = Arc::new(limits());
    let mut tasks = Vec::new();
    for i in 0..400usize {
        let (store, limits) = (Arc::clone(store), Arc::clone(&limits));
        tasks.push(tokio::spawn(async move {
            let key = key_name(i % 10);
            let request = DecideRequest {
                subjects: Subjects { key: &key, account },
                limits: &limits,
                costs: &Costs::one_request().with(Unit::ConcurrentJobs, 1),
                lease: LeaseId(i as u64),
                abuse: None,
            };
            (
                i % 10,
                store
                    .decide(&request)
                    .await
                    .expect("redis answers")
                    .allowed(),
            )
        }));
    }
    let mut per_key = [0u32; 10];
    for task in tasks {
        let (key, allowed) = task.await.unwrap();
        per_key[key] += u32::from(allowed);
    }
    per_key
}

fn limits() -> Vec<Limit> {
    vec![
        Limit::new(Scope::Key, Unit::Requests, Window::HOUR, 7, "m"),
        Limit::new(Scope::Account, Unit::Requests, Window::DAY, 45, "m"),
        Limit::new(
            Scope::Account,
            Unit::ConcurrentJobs,
            Window::Concurrent {
                lease_ttl: 60 * NANOS_PER_SEC,
            },
            1_000,
            "m",
        ),
    ]
}

/// Asserts the burst's outcome, and that every admitted decision holds exactly one slot.
async fn assert_exact(store: &RedisStore, account: &str, per_key: [u32; 10]) {
    assert_eq!(per_key.iter().sum::<u32>(), 45, "the account's daily quota");
    assert!(
        per_key.iter().all(|&n| n <= 7),
        "every key's hourly limit: {per_key:?}"
    );
    let inspection = store
        .inspect(
            &Subjects {
                key: &key_name(0),
                account,
            },
            &limits(),
        )
        .await
        .unwrap();
    assert_eq!(inspection.dimensions[1].remaining, 0);
    assert_eq!(inspection.dimensions[2].remaining, 1_000 - 45);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_decisions_share_calls_and_admit_exactly_the_limits() {
    let (server, store) = single().await;
    server.cli(&["config", "resetstat"]);
    let per_key = burst(&store, "acct").await;
    let calls = evalsha_calls(&server);
    assert!(
        calls < 400,
        "400 concurrent decisions went out as {calls} script calls: no batching"
    );
    assert_exact(&store, "acct", per_key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_each_slot_batches_its_own_decisions() {
    let cluster = RedisCluster::start();
    let store = Arc::new(
        RedisStore::connect(&RedisConfig::cluster(cluster.urls()))
            .await
            .unwrap(),
    );
    for node in &cluster.nodes {
        node.cli(&["config", "resetstat"]);
    }
    // Three accounts at once, whose slots may sit on different primaries.
    let (a, b, c) = tokio::join!(
        burst(&store, "acct-a"),
        burst(&store, "acct-b"),
        burst(&store, "acct-c")
    );
    let calls: u64 = cluster.nodes.iter().map(evalsha_calls).sum();
    assert!(
        calls < 1_200,
        "1,200 concurrent decisions went out as {calls} script calls: no batching"
    );
    assert_exact(&store, "acct-a", a).await;
    assert_exact(&store, "acct-b", b).await;
    assert_exact(&store, "acct-c", c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_decision_in_a_batch_takes_nothing_and_leaves_the_others_be() {
    let (server, store) = single().await;
    // The account's admin records stand at generation 3.
    server.cli(&["hset", "fg:{acct}:r", "g", "3"]);
    let limits = Arc::new(vec![Limit::new(
        Scope::Account,
        Unit::Requests,
        Window::HOUR,
        1_000,
        "m",
    )]);
    let mut tasks = Vec::new();
    for i in 0..300u64 {
        let (store, limits) = (Arc::clone(&store), Arc::clone(&limits));
        tasks.push(tokio::spawn(async move {
            let key = key_name(usize::try_from(i % 5).unwrap());
            decide_at_generation(&store, &key, &limits, i).await
        }));
    }
    let (mut stale, mut admitted) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (2, Err(StoreError::Stale)) => stale += 1,
            (3, Ok(decision)) if decision.allowed() => admitted += 1,
            (generation, other) => panic!("generation {generation}: {other:?}"),
        }
    }
    assert_eq!((stale, admitted), (100, 200));
    let inspection = store
        .inspect(
            &Subjects {
                key: "any",
                account: "acct",
            },
            &limits,
        )
        .await
        .unwrap();
    assert_eq!(
        inspection.dimensions[0].remaining,
        1_000 - 200,
        "only the current decisions consumed"
    );
}

/// Decisions whose limit codes are too many to travel packed in one number share calls
/// with decisions sent packed, stale ones among them: each is read as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_sent_packed_and_unpacked_share_a_call() {
    let (server, store) = single().await;
    server.cli(&["hset", "fg:{acct}:r", "g", "3"]);
    let quota = Limit::new(Scope::Account, Unit::Requests, Window::DAY, 60, "all");
    // twelve counters of their own, then the shared quota: 13 codes in base 4 x 14 or
    // more is past 2^53
    let mut wide: Vec<Limit> = (0..12)
        .map(|m| {
            Limit::new(
                Scope::Key,
                Unit::Requests,
                Window::HOUR,
                1_000,
                &format!("m{m}"),
            )
        })
        .collect();
    wide.push(quota.clone());
    let (wide, narrow) = (Arc::new(wide), Arc::new(vec![quota]));
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let limits = Arc::clone(if i % 2 == 0 { &wide } else { &narrow });
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let (generation, decided) = decide_at_generation(&store, "k", &limits, i).await;
            (i % 2 == 0, generation, decided)
        }));
    }
    let (mut stale, mut wide_admitted, mut admitted) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (_, 2, Err(StoreError::Stale)) => stale += 1,
            (is_wide, 3, Ok(decision)) => {
                if decision.allowed() {
                    admitted += 1;
                    wide_admitted += u64::from(is_wide);
                }
            }
            (_, generation, other) => panic!("generation {generation}: {other:?}"),
        }
    }
    assert_eq!(stale, 67);
    assert_eq!(admitted, 60, "the account's daily quota, exactly");
    let inspection = store
        .inspect(
            &Subjects {
                key: "k",
                account: "acct",
            },
            &wide,
        )
        .await
        .unwrap();
    for (m, dimension) in inspection.dimensions[..12].iter().enumerate() {
        assert_eq!(
            dimension.remaining,
            1_000 - wide_admitted,
            "counter m{m} holds exactly the wide decisions admitted"
        );
    }
    assert_eq!(inspection.dimensions[12].remaining, 0);
}
