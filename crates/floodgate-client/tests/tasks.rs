//! Async jobs through a real gateway (provider-d's video API): submitted, polled until
//! final, each holding a queue slot throughout.

mod support;

use floodgate_client::{ApiRequest, Client, ClientError, JobQueue, TaskPoll};
use floodgate_mock::MockOptions;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{example, gateway_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_polled_until_final_two_at_a_time() {
    let options = MockOptions {
        job_duration: Duration::from_millis(400),
        ..MockOptions::default()
    };
    let servers = gateway_with(example("provider-d"), options).await;
    let client = Client::builder(&servers.base)
        .key("sk-demo")
        .build()
        .unwrap();
    let queue = JobQueue::new(client.clone(), 2);
    let mut poll = TaskPoll::new("/v1/tasks/{id}");
    poll.interval = Duration::from_millis(100);
    let submit = ApiRequest::post(
        "/v1/text-to-video",
        json!({"model": "ltx-2-fast", "prompt": "waves", "duration_seconds": 5, "resolution": "720p"}),
    );
    let start = Instant::now();
    let runs = (0..4).map(|_| queue.run_task(&submit, &poll));
    let outcomes = futures_util::future::join_all(runs).await;
    for outcome in outcomes {
        let outcome = outcome.unwrap();
        assert!(outcome.succeeded(), "{outcome:?}");
        assert!(outcome.body["videos"][0]["video_url"].is_string());
        assert!(outcome.polls >= 4);
    }
    // Two rounds of two tasks of 400 ms each.
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(client.stats().rate_limited, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_submission_is_a_task_error() {
    let servers = gateway_with(example("provider-d"), MockOptions::default()).await;
    let client = Client::builder(&servers.base)
        .key("sk-demo")
        .build()
        .unwrap();
    let queue = JobQueue::new(client, 1);
    let submit = ApiRequest::post("/v1/text-to-video", json!({"model": "no-such-model"}));
    match queue
        .run_task(&submit, &TaskPoll::new("/v1/tasks/{id}"))
        .await
    {
        Err(ClientError::Task { task, message }) => {
            assert_eq!(task, "-");
            assert!(message.contains("404"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
