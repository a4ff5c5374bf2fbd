//! Async jobs (seed 004, provider-d): a video submission's concurrency slot is held from
//! the submission until a poll of its task shows a final state, renewed by polls, and
//! freed by the lease's expiry when nobody polls any more; a rejection for concurrency
//! consumes no requests; compute units follow the seed's 4K-vs-720p example.

mod common;

use common::{config_from, start_with, Harness};
use floodgate_mock::MockOptions;
use serde_json::Value;
use std::time::{Duration, Instant};

const KEY: &str = "sk-demo";
const LIMITS: &str = "/api/v1/api_keys/rate_limits";

/// provider-d with the demo account on `tier` (starter: 2 concurrent jobs).
fn provider_d(tier: &str) -> floodgate_config::Config {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/provider-d.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.replace(
        "[accounts.demo]\ntier = \"pro\"",
        &format!("[accounts.demo]\ntier = \"{tier}\""),
    );
    config_from(&text)
}

async fn start(job: Duration) -> Harness {
    let options = MockOptions {
        job_duration: job,
        ..MockOptions::default()
    };
    start_with(provider_d("starter"), options).await
}

fn video(seconds: u64, resolution: &str) -> String {
    serde_json::json!({
        "model": "ltx-2-fast",
        "prompt": "waves",
        "duration_seconds": seconds,
        "resolution": resolution,
    })
    .to_string()
}

/// Submits a 1-second 720p video; its status and, if admitted, its task id.
async fn submit(h: &Harness, extra: &[(&str, &str)]) -> (u16, Option<String>) {
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(1, "720p"), extra)
        .await;
    let task = (r.status == 200).then(|| r.json()["task_id"].as_str().unwrap().to_owned());
    (r.status, task)
}

/// Polls `task`; its state.
async fn poll(h: &Harness, task: &str) -> String {
    let r = h.get(&format!("/v1/tasks/{task}"), KEY).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["status"].as_str().unwrap().to_owned()
}

/// The `rate_limits` dimension of ltx-2-fast counting `unit` over `window`.
async fn dimension(h: &Harness, unit: &str, window: &str) -> Value {
    let v = h.get(LIMITS, KEY).await.json();
    let model = v["data"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "ltx-2-fast")
        .unwrap()
        .clone();
    model["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["unit"] == unit && d["window"] == window)
        .unwrap_or_else(|| panic!("{unit}/{window} missing from {model}"))
        .clone()
}

#[tokio::test]
async fn a_job_holds_its_slot_until_a_poll_shows_it_done() {
    let h = start(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (status, first) = submit(&h, &[]).await;
    assert_eq!(status, 200);
    let first = first.unwrap();
    assert_eq!(submit(&h, &[]).await.0, 200);
    let jobs = dimension(&h, "concurrent_jobs", "concurrent").await;
    assert_eq!(jobs["used"], 2, "both jobs are in flight: {jobs}");
    assert_eq!(submit(&h, &[]).await.0, 429, "both slots are held by jobs");

    let state = poll(&h, &first).await;
    assert!(state == "queued" || state == "running", "{state}");
    assert_eq!(submit(&h, &[]).await.0, 429, "a poll in progress renews");

    tokio::time::sleep(Duration::from_millis(550).saturating_sub(started.elapsed())).await;
    assert_eq!(poll(&h, &first).await, "succeeded");
    assert_eq!(
        submit(&h, &[]).await.0,
        200,
        "the finished job's slot is free"
    );
    assert_eq!(submit(&h, &[]).await.0, 429);
}

#[tokio::test]
async fn a_failed_job_frees_its_slot_too() {
    let h = start(Duration::ZERO).await;
    let failing = [("x-mock-job-outcome", "failed")];
    let (_, a) = submit(&h, &failing).await;
    assert_eq!(submit(&h, &[]).await.0, 200);
    assert_eq!(submit(&h, &[]).await.0, 429);
    assert_eq!(poll(&h, &a.unwrap()).await, "failed");
    assert_eq!(submit(&h, &[]).await.0, 200, "a failed job is over too");
}

#[tokio::test]
async fn a_job_nobody_polls_frees_its_slot_when_its_lease_expires() {
    // The jobs never finish: only the 15-minute lease can free their slots.
    let h = start(Duration::from_secs(3600)).await;
    let (_, first) = submit(&h, &[]).await;
    assert_eq!(submit(&h, &[]).await.0, 200);
    h.advance_secs(14 * 60);
    assert_eq!(
        submit(&h, &[]).await.0,
        429,
        "both leases hold for 15 minutes"
    );
    assert_eq!(poll(&h, &first.unwrap()).await, "queued");
    h.advance_secs(2 * 60);
    assert_eq!(
        submit(&h, &[]).await.0,
        200,
        "the unpolled job's lease expired"
    );
    assert_eq!(
        submit(&h, &[]).await.0,
        429,
        "the polled job's lease was renewed at 14 minutes"
    );
}

#[tokio::test]
async fn a_concurrency_rejection_consumes_no_requests() {
    let h = start(Duration::from_secs(3600)).await;
    assert_eq!(submit(&h, &[]).await.0, 200);
    assert_eq!(submit(&h, &[]).await.0, 200);
    for _ in 0..5 {
        let r = h
            .post("/v1/text-to-video", Some(KEY), &video(1, "720p"), &[])
            .await;
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["error"]["type"], "rate_limit_exceeded");
    }
    let minute = dimension(&h, "requests", "minute").await;
    assert_eq!(
        (minute["used"].as_u64(), minute["limit"].as_u64()),
        (Some(2), Some(10))
    );
    let day = dimension(&h, "requests", "day").await;
    assert_eq!(day["used"], 2);
    let compute = dimension(&h, "compute_units", "minute").await;
    assert_eq!(compute["used"], 2, "1 s of 720p is 1 unit, twice");
}

#[tokio::test]
async fn compute_units_reproduce_the_seeds_4k_versus_720p_example() {
    let options = MockOptions {
        job_duration: Duration::ZERO,
        ..MockOptions::default()
    };
    let h = start_with(provider_d("pro"), options).await;
    // "A 30-second 4K video generation consumes more than a 5-second 720p generation":
    // 30 x 9 = 270 units against 5 x 1 = 5.
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(30, "4k"), &[])
        .await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("ratelimit")
        .contains("\"compute_units-minute\";r=1530;"));
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(5, "720p"), &[])
        .await;
    assert!(r
        .header("ratelimit")
        .contains("\"compute_units-minute\";r=1525;"));
    let month = dimension(&h, "compute_units", "month").await;
    assert_eq!(month["used"], 275);
    assert_eq!(month["scope"], "account");
}
