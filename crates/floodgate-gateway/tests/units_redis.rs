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
