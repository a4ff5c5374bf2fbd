//! AI-native units on the memory store, its clock fake: tokens reserved all or nothing
//! and settled, streams, request and async-job concurrency slots (scenarios in
//! `common/units.rs`, which the Redis store runs too).

mod common;

use common::units::{self, Time};
use common::{start_with, Harness};
use floodgate_mock::MockOptions;
use std::time::Duration;

async fn start(options: MockOptions) -> Harness {
    start_with(units::config("15m"), options).await
}

fn jobs_lasting(job: Duration) -> MockOptions {
    MockOptions {
        job_duration: job,
        ..MockOptions::default()
    }
}

#[tokio::test]
async fn parallel_reservations_admit_exactly_five() {
    let h = start(MockOptions::default()).await;
    units::parallel_reservations_admit_exactly_five(&h, Time::Fake).await;
}

#[tokio::test]
async fn a_stream_settles_from_its_usage_event() {
    let h = start(MockOptions::default()).await;
    units::a_stream_settles_from_its_usage_event(&h, Time::Fake).await;
}

#[tokio::test]
async fn a_cancelled_stream_releases_its_slot_and_settles() {
    let options = MockOptions {
        stream_interval: Duration::from_millis(50),
        ..MockOptions::default()
    };
    let h = start(options).await;
    units::a_cancelled_stream_releases_its_slot_and_settles(&h).await;
}

#[tokio::test]
async fn a_job_holds_its_slot_until_polled_done() {
    let job = Duration::from_millis(300);
    let h = start(jobs_lasting(job)).await;
    units::a_job_holds_its_slot_until_polled_done(&h, job).await;
}

#[tokio::test]
async fn an_unpolled_job_frees_its_slot_at_lease_expiry() {
    let h = start(jobs_lasting(Duration::from_secs(3600))).await;
    let ttl = Duration::from_secs(15 * 60);
    units::an_unpolled_job_frees_its_slot_at_lease_expiry(&h, Time::Fake, ttl).await;
}

#[tokio::test]
async fn a_concurrency_rejection_leaves_rpm_untouched() {
    let h = start(jobs_lasting(Duration::from_secs(3600))).await;
    units::a_concurrency_rejection_leaves_rpm_untouched(&h).await;
}

#[tokio::test]
async fn compute_units_follow_the_seeds_example() {
    let h = start(jobs_lasting(Duration::from_secs(3600))).await;
    units::compute_units_follow_the_seeds_example(&h).await;
}
