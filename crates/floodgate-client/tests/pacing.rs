//! Pacing against a real gateway over real sockets: whole batches with no 429.

mod support;

use floodgate_client::{ApiRequest, Client, JobQueue, RetryPolicy};
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{example, gateway, one_route};

fn jobs(n: usize) -> Vec<ApiRequest> {
    (0..n)
        .map(|i| ApiRequest::post("/api/v1/txt2img", json!({"prompt": format!("job {i}")})))
        .collect()
}

/// Runs `requests` on `queue`; every result by index, checking each index comes once.
async fn run_all(queue: &JobQueue, requests: Vec<ApiRequest>) -> Vec<u16> {
    let n = requests.len();
    let mut statuses = vec![0u16; n];
    let mut results = queue.run_all(requests);
    while let Some((i, result)) = results.next().await {
        assert_eq!(statuses[i], 0, "index {i} twice");
        statuses[i] = result
            .unwrap_or_else(|e| panic!("job {i}: {e}"))
            .status
            .as_u16();
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_jobs_on_a_premium_key_meet_no_429() {
    let servers = gateway(example("provider-b")).await;
    let client = Client::builder(&servers.base)
        .key("sk-demo-premium")
        .build()
        .unwrap();
    let queue = JobQueue::new(client.clone(), 16);
    let statuses = run_all(&queue, jobs(200)).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let stats = client.stats();
    assert_eq!((stats.rate_limited, stats.sent, stats.retries), (0, 200, 0));
    assert_eq!(client.allowed_rate(), Some((300, Duration::from_secs(60))));
}

/// 10 a second: the burst of 10 goes at once, the other 40 at 10 a second.
const BINDING: &str = r#"[{ unit = "requests", window = "second", max = 10 }, { unit = "requests", window = "day", max = 10000 }]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_limit_paces_fifty_jobs_with_no_429() {
    let servers = gateway(one_route(BINDING, r#"["classic", "ietf"]"#)).await;
    let client = Client::builder(&servers.base)
        .key("sk-test")
        .build()
        .unwrap();
    let queue = JobQueue::new(client.clone(), 8);
    let start = Instant::now();
    let statuses = run_all(&queue, jobs(50)).await;
    let elapsed = start.elapsed();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(client.stats().rate_limited, 0);
    // 40 after the burst at 10 a second: 4 s, and not much more.
    assert!(elapsed >= Duration::from_millis(3_900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(5_500), "{elapsed:?}");
    assert_eq!(client.allowed_rate(), Some((10, Duration::from_secs(1))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pacing_the_same_jobs_meet_429s_and_retries_finish_them() {
    let servers = gateway(one_route(BINDING, r#"["classic", "ietf"]"#)).await;
    let client = Client::builder(&servers.base)
        .key("sk-test")
        .pacing(false)
        .retry(RetryPolicy {
            max_retries: 30,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
            max_wait: Duration::from_secs(10),
            seed: Some(1),
        })
        .build()
        .unwrap();
    let queue = JobQueue::new(client.clone(), 8);
    let statuses = run_all(&queue, jobs(30)).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let stats = client.stats();
    assert!(stats.rate_limited > 0, "{stats:?}");
    assert_eq!(stats.sent, 30 + stats.rate_limited);
    // Unpaced, the client still reads what it was allowed.
    assert_eq!(client.allowed_rate(), Some((10, Duration::from_secs(1))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_sharing_a_key_finish_inside_it() {
    let servers = gateway(one_route(BINDING, r#"["ietf"]"#)).await;
    let a = Client::builder(&servers.base)
        .key("sk-test")
        .build()
        .unwrap();
    let b = Client::builder(&servers.base)
        .key("sk-test")
        .build()
        .unwrap();
    let (qa, qb) = (JobQueue::new(a.clone(), 4), JobQueue::new(b.clone(), 4));
    let start = Instant::now();
    let (ra, rb) = tokio::join!(run_all(&qa, jobs(20)), run_all(&qb, jobs(20)));
    assert!(ra.iter().chain(&rb).all(|s| *s == 200));
    // 30 beyond the burst at 10 a second.
    assert!(start.elapsed() >= Duration::from_millis(2_900));
    // Each client learns of the other from the remaining its answers report, so neither
    // runs ahead of the limit for long; at the edge of the limit both may reach for the
    // same freed unit, and the loser's 429 is retried after its Retry-After.
    let seen = a.stats().rate_limited + b.stats().rate_limited;
    assert!(seen < 40, "{seen} 429s for 40 jobs");
}
