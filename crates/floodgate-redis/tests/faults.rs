//! Redis going away mid-use and coming back: calls fail within the timeout, the fallback
//! store answers per failure policy, and both return to Redis on their own.

mod support;

use floodgate_core::{
    Costs, Decision, FailurePolicy, LeaseId, Limit, Scope, SystemClock, Unit, Window,
};
use floodgate_redis::{FallbackStore, Health, RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, StoreError, Subjects};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::RedisServer;

const TIMEOUT: Duration = Duration::from_millis(300);

/// What a call may take beyond the timeout (scheduling on a loaded machine).
const SLACK: Duration = Duration::from_millis(250);

const SUBJECTS: Subjects<'static> = Subjects {
    key: "fault-key",
    account: "fault-account",
};

fn open_limit() -> Limit {
    Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 3, "open-model")
        .with_failure(FailurePolicy::FailOpen)
}

fn closed_limit() -> Limit {
    Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::MINUTE,
        3,
        "closed-model",
    )
    .with_failure(FailurePolicy::FailClosed)
}

/// One request against `limits`, timed.
async fn decide(store: &dyn Store, limits: &[Limit]) -> (Result<Decision, StoreError>, Duration) {
    let request = DecideRequest {
        subjects: SUBJECTS,
        limits,
        costs: &Costs::one_request(),
        lease: LeaseId(1),
        abuse: None,
    };
    let started = Instant::now();
    let result = store.decide(&request).await;
    (result, started.elapsed())
}

/// Retries `decide` until it answers, for at most `within`.
async fn until_answered(store: &dyn Store, limits: &[Limit], within: Duration) -> Decision {
    let deadline = Instant::now() + within;
    loop {
        match decide(store, limits).await.0 {
            Ok(decision) => return decision,
            Err(error) => assert!(Instant::now() < deadline, "still failing: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn calls_fail_within_the_timeout_and_the_store_reconnects_by_itself() {
    let mut server = RedisServer::start();
    let config = RedisConfig::single(server.url()).with_timeout(TIMEOUT);
    let store = RedisStore::connect(&config).await.unwrap();
    let limits = [open_limit()];
    assert!(decide(&store, &limits).await.0.unwrap().allowed());

    server.stop();
    for _ in 0..5 {
        let (result, took) = decide(&store, &limits).await;
        assert!(
            matches!(
                result,
                Err(StoreError::Unavailable(_) | StoreError::Timeout(_))
            ),
            "{result:?}"
        );
        assert!(took <= TIMEOUT + SLACK, "a dead Redis held a call {took:?}");
    }

    // The restarted server is empty (no scripts either): the store reconnects, reloads
    // its script on NOSCRIPT and counts afresh.
    server.restart();
    let decision = until_answered(&store, &limits, Duration::from_secs(5)).await;
    assert!(decision.allowed());
    assert_eq!(decision.dimensions[0].remaining, 2);
}

#[tokio::test]
async fn the_fallback_answers_per_policy_and_returns_to_redis_on_its_own() {
    let mut server = RedisServer::start();
    let config = RedisConfig::single(server.url()).with_timeout(TIMEOUT);
    let direct = RedisStore::connect(&config).await.unwrap();
    let store = FallbackStore::new(
        RedisStore::connect(&config).await.unwrap(),
        Arc::new(SystemClock),
    )
    .with_probe_interval(Duration::from_millis(200));
    let open = [open_limit()];
    let closed = [closed_limit()];
    assert!(decide(&store, &open).await.0.unwrap().allowed());
    assert!(decide(&store, &closed).await.0.unwrap().allowed());
    assert_eq!(store.health(), Health::Healthy);

    server.stop();
    // fail_open: every request is answered, by this instance's own counters, which
    // enforce the limit (3 per minute) on their own.
    let mut admitted = 0;
    for _ in 0..5 {
        let (result, took) = decide(&store, &open).await;
        assert!(took <= TIMEOUT + SLACK, "a request waited {took:?}");
        admitted += u32::from(result.expect("fail_open answers").allowed());
    }
    assert_eq!(admitted, 3, "the local fallback enforces the limit");
    assert!(matches!(store.health(), Health::Degraded { .. }));

    // fail_closed: refused with an error the gateway turns into a 503, at once.
    let (result, took) = decide(&store, &closed).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(took <= TIMEOUT + SLACK);
    // A request under both policies is refused too: one fail_closed limit decides.
    let both = [open_limit(), closed_limit()];
    assert!(decide(&store, &both).await.0.is_err());

    // Redis comes back: a probe finds it, and counting resumes there.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.health() != Health::Healthy {
        assert!(Instant::now() < deadline, "never went back to Redis");
        let _ = decide(&store, &open).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = until_answered(&direct, &[open_limit()], Duration::from_secs(5)).await;
    assert!(decide(&store, &closed).await.0.unwrap().allowed());
    let (after, _) = decide(&store, &open).await;
    assert_eq!(
        after.unwrap().dimensions[0].remaining,
        before.dimensions[0].remaining - 1,
        "decisions count on Redis again"
    );
}

#[tokio::test]
async fn a_cluster_primary_dying_fails_within_the_timeout_the_fallback_answers_and_both_return() {
    let mut cluster = support::RedisCluster::start();
    let config = RedisConfig::cluster(cluster.urls()).with_timeout(TIMEOUT);
    let direct = RedisStore::connect(&config).await.unwrap();
    let store = FallbackStore::new(
        RedisStore::connect(&config).await.unwrap(),
        Arc::new(SystemClock),
    );
    let open = [open_limit()];
    let closed = [closed_limit()];
    assert!(decide(&store, &open).await.0.unwrap().allowed());

    // Kill the primary that holds this account's counters.
    let holder = cluster
        .nodes
        .iter()
        .position(|n| n.cli(&["exists", "fg:{fault-account}:k:fault-key"]).trim() == "1")
        .expect("a primary holds the key");
    cluster.nodes[holder].stop_keeping(&["nodes.conf"]);

    let (result, took) = decide(&direct, &open).await;
    assert!(
        matches!(
            result,
            Err(StoreError::Unavailable(_) | StoreError::Timeout(_))
        ),
        "{result:?}"
    );
    assert!(
        took <= TIMEOUT + SLACK,
        "a dead primary held a call {took:?}"
    );
    let mut admitted = 0;
    for _ in 0..5 {
        let (result, took) = decide(&store, &open).await;
        assert!(took <= TIMEOUT + SLACK, "a request waited {took:?}");
        admitted += u32::from(result.expect("fail_open answers").allowed());
    }
    assert_eq!(admitted, 3, "the local fallback enforces the limit");
    assert!(matches!(
        decide(&store, &closed).await.0,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(store.health(), Health::Degraded { .. }));

    // The primary comes back as itself (its nodes.conf kept, its data lost): once the
    // cluster is whole again both stores decide on it without being told.
    cluster.nodes[holder].resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster
        .nodes
        .iter()
        .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
    {
        assert!(Instant::now() < deadline, "the cluster never became whole");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let decision = until_answered(&direct, &open, Duration::from_secs(15)).await;
    assert_eq!(
        decision.dimensions[0].remaining, 2,
        "counted afresh on the restarted primary"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.health() != Health::Healthy {
        assert!(
            Instant::now() < deadline,
            "the fallback never returned to Redis"
        );
        let _ = decide(&store, &open).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (result, took) = decide(&store, &open).await;
    assert!(took <= TIMEOUT + SLACK, "a request waited {took:?}");
    assert_eq!(
        result.unwrap().dimensions[0].remaining,
        0,
        "the third request on the restarted primary"
    );
    assert!(matches!(
        decide(&store, &closed).await.0,
        Ok(decision) if decision.allowed()
    ));
}

#[tokio::test]
async fn a_lazy_store_starts_while_redis_is_down_and_finds_it_later() {
    let port = support::free_port();
    let config = RedisConfig::single(format!("redis://127.0.0.1:{port}")).with_timeout(TIMEOUT);
    let store = FallbackStore::new(RedisStore::lazy(&config).unwrap(), Arc::new(SystemClock))
        .with_probe_interval(Duration::from_millis(200));
    let open = [open_limit()];
    let (result, took) = decide(&store, &open).await;
    assert!(result.expect("fail_open answers locally").allowed());
    assert!(took <= TIMEOUT + SLACK, "the first call waited {took:?}");
    assert!(matches!(store.health(), Health::Degraded { .. }));
    assert!(matches!(
        decide(&store, &[closed_limit()]).await.0,
        Err(StoreError::Unavailable(_))
    ));

    let _server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.health() != Health::Healthy {
        assert!(Instant::now() < deadline, "never connected");
        let _ = decide(&store, &open).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (result, _) = decide(&store, &open).await;
    assert!(
        result.unwrap().dimensions[0].remaining < 3,
        "counted on Redis"
    );
}
