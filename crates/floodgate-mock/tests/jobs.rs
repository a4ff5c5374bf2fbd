//! Async video jobs over a real socket: submit, poll through each state to the end, both
//! poll forms, unknown tasks and failing jobs.

mod common;

use common::{json_of, start};
use floodgate_mock::MockOptions;
use serde_json::json;
use std::time::Duration;

/// Long enough that the first poll, right after submitting, lands in the queued quarter
/// even on a busy machine.
const JOB: Duration = Duration::from_secs(2);

fn options() -> MockOptions {
    MockOptions {
        job_duration: JOB,
        ..MockOptions::default()
    }
}

#[tokio::test]
async fn a_video_job_is_queued_then_running_then_succeeded() {
    let mock = start(options()).await;
    let submitted = mock
        .post_json(
            "/api/v1/txt2video",
            &json!({"prompt": "waves", "duration_seconds": 5}),
        )
        .await;
    assert_eq!(submitted.status(), 200);
    let task_id = json_of(submitted).await["task_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let poll_path = format!("/api/v1/tasks/{task_id}");
    let poll = || mock.get(&poll_path);
    let first = json_of(poll().await).await;
    assert_eq!(first["task_id"], task_id.as_str());
    assert_eq!(first["status"], "queued");
    assert!(first.get("videos").is_none());

    tokio::time::sleep(JOB / 2).await;
    assert_eq!(json_of(poll().await).await["status"], "running");

    tokio::time::sleep(JOB).await;
    let done = json_of(poll().await).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["progress_percent"], 100);
    assert!(done["videos"][0]["video_url"]
        .as_str()
        .unwrap()
        .contains(&task_id));
}

#[tokio::test]
async fn the_task_result_query_form_reports_the_same_job() {
    let mock = start(MockOptions {
        job_duration: Duration::ZERO,
        ..MockOptions::default()
    })
    .await;
    let submitted = mock
        .post_json("/v3/async/hunyuan-video-fast", &json!({}))
        .await;
    let task_id = json_of(submitted).await["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let polled = mock
        .get(&format!("/v3/async/task-result?task_id={task_id}"))
        .await;
    assert_eq!(polled.status(), 200);
    assert_eq!(json_of(polled).await["status"], "succeeded");
}

#[tokio::test]
async fn an_unknown_task_is_a_404_json_error() {
    let mock = start(options()).await;
    for path in ["/api/v1/tasks/nope", "/v3/async/task-result?task_id=nope"] {
        let response = mock.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = json_of(response).await;
        assert_eq!(body["error"]["code"], 404);
        assert!(body["error"]["message"].as_str().unwrap().contains("nope"));
    }
}

#[tokio::test]
async fn a_job_asked_to_fail_ends_failed() {
    let mock = start(MockOptions {
        job_duration: Duration::ZERO,
        ..MockOptions::default()
    })
    .await;
    let submitted = mock
        .client
        .post(mock.url("/api/v1/img2video"))
        .header("x-mock-job-outcome", "failed")
        .body("{}")
        .send()
        .await
        .unwrap();
    let task_id = json_of(submitted).await["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = json_of(mock.get(&format!("/api/v1/tasks/{task_id}")).await).await;
    assert_eq!(done["status"], "failed");
    assert!(done["error"]["message"].is_string());
}
