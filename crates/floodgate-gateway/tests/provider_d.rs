//! Provider-d (illustrative plans) end to end: compute units from a body formula,
//! concurrency slots held from a job's submission on, IETF and OpenAI-style headers.

mod common;

use common::{config_from, start};
use std::time::Duration;

const KEY: &str = "sk-demo";

/// provider-d with the demo account on the starter plan (2 concurrent jobs, 300 compute
/// units a minute).
fn starter() -> floodgate_config::Config {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/provider-d.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.replace(
        "[accounts.demo]\ntier = \"pro\"",
        "[accounts.demo]\ntier = \"starter\"",
    );
    assert!(text.contains("tier = \"starter\""));
    config_from(&text)
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

#[tokio::test]
async fn ietf_headers_describe_every_dimension() {
    let h = start(starter()).await;
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(10, "720p"), &[])
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let policy = r.header("ratelimit-policy");
    assert!(policy.starts_with("\"minute\";q=10;w=60, "), "{policy}");
    assert!(
        policy.contains("\"compute_units-minute\";q=300;w=60"),
        "{policy}"
    );
    assert!(policy.contains("\"day\";q=200;w=86400"), "{policy}");
    let ratelimit = r.header("ratelimit");
    assert!(ratelimit.starts_with("\"minute\";r=9;t=6, "), "{ratelimit}");
    assert!(
        ratelimit.contains("\"compute_units-minute\";r=290;"),
        "{ratelimit}"
    );
    assert_eq!(r.header("x-ratelimit-limit-requests"), "10");
}

#[tokio::test]
async fn compute_units_follow_the_formula_and_trip_the_limit() {
    let h = start(starter()).await;
    // 30 s at 4k = 270 units of the 300 a minute.
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(30, "4k"), &[])
        .await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("ratelimit")
        .contains("\"compute_units-minute\";r=30;"));
    // 10 s at 1080p = 22.5, rounded up to 23: fits. 5 s at 1440p = 20 more: does not.
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(10, "1080p"), &[])
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(5, "1440p"), &[])
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_exceeded");
    // A body the formula cannot price is the client's error.
    let r = h
        .post(
            "/v1/text-to-video",
            Some(KEY),
            r#"{"model":"ltx-2-fast","resolution":"4k"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("duration_seconds"));
}

#[tokio::test]
async fn a_concurrency_slot_is_held_from_submission_on() {
    let h = std::sync::Arc::new(start(starter()).await);
    let slow = [("x-mock-delay-ms", "600")];
    let mut running = Vec::new();
    for _ in 0..2 {
        let h = std::sync::Arc::clone(&h);
        running.push(tokio::spawn(async move {
            h.post("/v1/text-to-video", Some(KEY), &video(1, "720p"), &slow)
                .await
                .status
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(1, "720p"), &[])
        .await;
    assert_eq!(r.status, 429, "both slots are taken");
    assert_eq!(r.header("retry-after"), "1");
    for job in running {
        assert_eq!(job.await.unwrap(), 200);
    }
    // The submissions answered, but their jobs run on: the slots stay with them until a
    // poll shows them done (tests/jobs.rs).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = h
        .post("/v1/text-to-video", Some(KEY), &video(1, "720p"), &[])
        .await;
    assert_eq!(r.status, 429, "the jobs hold their slots");
}

#[tokio::test]
async fn the_status_route_matches_a_wildcard_path() {
    let h = start(starter()).await;
    let r = h.get("/v1/tasks/abc", KEY).await;
    // The mock does not know the task, but the gateway routed and counted it.
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-ratelimit-limit-requests"), "60");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "59");
}
