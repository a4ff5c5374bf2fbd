//! AI-native units on Redis (a real `redis-server` per test, real time): the same
//! scenarios as on the memory store (`common/units.rs`), with a real short lease TTL for
//! the job whose client stops polling.

#[path = "../../floodgate-redis/tests/support/mod.rs"]
mod redis;

mod common;

use common::units::{self, Time};
use common::{serve_state, start_mock, Harness};
use floodgate_core::FakeClock;
use floodgate_gateway::GatewayState;
use floodgate_mock::MockOptions;
use floodgate_redis::{RedisConfig, RedisStore};
use redis::RedisServer;
use std::sync::Arc;
use std::time::Duration;

/// A gateway on a fresh Redis in front of a mock with `options`; the server lives as
/// long as the returned pair.
async fn start(lease_ttl: &str, options: MockOptions) -> (Harness, RedisServer) {
    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .expect("redis answers");
    let (mock, stop) = start_mock(options).await;
    let mut config = units::config(lease_ttl);
    config.server.upstream = Some(mock.clone());
    let state = GatewayState::with_store(config, Arc::new(store)).expect("upstream URL");
    // The clock is not the store's: Redis keeps its own time.
    let mut h = serve_state(Arc::new(state), FakeClock::new(0)).await;
    h.mock = mock;
    h.keep(stop);
    (h, server)
}

fn jobs_lasting(job: Duration) -> MockOptions {
    MockOptions {
        job_duration: job,
        ..MockOptions::default()
    }
}

#[tokio::test]
async fn parallel_reservations_admit_exactly_five() {
    let (h, _redis) = start("15m", MockOptions::default()).await;
    units::parallel_reservations_admit_exactly_five(&h, Time::Real).await;
}

#[tokio::test]
async fn a_stream_settles_from_its_usage_event() {
    let (h, _redis) = start("15m", MockOptions::default()).await;
    units::a_stream_settles_from_its_usage_event(&h, Time::Real).await;
}

#[tokio::test]
async fn a_cancelled_stream_releases_its_slot_and_settles() {
    let options = MockOptions {
        stream_interval: Duration::from_millis(50),
        ..MockOptions::default()
    };
    let (h, _redis) = start("15m", options).await;
    units::a_cancelled_stream_releases_its_slot_and_settles(&h).await;
}

#[tokio::test]
async fn a_job_holds_its_slot_until_polled_done() {
    let job = Duration::from_millis(300);
    let (h, _redis) = start("15m", jobs_lasting(job)).await;
    units::a_job_holds_its_slot_until_polled_done(&h, job).await;
}

#[tokio::test]
async fn an_unpolled_job_frees_its_slot_at_lease_expiry() {
    let (h, _redis) = start("1s", jobs_lasting(Duration::from_secs(3600))).await;
    let ttl = Duration::from_secs(1);
    units::an_unpolled_job_frees_its_slot_at_lease_expiry(&h, Time::Real, ttl).await;
}

#[tokio::test]
async fn a_concurrency_rejection_leaves_rpm_untouched() {
    let (h, _redis) = start("15m", jobs_lasting(Duration::from_secs(3600))).await;
    units::a_concurrency_rejection_leaves_rpm_untouched(&h).await;
}

#[tokio::test]
async fn compute_units_follow_the_seeds_example() {
    let (h, _redis) = start("15m", jobs_lasting(Duration::from_secs(3600))).await;
    units::compute_units_follow_the_seeds_example(&h).await;
}

/// Two gateways on one Redis in front of one mock: a job submitted through the first is
/// found, renewed and released by polls through the second.
#[tokio::test]
async fn a_job_submitted_through_one_instance_is_released_by_a_poll_through_another() {
    let job = Duration::from_millis(300);
    let (first, redis) = start("15m", jobs_lasting(job)).await;
    let store = RedisStore::connect(&RedisConfig::single(redis.url()))
        .await
        .expect("redis answers");
    let mut config = units::config("15m");
    config.server.upstream = Some(first.mock.clone());
    let state = GatewayState::with_store(config, Arc::new(store)).expect("upstream URL");
    let second = serve_state(Arc::new(state), FakeClock::new(0)).await;

    let (_, task) = units::submit(&first).await;
    let task = task.expect("admitted");
    assert_eq!(units::submit(&second).await.0, 200);
    assert_eq!(
        units::submit(&first).await.0,
        429,
        "two jobs across both instances"
    );
    assert_ne!(units::poll(&second, &task).await, "succeeded");
    assert_eq!(units::submit(&second).await.0, 429);
    tokio::time::sleep(job + Duration::from_millis(50)).await;
    assert_eq!(units::poll(&second, &task).await, "succeeded");
    assert_eq!(
        units::submit(&first).await.0,
        200,
        "the slot taken through the first instance was freed through the second"
    );
}

/// The commands clients sent while `run` ran (a MONITOR session; what scripts run
/// inside the server is tagged `lua` and left out), by name.
async fn client_commands<F: std::future::Future<Output = ()>>(
    server: &RedisServer,
    run: F,
) -> Vec<String> {
    let monitor = server.monitor();
    run.await;
    monitor
        .finish()
        .iter()
        .filter(|line| !line.contains(" lua]"))
        .filter_map(|line| line.split('"').nth(1).map(str::to_ascii_uppercase))
        .collect()
}

/// A token reservation is one Redis round trip (one EVALSHA deciding requests and
/// tokens together), and its settlement one more.
#[tokio::test]
async fn a_reservation_and_its_settlement_are_one_command_each() {
    use floodgate_core::{Costs, LeaseId, Limit, Scope, Unit, Window};
    use floodgate_store::{Adjustment, DecideRequest, SettleRequest, Store, Subjects};

    let server = RedisServer::start();
    let store = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .expect("redis answers");
    let limits = [
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 100, "chat"),
        Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 10_000, "chat"),
        Limit::new(Scope::Account, Unit::Tokens, Window::DAY, 100_000, "chat"),
    ];
    let costs = Costs::one_request().with(Unit::Tokens, 600);
    let subjects = Subjects {
        key: "k",
        account: "a",
    };
    let decide = DecideRequest {
        subjects,
        limits: &limits,
        costs: &costs,
        lease: LeaseId(1),
        abuse: None,
    };
    let refund = [
        Adjustment {
            limit: &limits[1],
            delta: -400,
        },
        Adjustment {
            limit: &limits[2],
            delta: -400,
        },
    ];
    // Once, so both scripts are loaded; then measured.
    let at = store.decide(&decide).await.expect("decides").at;
    let settle = |at| SettleRequest {
        subjects,
        adjustments: &refund,
        reserved_at: at,
    };
    store.settle(&settle(at)).await.expect("settles");

    let mut decision = None;
    let sent = client_commands(&server, async {
        decision = Some(store.decide(&decide).await.expect("decides"));
    })
    .await;
    assert_eq!(sent, ["EVALSHA"], "the reservation");
    let decision = decision.expect("decided");
    assert!(decision.allowed());
    let sent = client_commands(&server, async {
        store.settle(&settle(decision.at)).await.expect("settles");
    })
    .await;
    assert_eq!(sent, ["EVALSHA"], "the settlement");
}
