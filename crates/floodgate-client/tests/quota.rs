//! Quotas through a real gateway: a spent daily quota stops the work with a typed error
//! that says when it resets, and is never retried.

mod support;

use floodgate_client::{ApiRequest, Client, ClientError, JobQueue, RetryPolicy};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use support::{gateway, one_route};

const DAILY: &str = r#"[{ unit = "requests", window = "second", max = 100 }, { unit = "requests", window = "day", max = 5 }]"#;

fn jobs(n: usize) -> Vec<ApiRequest> {
    (0..n)
        .map(|i| ApiRequest::post("/api/v1/txt2img", json!({"prompt": i})))
        .collect()
}

/// Runs 8 jobs, 2 at a time: (successes, quota errors).
async fn run(client: &Client) -> (usize, Vec<floodgate_client::QuotaExhausted>) {
    let queue = JobQueue::new(client.clone(), 2);
    let mut ok = 0;
    let mut quota = Vec::new();
    let mut results = queue.run_all(jobs(8));
    while let Some((_, r)) = results.next().await {
        match r {
            Ok(r) => {
                assert_eq!(r.status.as_u16(), 200);
                ok += 1;
            }
            Err(ClientError::QuotaExhausted(q)) => quota.push(q),
            Err(e) => panic!("{e}"),
        }
    }
    (ok, quota)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_quota_is_a_typed_error_saying_when_it_resets() {
    let servers = gateway(one_route(DAILY, r#"["classic"]"#)).await;
    let client = Client::builder(&servers.base)
        .key("sk-test")
        .build()
        .unwrap();
    let (ok, quota) = run(&client).await;
    assert_eq!((ok, quota.len()), (5, 3));
    let q = &quota[0];
    assert_eq!(q.limit, "daily");
    let resets_in = q.resets_in.expect("Retry-After");
    assert!(resets_in > Duration::ZERO && resets_in <= Duration::from_secs(86_400));
    let message = ClientError::QuotaExhausted(q.clone()).to_string();
    assert!(
        message.starts_with("the daily quota is used up; it resets in "),
        "{message}"
    );
    // Never retried; and once a refusal has said when the day resets, the jobs after it
    // fail without asking: only those already in flight (2 at a time) met a 429.
    let stats = client.stats();
    assert!((1..=2).contains(&stats.rate_limited), "{stats:?}");
    assert_eq!(stats.retries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ietf_headers_a_spent_quota_fails_without_asking_again() {
    let servers = gateway(one_route(DAILY, r#"["ietf"]"#)).await;
    let client = Client::builder(&servers.base)
        .key("sk-test")
        .build()
        .unwrap();
    let (ok, quota) = run(&client).await;
    assert_eq!((ok, quota.len()), (5, 3));
    assert_eq!(quota[0].limit, "day");
    // The answer to the fifth said the day had nothing left and when it resets: at
    // most the requests already in flight then met a 429.
    let stats = client.stats();
    assert!(stats.rate_limited <= 1, "{stats:?}");
    assert_eq!(stats.retries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_beyond_max_wait_is_reported_not_waited() {
    let limits = r#"[{ unit = "requests", window = "minute", max = 1 }]"#;
    let servers = gateway(one_route(limits, r#"["classic"]"#)).await;
    let client = Client::builder(&servers.base)
        .key("sk-test")
        .pacing(false)
        .retry(RetryPolicy {
            max_wait: Duration::from_secs(5),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let job = &jobs(1)[0];
    assert_eq!(client.send(job).await.unwrap().status.as_u16(), 200);
    match client.send(job).await {
        Err(ClientError::QuotaExhausted(q)) => {
            assert_eq!(q.limit, "minute");
            assert!(q.resets_in.unwrap() > Duration::from_secs(55));
        }
        other => panic!("{other:?}"),
    }
}
